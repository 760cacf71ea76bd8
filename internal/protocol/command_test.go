package protocol

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/streamhub/streamhub/internal/subject"
)

func TestDecodeCommandValid(t *testing.T) {
	cases := []struct {
		name string
		kv   []any
		want Command
	}{
		{"subscribe full", []any{"op", "subscribe", "id", 7, "subjects", []string{"ticks.>", "chain.eth.block"}, "policy", "keep-latest", "max_rate", 10, "snapshot", false},
			Command{Op: OpSubscribe, ID: 7, HasID: true, Subjects: []string{"ticks.>", "chain.eth.block"}, Policy: KeepLatest, MaxRate: 10}},
		{"subscribe minimal, no id", []any{"op", "subscribe", "subjects", []string{"chain.*.block"}},
			Command{Op: OpSubscribe, Subjects: []string{"chain.*.block"}}},
		{"max_rate implies keep-latest", []any{"op", "subscribe", "id", 1, "subjects", []string{"ticks.a.b"}, "max_rate", 2.5},
			Command{Op: OpSubscribe, ID: 1, HasID: true, Subjects: []string{"ticks.a.b"}, Policy: KeepLatest, MaxRate: 2.5}},
		{"drop-oldest without rate", []any{"op", "subscribe", "subjects", []string{"chain.>"}, "policy", "drop-oldest", "max_rate", 0},
			Command{Op: OpSubscribe, Subjects: []string{"chain.>"}, Policy: DropOldest}},
		{"disconnect, snapshot", []any{"op", "subscribe", "subjects", []string{"jobs.acme.*"}, "policy", "disconnect", "snapshot", true},
			Command{Op: OpSubscribe, Subjects: []string{"jobs.acme.*"}, Policy: Disconnect, Snapshot: true}},
		{"id zero is an id", []any{"op", "ping", "id", 0}, Command{Op: OpPing, HasID: true}},
		{"null id is no id", []any{"op", "ping", "id", nil}, Command{Op: OpPing}},
		{"large id", []any{"op", "ping", "id", uint64(math.MaxUint64)}, Command{Op: OpPing, ID: math.MaxUint64, HasID: true}},
		{"unknown keys ignored", []any{"future", map[string]any{"x": []any{1, "y"}}, "op", "unsubscribe", "id", 8, "subjects", []string{"ticks.>"}, "policy", "nonsense"},
			Command{Op: OpUnsubscribe, ID: 8, HasID: true, Subjects: []string{"ticks.>"}}},
		{"pong", []any{"op", "pong"}, Command{Op: OpPong}},
		{"auth", []any{"op", "auth", "id", 1, "token", "abc.def"}, Command{Op: OpAuth, ID: 1, HasID: true, Token: "abc.def"}},
		{"refresh", []any{"op", "refresh", "token", "t"}, Command{Op: OpRefresh, Token: "t"}},
		{"resume reserved", []any{"op", "resume", "id", 3, "resume", []map[string]any{{"subject": "chain.eth.block", "epoch": 5, "seq": 9, "x": 1}}},
			Command{Op: OpResume, ID: 3, HasID: true, Resume: []ResumePosition{{Subject: "chain.eth.block", Epoch: 5, Seq: 9}}}},
		{"sixteen subjects", []any{"op", "subscribe", "subjects", nSubjects(16)}, Command{Op: OpSubscribe, Subjects: nSubjects(16)}},
	}
	for _, tc := range cases {
		js, mp := object(t, tc.kv...)
		for _, enc := range encodings {
			t.Run(tc.name+"/"+enc.String(), func(t *testing.T) {
				got, err := DecodeCommand(enc, frameFor(enc, js, mp))
				if err != nil {
					t.Fatalf("DecodeCommand(%s) = %v", js, err)
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("DecodeCommand(%s)\n got %+v\nwant %+v", js, got, tc.want)
				}
			})
		}
	}
}

func nSubjects(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = "ticks.v" + strings.Repeat("x", i) + ".*"
	}
	return s
}

func TestDecodeCommandErrors(t *testing.T) {
	cases := []struct {
		name    string
		kv      []any
		code    ErrorCode
		id      uint64
		hasID   bool
		inMsg   string
		errorIs error
	}{
		{"unknown op", []any{"op", "subscribe_all", "id", 4}, CodeUnknownOp, 4, true, "subscribe_all", nil},
		{"missing op", []any{"id", 4}, CodeBadRequest, 4, true, "op", nil},
		{"mistyped op", []any{"op", 5, "id", 4}, CodeBadRequest, 4, true, "op", nil},
		{"mistyped id", []any{"op", "ping", "id", "7"}, CodeBadRequest, 0, false, "id", nil},
		{"negative id", []any{"op", "ping", "id", -1}, CodeBadRequest, 0, false, "id", nil},
		{"fractional id", []any{"op", "ping", "id", 1.5}, CodeBadRequest, 0, false, "id", nil},
		{"id kept when subjects mistyped", []any{"op", "subscribe", "subjects", "ticks.>", "id", 9}, CodeBadRequest, 9, true, "subjects", nil},
		{"id kept when a subject is a number", []any{"op", "subscribe", "subjects", []any{"a", 1}, "id", 9}, CodeBadRequest, 9, true, "subjects", nil},
		{"no subjects", []any{"op", "subscribe", "id", 2}, CodeBadRequest, 2, true, "subjects", nil},
		{"empty subjects", []any{"op", "unsubscribe", "subjects", []string{}}, CodeBadRequest, 0, false, "subjects", nil},
		{"17 subjects", []any{"op", "subscribe", "subjects", nSubjects(17)}, CodeBadRequest, 0, false, "subjects", nil},
		{"invalid subject named", []any{"op", "subscribe", "id", 7, "subjects", []string{"ticks.>", "chain..x"}}, CodeInvalidSubject, 7, true, `subjects[1] "chain..x"`, subject.ErrInvalid},
		{"wildcard inside token", []any{"op", "unsubscribe", "subjects", []string{"ti*ks"}}, CodeInvalidSubject, 0, false, "ti*ks", subject.ErrInvalid},
		{"unknown policy", []any{"op", "subscribe", "subjects", []string{"a"}, "policy", "newest"}, CodeInvalidOption, 0, false, "newest", nil},
		{"negative max_rate", []any{"op", "subscribe", "subjects", []string{"a"}, "max_rate", -1}, CodeInvalidOption, 0, false, "max_rate", nil},
		{"max_rate with drop-oldest", []any{"op", "subscribe", "subjects", []string{"a"}, "policy", "drop-oldest", "max_rate", 5}, CodeInvalidOption, 0, false, "drop-oldest", nil},
		{"max_rate with disconnect", []any{"op", "subscribe", "subjects", []string{"a"}, "policy", "disconnect", "max_rate", 5}, CodeInvalidOption, 0, false, "disconnect", nil},
		{"mistyped max_rate", []any{"op", "subscribe", "subjects", []string{"a"}, "max_rate", "5"}, CodeBadRequest, 0, false, "max_rate", nil},
		{"mistyped snapshot", []any{"op", "subscribe", "subjects", []string{"a"}, "snapshot", 1}, CodeBadRequest, 0, false, "snapshot", nil},
		{"auth without token", []any{"op", "auth", "id", 1}, CodeBadRequest, 1, true, "token", nil},
		{"resume invalid subject", []any{"op", "resume", "resume", []map[string]any{{"subject": "a..b"}}}, CodeInvalidSubject, 0, false, "resume[0]", subject.ErrInvalid},
		{"resume too many", []any{"op", "resume", "resume", make([]map[string]any, 17)}, CodeBadRequest, 0, false, "resume", nil},
	}
	for _, tc := range cases {
		js, mp := object(t, tc.kv...)
		for _, enc := range encodings {
			t.Run(tc.name+"/"+enc.String(), func(t *testing.T) {
				got, err := DecodeCommand(enc, frameFor(enc, js, mp))
				if err == nil {
					t.Fatalf("DecodeCommand(%s) = %+v, want error %s", js, got, tc.code)
				}
				if err.Code != tc.code || got.ID != tc.id || got.HasID != tc.hasID {
					t.Fatalf("DecodeCommand(%s) = id %d/%v, %v; want id %d/%v, code %s", js, got.ID, got.HasID, err, tc.id, tc.hasID, tc.code)
				}
				if !strings.Contains(err.Message, tc.inMsg) {
					t.Errorf("message %q does not mention %q", err.Message, tc.inMsg)
				}
				if tc.errorIs != nil && !errors.Is(err, tc.errorIs) {
					t.Errorf("error %v does not wrap %v", err, tc.errorIs)
				}
			})
		}
	}
}

// encoding/json would turn invalid UTF-8 into U+FFFD and the command
// would go through with a subject or token the client never sent.
func TestDecodeCommandJSONRefusesInvalidUTF8(t *testing.T) {
	for _, f := range []string{
		"{\"op\":\"subscribe\",\"id\":3,\"subjects\":[\"ticks.\xff\"]}",
		"{\"op\":\"subscribe\",\"id\":3,\"subjects\":[\"ticks.\xc3\"]}",
		"{\"op\":\"auth\",\"id\":3,\"token\":\"a\xed\xa0\x80b\"}", // a UTF-16 surrogate
	} {
		got, err := DecodeCommand(EncodingJSON, []byte(f))
		if err == nil || err.Code != CodeBadRequest || !strings.Contains(err.Message, "UTF-8") {
			t.Errorf("JSON %q: got %+v, %v; want bad_request naming UTF-8", f, got, err)
			continue
		}
		if !got.HasID || got.ID != 3 {
			t.Errorf("JSON %q: id not kept for the answer: %+v", f, got)
		}
	}
	// Valid UTF-8 beyond ASCII, raw or escaped, still decodes.
	for _, f := range []string{`{"op":"subscribe","subjects":["ticks.日本"]}`, `{"op":"subscribe","subjects":["ticks.\u00e9"]}`} {
		if _, err := DecodeCommand(EncodingJSON, []byte(f)); err != nil {
			t.Errorf("JSON %q: %v", f, err)
		}
	}
}

func TestDecodeCommandMalformed(t *testing.T) {
	jsonCases := []string{``, `   `, `{`, `{"op":"ping",}`, `[1,2]`, `"ping"`, `{"op":"ping"} {}`, `{"op":"ping"}x`, "\xff"}
	for _, f := range jsonCases {
		if _, err := DecodeCommand(EncodingJSON, []byte(f)); err == nil || err.Code != CodeBadRequest {
			t.Errorf("JSON %q: got %v, want bad_request", f, err)
		}
	}
	_, ping := object(t, "op", "ping", "id", 1)
	mpCases := map[string][]byte{
		"empty":          {},
		"array":          {0x92, 0x01, 0x02},
		"string":         {0xa4, 'p', 'i', 'n', 'g'},
		"trailing":       append(append([]byte{}, ping...), 0xc0),
		"truncated":      ping[:len(ping)-1],
		"reserved":       {0x81, 0xa2, 'o', 'p', 0xc1},
		"non-string key": {0x82, 0x01, 0x02, 0xa2, 'i', 'd', 0x05},
	}
	for name, f := range mpCases {
		got, err := DecodeCommand(EncodingMsgpack, f)
		if err == nil || err.Code != CodeBadRequest {
			t.Errorf("msgpack %s: got %v, want bad_request", name, err)
		}
		if name == "non-string key" && (!got.HasID || got.ID != 5) {
			t.Errorf("msgpack %s: id not recovered: %+v", name, got)
		}
	}
	// JSON null and msgpack nil carry no op.
	for _, enc := range encodings {
		f := frameFor(enc, []byte("null"), []byte{0xc0})
		if _, err := DecodeCommand(enc, f); err == nil || err.Code != CodeBadRequest {
			t.Errorf("%v null: got %v, want bad_request", enc, err)
		}
	}
	if _, err := DecodeCommand(NumEncodings, []byte(`{}`)); err == nil || err.Code != CodeInternal {
		t.Errorf("unknown encoding: got %v", err)
	}
}

func TestDecodeCommandMsgpackNonFiniteMaxRate(t *testing.T) {
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		_, mp := object(t, "op", "subscribe", "subjects", []string{"a"}, "max_rate", f)
		if _, err := DecodeCommand(EncodingMsgpack, mp); err == nil || err.Code != CodeInvalidOption {
			t.Errorf("max_rate %v: got %v, want invalid_option", f, err)
		}
	}
	// float32 and integer encodings of max_rate are accepted.
	for _, v := range []any{float32(2.5), int8(3), uint16(300)} {
		_, mp := object(t, "op", "subscribe", "subjects", []string{"a"}, "max_rate", v)
		c, err := DecodeCommand(EncodingMsgpack, mp)
		if err != nil || c.MaxRate <= 0 || c.Policy != KeepLatest {
			t.Errorf("max_rate %T(%v): got %+v, %v", v, v, c, err)
		}
	}
}

func TestDecodeCommandMsgpackStringSliceBoundBeforeAlloc(t *testing.T) {
	// 17 subjects are refused when the array header is read.
	_, mp := object(t, "op", "subscribe", "subjects", nSubjects(17), "id", 3)
	c, err := DecodeCommand(EncodingMsgpack, mp)
	if err == nil || err.Code != CodeBadRequest || !c.HasID || c.ID != 3 {
		t.Fatalf("got %+v, %v", c, err)
	}
}

func TestEncodeCommandRoundTrip(t *testing.T) {
	cmds := []Command{
		{Op: OpSubscribe, ID: 7, HasID: true, Subjects: []string{"ticks.>", "chain.eth.block"}, Policy: KeepLatest, MaxRate: 10},
		{Op: OpSubscribe, Subjects: []string{"chain.>"}, Policy: DropOldest, Snapshot: true},
		{Op: OpSubscribe, ID: 1, HasID: true, Subjects: []string{"jobs.*.*"}, Policy: Disconnect},
		{Op: OpSubscribe, Subjects: []string{"ticks.a.b"}, Policy: KeepLatest, MaxRate: 0.001},
		{Op: OpUnsubscribe, ID: 8, HasID: true, Subjects: []string{"ticks.>"}},
		{Op: OpPing, ID: 9, HasID: true},
		{Op: OpPing, HasID: true},
		{Op: OpPong},
		{Op: OpAuth, ID: 1, HasID: true, Token: "tok\"en\\\n"},
		{Op: OpRefresh, Token: "t2"},
		{Op: OpResume, ID: math.MaxUint64, HasID: true, Resume: []ResumePosition{{Subject: "chain.eth.block", Epoch: 1 << 40, Seq: 42}, {Subject: "jobs.a.b"}}},
	}
	for _, c := range cmds {
		for _, enc := range encodings {
			b, err := EncodeCommand(enc, c)
			if err != nil {
				t.Fatalf("EncodeCommand(%v, %+v): %v", enc, c, err)
			}
			got, derr := DecodeCommand(enc, b)
			if derr != nil {
				t.Fatalf("%v: DecodeCommand(EncodeCommand(%+v)) = %v (frame %q)", enc, c, derr, b)
			}
			if !reflect.DeepEqual(got, c) {
				t.Errorf("%v round trip\n got %+v\nwant %+v", enc, got, c)
			}
		}
	}
}

func TestEncodeCommandJSONShape(t *testing.T) {
	b, err := EncodeCommand(EncodingJSON, Command{Op: OpSubscribe, ID: 7, HasID: true,
		Subjects: []string{"ticks.>", "chain.eth.block"}, Policy: KeepLatest, MaxRate: 10})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"op":"subscribe","id":7,"subjects":["ticks.>","chain.eth.block"],"policy":"keep-latest","max_rate":10}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	b, _ = EncodeCommand(EncodingJSON, Command{Op: OpPong})
	if string(b) != `{"op":"pong"}` {
		t.Errorf("pong: %s", b)
	}
	// The msgpack form decodes with msgpack/v5 to the same keys and values.
	m, _ := EncodeCommand(EncodingMsgpack, Command{Op: OpSubscribe, ID: 7, HasID: true,
		Subjects: []string{"ticks.>", "chain.eth.block"}, Policy: KeepLatest, MaxRate: 10})
	js, _ := EncodeCommand(EncodingJSON, Command{Op: OpSubscribe, ID: 7, HasID: true,
		Subjects: []string{"ticks.>", "chain.eth.block"}, Policy: KeepLatest, MaxRate: 10})
	var fromMP map[string]any
	if err := msgpack.Unmarshal(m, &fromMP); err != nil {
		t.Fatal(err)
	}
	if a, b := normalize(t, fromMP), decodeAny(t, EncodingJSON, js); !deepEqual(a, b) {
		// max_rate is a float64 in msgpack, an integer literal in JSON.
		am, bm := a.(map[string]any), b.(map[string]any)
		if am["max_rate"] != 10.0 || bm["max_rate"] != int64(10) {
			t.Errorf("msgpack %v != json %v", a, b)
		}
		delete(am, "max_rate")
		delete(bm, "max_rate")
		if !deepEqual(am, bm) {
			t.Errorf("msgpack %v != json %v", a, b)
		}
	}
}

func TestEncodeCommandRejects(t *testing.T) {
	bad := []Command{{}, {Op: OpSubscribe, MaxRate: math.NaN()}, {Op: OpSubscribe, MaxRate: -1}, {Op: OpSubscribe, MaxRate: math.Inf(1)}}
	for _, c := range bad {
		if _, err := EncodeCommand(EncodingJSON, c); err == nil {
			t.Errorf("EncodeCommand(%+v) succeeded", c)
		}
	}
	if _, err := EncodeCommand(NumEncodings, Command{Op: OpPing}); err == nil {
		t.Error("unknown encoding accepted")
	}
}

func TestErrorType(t *testing.T) {
	e := Errorf(CodeForbidden, "subject %s", "x")
	if e.Error() != "protocol: forbidden: subject x" {
		t.Errorf("Error() = %q", e.Error())
	}
	if (&Error{Code: CodeInternal}).Error() != "protocol: internal" {
		t.Error("empty message")
	}
	cause := errors.New("boom")
	w := WrapError(CodeInternal, "ctx", cause)
	if w.Message != "ctx: boom" || !errors.Is(w, cause) {
		t.Errorf("WrapError = %+v", w)
	}
	if len(ErrorCodes()) != 16 {
		t.Errorf("ErrorCodes has %d codes, the spec 16", len(ErrorCodes()))
	}
	long := quoteShort(strings.Repeat("é", 100))
	if len(long) > 80 || !strings.HasSuffix(long, `"...`) {
		t.Errorf("quoteShort = %s", long)
	}
}

func TestReservedSubjectsAreRefused(t *testing.T) {
	for _, s := range []string{"$KV.streamhub_keys.>", "$JS.API.>", "$SYS.>", "_INBOX.>", "_INBOX"} {
		_, e := DecodeCommand(EncodingJSON, []byte(`{"op":"subscribe","subjects":["`+s+`"]}`))
		if e == nil || e.Code != CodeInvalidSubject {
			t.Errorf("subscribe %q: %v, want invalid_subject", s, e)
		}
	}
	for _, s := range []string{">", "ticks.$x", "_inbox.x", "_INBOXES.x"} {
		if ReservedSubject(s) {
			t.Errorf("%q is not reserved", s)
		}
	}
}

package protocol

import (
	"bytes"
	"math"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/streamhub/streamhub/internal/subject"
)

// seedCommands returns valid and invalid commands in one encoding.
func seedCommands(f *testing.F, enc Encoding) [][]byte {
	cmds := []Command{
		{Op: OpSubscribe, ID: 7, HasID: true, Subjects: []string{"ticks.>", "chain.eth.block"}, Policy: KeepLatest, MaxRate: 10},
		{Op: OpSubscribe, Subjects: []string{"chain.*.block"}, Policy: DropOldest, Snapshot: true},
		{Op: OpUnsubscribe, ID: 8, HasID: true, Subjects: []string{"ticks.>"}},
		{Op: OpPing, ID: 9, HasID: true},
		{Op: OpPong},
		{Op: OpAuth, ID: 1, HasID: true, Token: "x.y.z"},
		{Op: OpResume, Resume: []ResumePosition{{Subject: "chain.eth.block", Epoch: 1, Seq: 2}}},
		{Op: "bogus", Subjects: []string{"a..b"}, MaxRate: 1},
	}
	var out [][]byte
	for _, c := range cmds {
		b, err := EncodeCommand(enc, c)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// checkDecoded asserts the invariants of a successfully decoded command and
// that it survives an encode/decode round trip.
func checkDecoded(t *testing.T, enc Encoding, c Command) {
	switch c.Op {
	case OpSubscribe, OpUnsubscribe:
		if len(c.Subjects) < 1 || len(c.Subjects) > MaxSubjectsPerCommand {
			t.Fatalf("accepted %d subjects", len(c.Subjects))
		}
		for _, s := range c.Subjects {
			if err := subject.ValidatePattern(s); err != nil {
				t.Fatalf("accepted invalid subject %q", s)
			}
		}
	case OpPing, OpPong, OpAuth, OpRefresh, OpResume:
	default:
		t.Fatalf("accepted op %q", c.Op)
	}
	if math.IsNaN(c.MaxRate) || math.IsInf(c.MaxRate, 0) || c.MaxRate < 0 {
		t.Fatalf("accepted max_rate %v", c.MaxRate)
	}
	if c.MaxRate > 0 && c.Policy != KeepLatest {
		t.Fatalf("max_rate %v with policy %v", c.MaxRate, c.Policy)
	}
	b, err := EncodeCommand(enc, c)
	if err != nil {
		t.Fatalf("re-encode %+v: %v", c, err)
	}
	again, derr := DecodeCommand(enc, b)
	if derr != nil {
		t.Fatalf("re-decode of %+v: %v", c, derr)
	}
	if !reflect.DeepEqual(again, c) {
		t.Fatalf("round trip\n got %+v\nwant %+v", again, c)
	}
}

func FuzzDecodeCommandJSON(f *testing.F) {
	for _, b := range seedCommands(f, EncodingJSON) {
		f.Add(b)
	}
	for _, s := range []string{``, `null`, `{}`, `[]`, `{"op":"subscribe","subjects":["a.>"],"max_rate":1e308}`,
		`{"op":"ping","id":-0}`, `{"OP":"ping","Id":1}`, `{"op":"subscribe","subjects":["\u0000"]}`, `{"id":1,"op":5}`, "{\"op\":\"subscribe\",\"subjects\":[\"a.\xff\"]}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		c, err := DecodeCommand(EncodingJSON, frame)
		if err != nil {
			if err.Code == "" || err.Message == "" {
				t.Fatalf("error without code or message: %+v", err)
			}
			_ = EncodeCommandError(EncodingJSON, c, err)
			return
		}
		if !utf8.Valid(frame) {
			t.Fatalf("accepted a frame that is not valid UTF-8: %q", frame)
		}
		checkDecoded(t, EncodingJSON, c)
	})
}

func FuzzDecodeCommandMsgpack(f *testing.F) {
	for _, b := range seedCommands(f, EncodingMsgpack) {
		f.Add(b)
	}
	for _, b := range bombs() {
		if len(b) < 1024 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		c, err := DecodeCommand(EncodingMsgpack, frame)
		if err != nil {
			if err.Code == "" || err.Message == "" {
				t.Fatalf("error without code or message: %+v", err)
			}
			return
		}
		if CheckMsgpack(frame, CommandMaxDepth, CommandMaxItems) != nil {
			t.Fatal("decoded a frame the guard rejects")
		}
		checkDecoded(t, EncodingMsgpack, c)
	})
}

// FuzzCheckMsgpack checks that the guard never panics, that whatever it
// accepts DecodeCommand handles without panicking, and that it agrees with
// msgpack/v5 on what one well-formed object is.
func FuzzCheckMsgpack(f *testing.F) {
	for _, b := range seedCommands(f, EncodingMsgpack) {
		f.Add(b)
	}
	for _, b := range bombs() {
		if len(b) < 1024 {
			f.Add(b)
		}
	}
	f.Add([]byte{0xd8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := CheckMsgpack(b, CommandMaxDepth, CommandMaxItems); err == nil {
			_, _ = DecodeCommand(EncodingMsgpack, b)
		}
		_, _ = MsgpackToJSON(nil, b)
		// With limits that cannot bind (every object takes a byte), what the
		// guard accepts msgpack/v5 must skip as exactly one object. (The
		// converse is not fuzzed: msgpack/v5 allocates a declared length
		// before reading it, up to 4 GiB, which is the guard's point.)
		if CheckMsgpack(b, len(b)+1, len(b)+1) != nil {
			return
		}
		r := bytes.NewReader(b)
		if err := msgpack.NewDecoder(r).Skip(); err != nil || r.Len() != 0 {
			t.Fatalf("%x: guard accepts, msgpack/v5 Skip = %v with %d bytes left", b, err, r.Len())
		}
		if end, err := mpSkip(b, 0); err != nil || end != len(b) {
			t.Fatalf("%x: mpSkip = %d, %v", b, end, err)
		}
	})
}

// FuzzEncodeEvent checks the JSON-to-msgpack conversion of event data: any
// data EncodeEvent accepts gives a JSON and a msgpack frame that the
// reference decoders read as the same values.
func FuzzEncodeEvent(f *testing.F) {
	for _, s := range []string{`{"price":"97000.5","size":0.25}`, `[1,-2,3.5e-3,"\u00e9\ud83d\ude00",null,true,{}]`,
		`{"a":{"b":[18446744073709551615,-9223372036854775808,1e308]}}`, `"x"`, ` 0 `, `{"k":"\"\\\/\b\f\n\r\t"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, err := EncodeEvent(Event{Subject: "a.b", Data: data})
		if err != nil {
			return
		}
		j := decodeAny(t, EncodingJSON, frames[EncodingJSON])
		m := decodeAny(t, EncodingMsgpack, frames[EncodingMsgpack])
		if !reflect.DeepEqual(j, m) {
			t.Fatalf("data %q:\nJSON    %v\nmsgpack %v", data, j, m)
		}
	})
}

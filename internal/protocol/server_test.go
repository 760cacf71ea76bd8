package protocol

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

var testHello = Hello{
	Session: "s_8f3c", HeartbeatMS: 15000,
	Limits: Limits{MaxSubscriptions: 128, MaxFrameBytes: 4096, MaxQueueMessages: 4096, MaxQueueBytes: 1048576, MaxBatchMessages: 256, WriteTimeoutMS: 10000},
}

// TestServerMessagesJSONMatchSpec compares the JSON encoders' output with
// the examples of the protocol spec, byte for byte.
func TestServerMessagesJSONMatchSpec(t *testing.T) {
	j := EncodingJSON
	cases := map[string]struct{ got, want string }{
		"hello": {string(EncodeHello(j, testHello)),
			`{"op":"hello","version":1,"session":"s_8f3c","encoding":"json","heartbeat_ms":15000,"auth_required":false,"limits":{"max_subscriptions":128,"max_frame_bytes":4096,"max_queue_messages":4096,"max_queue_bytes":1048576,"max_batch_messages":256,"write_timeout_ms":10000}}`},
		"ok":          {string(EncodeOK(j, 7, true)), `{"op":"ok","id":7}`},
		"ok no id":    {string(EncodeOK(j, 0, false)), `{"op":"ok"}`},
		"error":       {string(EncodeError(j, 7, true, Errorf(CodeInvalidSubject, "subject: invalid subject: empty token at byte 6"))), `{"op":"error","id":7,"code":"invalid_subject","message":"subject: invalid subject: empty token at byte 6"}`},
		"error no id": {string(EncodeError(j, 0, false, Errorf(CodeBadRequest, `bad "json"`))), `{"op":"error","code":"bad_request","message":"bad \"json\""}`},
		"error nil":   {string(EncodeError(j, 3, true, nil)), `{"op":"error","id":3,"code":"internal","message":""}`},
		"ping":        {string(EncodePing(j, 1732712345678)), `{"op":"ping","ts":1732712345678}`},
		"pong":        {string(EncodePong(j, 9, true)), `{"op":"pong","id":9}`},
	}
	for name, c := range cases {
		if c.got != c.want {
			t.Errorf("%s\n got %s\nwant %s", name, c.got, c.want)
		}
	}
	h := testHello
	h.ResumeWindowMS = 30000
	h.AuthRequired = true
	got := string(EncodeHello(j, h))
	if !strings.Contains(got, `"auth_required":true,`) || !strings.HasSuffix(got, `"max_batch_messages":256,"write_timeout_ms":10000},"resume_window_ms":30000}`) {
		t.Errorf("hello with resume window: %s", got)
	}
}

// TestServerMessagesRoundTrip encodes every server message in both
// encodings and decodes it back.
func TestServerMessagesRoundTrip(t *testing.T) {
	h := testHello
	h.ResumeWindowMS = 30000
	for _, enc := range encodings {
		wantHello := h
		wantHello.Version, wantHello.Encoding = Version, enc.String()
		cases := []struct {
			name  string
			frame []byte
			want  ServerMessage
		}{
			{"hello", EncodeHello(enc, h), ServerMessage{Op: OpHello, Hello: wantHello}},
			{"hello no resume", EncodeHello(enc, testHello), ServerMessage{Op: OpHello,
				Hello: Hello{Version: 1, Session: "s_8f3c", Encoding: enc.String(), HeartbeatMS: 15000, Limits: testHello.Limits}}},
			{"ok", EncodeOK(enc, 7, true), ServerMessage{Op: OpOK, ID: 7, HasID: true}},
			{"ok id 0", EncodeOK(enc, 0, true), ServerMessage{Op: OpOK, HasID: true}},
			{"ok no id", EncodeOK(enc, 0, false), ServerMessage{Op: OpOK}},
			{"error", EncodeError(enc, 1<<62, true, Errorf(CodeForbidden, "subject %q not in scope", "chain.>")),
				ServerMessage{Op: OpError, ID: 1 << 62, HasID: true, Code: CodeForbidden, Message: `subject "chain.>" not in scope`}},
			{"command error", EncodeCommandError(enc, Command{ID: 4, HasID: true}, Errorf(CodeUnknownOp, "x")),
				ServerMessage{Op: OpError, ID: 4, HasID: true, Code: CodeUnknownOp, Message: "x"}},
			{"ping", EncodePing(enc, 1732712345678), ServerMessage{Op: OpPing, TS: 1732712345678}},
			{"pong", EncodePong(enc, 9, true), ServerMessage{Op: OpPong, ID: 9, HasID: true}},
			{"pong no id", EncodePong(enc, 0, false), ServerMessage{Op: OpPong}},
			{"empty batch", AppendBatch(nil, enc, -1, nil, nil), ServerMessage{Op: OpBatch, Sent: -1, Events: []EventFrame{}}},
		}
		for _, c := range cases {
			got, err := DecodeServer(enc, c.frame)
			if err != nil {
				t.Errorf("%v %s: %v", enc, c.name, err)
				continue
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%v %s:\n got %+v\nwant %+v", enc, c.name, got, c.want)
			}
		}
	}
}

func TestDecodeServerRejects(t *testing.T) {
	for _, enc := range encodings {
		for name, f := range map[string][]byte{
			"no op":     frameFor(enc, []byte(`{"id":1}`), []byte{0x81, 0xa2, 'i', 'd', 0x01}),
			"malformed": frameFor(enc, []byte(`{"op":`), []byte{0x81, 0xa2, 'o', 'p'}),
			"bomb":      frameFor(enc, []byte(`{"op":"ok"}x`), []byte{0xdd, 0xff, 0xff, 0xff, 0xff}),
		} {
			if _, err := DecodeServer(enc, f); err == nil {
				t.Errorf("%v %s: decoded", enc, name)
			}
		}
	}
	_, err := DecodeServer(EncodingMsgpack, []byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	if !errors.Is(err, ErrMsgpack) {
		t.Errorf("bomb error %v does not wrap ErrMsgpack", err)
	}
	if _, err := DecodeServer(NumEncodings, []byte(`{}`)); err == nil {
		t.Error("unknown encoding accepted")
	}
	// Unknown ops decode, for forward compatibility.
	m, err := DecodeServer(EncodingJSON, []byte(`{"op":"future","x":1}`))
	if err != nil || m.Op != "future" {
		t.Errorf("unknown op: %+v, %v", m, err)
	}
}

func TestEncodersPanicOnUnknownEncoding(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	EncodePing(NumEncodings, 0)
}

func TestEncodeNoticeRoundTrip(t *testing.T) {
	for _, enc := range []Encoding{EncodingJSON, EncodingMsgpack} {
		m, err := DecodeServer(enc, EncodeNotice(enc, NoticeTokenExpiring, "refresh \"now\"", 1732712345678))
		if err != nil {
			t.Fatal(err)
		}
		if m.Op != OpNotice || m.Code != NoticeTokenExpiring || m.Message != `refresh "now"` || m.TS != 1732712345678 {
			t.Fatalf("%v: %+v", enc, m)
		}
	}
}

func TestEncodeResumeAnswers(t *testing.T) {
	for _, enc := range []Encoding{EncodingJSON, EncodingMsgpack} {
		m, err := DecodeServer(enc, EncodeSubscribeOK(enc, 7, true, SubscribeResult{Resumed: true, Recovered: true}))
		if err != nil || m.Op != OpOK || m.ID != 7 || m.Recovered == nil || !*m.Recovered {
			t.Fatalf("%v ok: %+v %v", enc, m, err)
		}
		m, err = DecodeServer(enc, EncodeResumeError(enc, 8, true, Errorf(CodeInsufficientState, "gone")))
		if err != nil || m.Op != OpError || m.Code != CodeInsufficientState || m.Recovered == nil || *m.Recovered {
			t.Fatalf("%v error: %+v %v", enc, m, err)
		}
		m, _ = DecodeServer(enc, EncodeOK(enc, 9, true))
		if m.Recovered != nil {
			t.Fatalf("plain ok carries recovered")
		}
	}
	ev := Event{Subject: "jobs.a.b", Seq: 1, Data: []byte(`{}`), Snapshot: true}
	frames, err := EncodeEvent(ev)
	if err != nil {
		t.Fatal(err)
	}
	for enc, f := range frames {
		m, err := DecodeServer(Encoding(enc), AppendBatch(nil, Encoding(enc), 1, nil, [][]byte{frames[enc]}))
		if err != nil || len(m.Events) != 1 || !m.Events[0].Snapshot {
			t.Fatalf("%d: snapshot flag lost: %+v %v (%q)", enc, m, err, f)
		}
	}
}

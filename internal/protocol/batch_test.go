package protocol

import (
	"encoding/json"
	"fmt"
	"testing"
)

// testMessage is an event and its frames, as the hub publishes it.
type testMessage struct {
	Event
	Frames [NumEncodings][]byte
}

func testMessages(t testing.TB, n int) []*testMessage {
	t.Helper()
	ms := make([]*testMessage, n)
	for i := range ms {
		ev := Event{
			Subject: fmt.Sprintf("ticks.coinbase.S%d-USD", i%7), Epoch: 1732712000, Seq: uint64(100 + i),
			TS: 1732712345600 + int64(i), Ingest: 1732712345610 + int64(i), Critical: i%5 == 0,
			Data: []byte(fmt.Sprintf(`{"price":"%d.25","size":%d,"bid":97000.5,"ask":97001,"venue":"coinbase"}`, 97000+i, i)),
		}
		frames, err := EncodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		ms[i] = &testMessage{Event: ev, Frames: frames}
	}
	return ms
}

// eventsOf returns the frames of ms in encoding enc, nil for a nil message.
func eventsOf(enc Encoding, ms ...*testMessage) [][]byte {
	out := make([][]byte, len(ms))
	for i, m := range ms {
		if m != nil {
			out[i] = m.Frames[enc]
		}
	}
	return out
}

func TestAppendBatchJSONShape(t *testing.T) {
	ms := testMessages(t, 2)
	gaps := []Gap{{Subject: "chain.eth.transfer", Epoch: 1732712000, From: 41, To: 57}}
	got := string(AppendBatch([]byte("prefix:"), EncodingJSON, 1732712345678, gaps, eventsOf(EncodingJSON, ms...)))
	want := `prefix:{"op":"batch","sent":1732712345678,"gaps":[{"subject":"chain.eth.transfer","epoch":1732712000,"from":41,"to":57}],"events":[` +
		string(ms[0].Frames[0]) + "," + string(ms[1].Frames[0]) + `]}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	got = string(AppendBatch(nil, EncodingJSON, 5, nil, eventsOf(EncodingJSON, ms[:1]...)))
	if want := `{"op":"batch","sent":5,"events":[` + string(ms[0].Frames[0]) + `]}`; got != want {
		t.Errorf("no gaps: got %s", got)
	}
	got = string(AppendBatch(nil, EncodingJSON, 5, nil, nil))
	if got != `{"op":"batch","sent":5,"events":[]}` {
		t.Errorf("empty batch: got %s", got)
	}
}

func TestAppendBatchRoundTrip(t *testing.T) {
	ms := testMessages(t, 5)
	all := append(ms, &testMessage{Event: Event{Subject: "x.y"}}, nil) // no frames: skipped
	gaps := []Gap{
		{Subject: "chain.eth.transfer", Epoch: 7, From: 41, To: 57},
		// Subjects are validated upstream; the encoder must be safe anyway.
		{Subject: "we\"ird\\sub\x01ject\u2028\xff", Epoch: 1 << 60, From: 1, To: 1},
	}
	var decoded [NumEncodings]ServerMessage
	for _, enc := range encodings {
		events := eventsOf(enc, all...)
		frame := AppendBatch(nil, enc, 1732712345678, gaps, events)
		if enc == EncodingJSON && !json.Valid(frame) {
			t.Fatalf("invalid JSON: %s", frame)
		}
		if n := BatchSize(gaps, events); len(frame) > n {
			t.Errorf("%v: BatchSize %d < frame %d", enc, n, len(frame))
		}
		msg, err := DecodeServer(enc, frame)
		if err != nil {
			t.Fatalf("%v: DecodeServer: %v", enc, err)
		}
		if msg.Op != OpBatch || msg.Sent != 1732712345678 || len(msg.Gaps) != 2 || len(msg.Events) != 5 {
			t.Fatalf("%v: %+v", enc, msg)
		}
		if g := msg.Gaps[0]; g != (GapNotice{Subject: "chain.eth.transfer", Epoch: 7, From: 41, To: 57}) {
			t.Errorf("%v: gap %+v", enc, g)
		}
		for i, e := range msg.Events {
			m := ms[i]
			if e.Subject != m.Subject || e.Epoch != m.Epoch || e.Seq != m.Seq || e.Critical != m.Critical {
				t.Errorf("%v: event %d = %+v, message %+v", enc, i, e, m)
			}
		}
		decoded[enc] = msg
	}
	// JSON replaces what is not valid UTF-8; msgpack carries the bytes.
	if s := decoded[EncodingJSON].Gaps[1].Subject; s != "we\"ird\\sub\x01ject\u2028\ufffd" {
		t.Errorf("JSON gap subject %q", s)
	}
	if s := decoded[EncodingMsgpack].Gaps[1].Subject; s != gaps[1].Subject {
		t.Errorf("msgpack gap subject %q", s)
	}
	// The same events decode to the same values in both encodings.
	for i := range decoded[0].Events {
		j, m := decoded[EncodingJSON].Events[i], decoded[EncodingMsgpack].Events[i]
		jd, err := j.DataJSON(EncodingJSON)
		if err != nil {
			t.Fatal(err)
		}
		md, err := m.DataJSON(EncodingMsgpack)
		if err != nil {
			t.Fatal(err)
		}
		if !deepEqual(decodeAny(t, EncodingJSON, jd), decodeAny(t, EncodingJSON, md)) {
			t.Errorf("event %d data: JSON %s, msgpack %s", i, jd, md)
		}
		j.Data, m.Data = nil, nil
		if !deepEqual(j, m) {
			t.Errorf("event %d: JSON %+v, msgpack %+v", i, j, m)
		}
	}
}

func TestAppendBatchDoesNotAllocate(t *testing.T) {
	ms := testMessages(t, 64)
	gaps := []Gap{{Subject: "chain.eth.transfer", Epoch: 1, From: 2, To: 3}}
	for _, enc := range encodings {
		events := eventsOf(enc, ms...)
		buf := make([]byte, 0, BatchSize(gaps, events))
		allocs := testing.AllocsPerRun(100, func() {
			buf = AppendBatch(buf[:0], enc, 1732712345678, gaps, events)
		})
		if allocs != 0 {
			t.Errorf("%v: AppendBatch allocates %v times per call", enc, allocs)
		}
		if len(buf) == 0 {
			t.Fatal("empty frame")
		}
	}
}

func TestAppendBatchSplicesFramesUnchanged(t *testing.T) {
	// A frame's bytes appear verbatim: AppendBatch never re-encodes.
	frame := []byte(`{"subject":"a.b","epoch":1,"seq":2,"ts":3,"ingest":4,"data":{"k" : [1 , 2]}}`)
	got := AppendBatch(nil, EncodingJSON, 9, nil, [][]byte{frame})
	if want := `{"op":"batch","sent":9,"events":[` + string(frame) + `]}`; string(got) != want {
		t.Errorf("got %s", got)
	}
}

func TestAppendBatchPanicsOnUnknownEncoding(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	AppendBatch(nil, NumEncodings, 0, nil, nil)
}

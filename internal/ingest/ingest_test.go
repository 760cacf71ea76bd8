package ingest

import (
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/fanout"
)

type recorder struct {
	mu   sync.Mutex
	msgs []*fanout.Message
	pats []string
}

func (r *recorder) PublishPattern(p string, m *fanout.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pats = append(r.pats, p)
	r.msgs = append(r.msgs, m)
}

func msg(subject, data string, h map[string]string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Data = []byte(data)
	for k, v := range h {
		m.Header.Set(k, v)
	}
	return m
}

func TestHandleReadsHeadersAndNumbersTheRest(t *testing.T) {
	var r recorder
	now := time.UnixMilli(1_000_000)
	in := New(&r, Config{Epoch: 7, Now: func() time.Time { return now }})

	in.Handle("ticks.>", msg("ticks.a.X", `{"p":"1"}`, map[string]string{HeaderTS: "999", HeaderEpoch: "3", HeaderSeq: "41", HeaderCritical: "1"}))
	in.Handle("ticks.>", msg("ticks.a.Y", `{}`, nil))
	in.Handle("ticks.>", msg("ticks.a.Y", `{}`, nil))
	in.Handle("ticks.*.Y", msg("ticks.a.Y", `{}`, nil)) // another pattern: its own numbering
	in.Handle(">", msg("$KV.streamhub_keys.key.abc", `{"hash":"secret"}`, nil))
	in.Handle(">", msg("_INBOX.x", `{}`, nil))
	in.Handle("ticks.>", msg("ticks.a.Z", `not json`, nil))
	in.HandleStored("jobs.>", bus.StoredMsg{Subject: "jobs.acme.j1", Data: []byte(`{}`), Epoch: 5, Seq: 900,
		Header: nats.Header{HeaderSeq: []string{"1"}}})

	type pos struct {
		subject    string
		epoch, seq uint64
		critical   bool
		pattern    string
	}
	want := []pos{
		{"ticks.a.X", 3, 41, true, "ticks.>"},
		{"ticks.a.Y", 7, 1, false, "ticks.>"},
		{"ticks.a.Y", 7, 2, false, "ticks.>"},
		{"ticks.a.Y", 7, 1, false, "ticks.*.Y"},
		{"jobs.acme.j1", 5, 900, false, "jobs.>"}, // the stream positions stored messages, not Sh-Seq
	}
	if len(r.msgs) != len(want) {
		t.Fatalf("published %d messages, want %d", len(r.msgs), len(want))
	}
	for i, w := range want {
		m := r.msgs[i]
		if m.Subject != w.subject || m.Epoch != w.epoch || m.Seq != w.seq || m.Critical != w.critical || r.pats[i] != w.pattern {
			t.Errorf("message %d: %s %d/%d critical=%v via %s; want %+v", i, m.Subject, m.Epoch, m.Seq, m.Critical, r.pats[i], w)
		}
	}
	if in.Rejected() != 1 || in.Received() != 6 {
		t.Errorf("received %d, rejected %d; want 6 and 1 (NATS's own subjects are not counted)", in.Received(), in.Rejected())
	}
}

func TestSequenceCountersAreBounded(t *testing.T) {
	var r recorder
	in := New(&r, Config{Epoch: 1, MaxSequenced: 2})
	for _, s := range []string{"a.1", "a.2", "a.3", "a.1"} {
		in.Handle("a.*", msg(s, `{}`, nil))
	}
	// The third subject overflowed the counters: a new epoch starts, so a
	// client sees a restart rather than a wrong sequence.
	if m := r.msgs[2]; m.Epoch != 2 || m.Seq != 1 {
		t.Fatalf("after overflow: epoch %d seq %d", m.Epoch, m.Seq)
	}
	if m := r.msgs[3]; m.Epoch != 2 || m.Seq != 1 {
		t.Fatalf("a.1 in the new epoch: epoch %d seq %d", m.Epoch, m.Seq)
	}
}

// After NewEpoch, the hub's own numbering of every subject restarts at 1
// in a later epoch; the publisher's numbering is untouched.
func TestNewEpochRestartsTheHubsNumbering(t *testing.T) {
	var r recorder
	now := time.UnixMilli(5_000)
	in := New(&r, Config{Epoch: 4_000, Now: func() time.Time { return now }})
	in.Handle("ticks.>", msg("ticks.a.X", `{}`, nil))
	in.Handle("ticks.>", msg("ticks.a.X", `{}`, nil))
	if e := in.NewEpoch(); e != 5_000 {
		t.Fatalf("NewEpoch = %d, want the clock's 5000", e)
	}
	in.Handle("ticks.>", msg("ticks.a.X", `{}`, nil))
	in.Handle("ticks.>", msg("ticks.a.Y", `{"p":1}`, map[string]string{HeaderEpoch: "3", HeaderSeq: "9"}))
	if e := in.NewEpoch(); e != 5_001 { // the clock did not move: still a new epoch
		t.Fatalf("second NewEpoch = %d, want 5001", e)
	}
	in.Handle("ticks.>", msg("ticks.a.X", `{}`, nil))
	type pos struct{ epoch, seq uint64 }
	var got []pos
	for _, m := range r.msgs {
		got = append(got, pos{m.Epoch, m.Seq})
	}
	want := []pos{{4_000, 1}, {4_000, 2}, {5_000, 1}, {3, 9}, {5_001, 1}}
	if len(got) != len(want) {
		t.Fatalf("positions %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("positions %v, want %v", got, want)
		}
	}
}

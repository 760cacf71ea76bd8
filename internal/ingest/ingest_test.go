package ingest

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/fanout"
)

// recorder is the fan-out core's side: it wants every subject but those
// under "unwanted.", and records what is published.
type recorder struct {
	mu   sync.Mutex
	msgs []*fanout.Message
}

func (r *recorder) Interested(subject string) bool { return !strings.HasPrefix(subject, "unwanted.") }

func (r *recorder) Publish(m *fanout.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
}

// primary is how a message arrives outside any handover.
var primary = bus.Copy{Primary: true}

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

	in.Handle(msg("ticks.a.X", `{"p":"1"}`, map[string]string{HeaderTS: "999", HeaderEpoch: "3", HeaderSeq: "41", HeaderCritical: "1"}), primary)
	in.Handle(msg("ticks.a.Y", `{}`, nil), primary)
	in.Handle(msg("ticks.a.Y", `{}`, nil), primary)
	in.Handle(msg("unwanted.a.Y", `{}`, nil), primary) // nobody subscribed: not even decoded
	in.Handle(msg("$KV.streamhub_keys.key.abc", `{"hash":"secret"}`, nil), primary)
	in.Handle(msg("_INBOX.x", `{}`, nil), primary)
	in.Handle(msg("ticks.a.Z", `not json`, nil), primary)
	in.HandleStored(bus.StoredMsg{Subject: "jobs.acme.j1", Data: []byte(`{}`), Epoch: 5, Seq: 900,
		Header: nats.Header{HeaderSeq: []string{"1"}}})

	want := []pos{
		{"ticks.a.X", 3, 41, true},
		{"ticks.a.Y", 7, 1, false},
		{"ticks.a.Y", 7, 2, false},
		{"jobs.acme.j1", 5, 900, false}, // the stream positions stored messages, not Sh-Seq
	}
	checkPublished(t, &r, want...)
	if in.Rejected() != 1 || in.Received() != 5 {
		t.Errorf("received %d, rejected %d; want 5 and 1 (NATS's own subjects and unwanted ones are not counted)", in.Received(), in.Rejected())
	}
}

func TestSequenceCountersAreBounded(t *testing.T) {
	var r recorder
	in := New(&r, Config{Epoch: 1, MaxSequenced: 2})
	for _, s := range []string{"a.1", "a.2", "a.3", "a.1"} {
		in.Handle(msg(s, `{}`, nil), primary)
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

// pos is where a published message stands.
type pos struct {
	subject    string
	epoch, seq uint64
	critical   bool
}

// checkPublished checks that r holds exactly the messages want, in order.
func checkPublished(t *testing.T, r *recorder, want ...pos) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.msgs) != len(want) {
		t.Fatalf("published %d messages, want %d", len(r.msgs), len(want))
	}
	for i, w := range want {
		m := r.msgs[i]
		if got := (pos{m.Subject, m.Epoch, m.Seq, m.Critical}); got != w {
			t.Errorf("message %d: %+v, want %+v", i, got, w)
		}
	}
}

func TestHandoverCopiesArePublishedOnceInOrder(t *testing.T) {
	var r recorder
	in := New(&r, Config{Epoch: 7})
	numbered := func(epoch, seq string) *nats.Msg {
		return msg("ticks.a.X", `{}`, map[string]string{HeaderEpoch: epoch, HeaderSeq: seq})
	}
	late := bus.Copy{} // the retiring subscription's copy
	in.Handle(numbered("3", "1"), primary)
	in.Handle(numbered("3", "2"), primary) // the new owner delivers first
	in.Handle(numbered("3", "2"), late)    // the retiring subscription's copy of it
	in.Handle(numbered("3", "1"), late)    // and of an older one
	in.Handle(numbered("3", "3"), late)    // a message only the retiring one had
	in.Handle(numbered("3", "3"), primary)
	in.Handle(numbered("3", "4"), primary)
	in.Handle(numbered("3", "2"), primary) // never backwards within an epoch
	in.Handle(numbered("4", "1"), primary) // a restarted publisher: a new epoch
	// Without a publisher position, a late copy cannot be told apart.
	in.Handle(msg("ticks.a.Y", `{}`, nil), late)
	in.Handle(msg("ticks.a.Y", `{}`, nil), primary)
	checkPublished(t, &r,
		pos{"ticks.a.X", 3, 1, false},
		pos{"ticks.a.X", 3, 2, false},
		pos{"ticks.a.X", 3, 3, false},
		pos{"ticks.a.X", 3, 4, false},
		pos{"ticks.a.X", 4, 1, false},
		pos{"ticks.a.Y", 7, 1, false},
	)
	if d := in.Duplicates(); d != 4 {
		t.Fatalf("%d duplicates counted, want 4", d)
	}
}

func TestNewEpochRestartsHubNumbering(t *testing.T) {
	var r recorder
	in := New(&r, Config{Epoch: 7})
	in.Handle(msg("ticks.a.Y", `{}`, nil), primary)
	in.Handle(msg("ticks.a.Y", `{}`, nil), primary)
	in.NewEpoch()
	in.Handle(msg("ticks.a.Y", `{}`, nil), primary)
	checkPublished(t, &r,
		pos{"ticks.a.Y", 7, 1, false},
		pos{"ticks.a.Y", 7, 2, false},
		pos{"ticks.a.Y", 8, 1, false},
	)
}

package fanout

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// A replay fetched while live messages keep coming is followed by exactly
// the live messages it did not contain: nothing lost, nothing twice.
func TestReleaseJoinsReplayAndLiveWithoutGapOrDuplicate(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	sink := newFakeSink()
	c, _ := runClient(t, h, sink)
	must(t, c.SubscribeHeld("jobs.acme.>", SubOptions{Policy: DropOldest}))
	g := newSeqGen()
	var all []*Message
	for range 10 {
		m := g.msg("jobs.acme.j1", 10, false)
		all = append(all, m)
		h.Publish(m) // held: the owner is still fetching the replay
	}
	time.Sleep(10 * time.Millisecond)
	if n := sink.count(); n != 0 {
		t.Fatalf("%d messages delivered while held", n)
	}
	// The replay covers 1..7 (it was read after 7 was stored); 1..10 arrived live.
	replay := []*Message{all[0], all[1], all[2], all[3], all[4], all[5], all[6]}
	must(t, c.Release("jobs.acme.>", replay))
	m := g.msg("jobs.acme.j1", 10, false)
	h.Publish(m) // live as usual after the release
	testsupport.WaitFor(t, "11 messages", 5*time.Second, func() bool { return sink.count() == 11 })
	msgs, _ := sink.received()
	if got := seqsOf(msgs, "jobs.acme.j1"); !slices.Equal(got, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) {
		t.Fatalf("delivered %v", got)
	}
	if err := c.Release("jobs.acme.>", nil); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("second release: %v", err)
	}
	if err := c.Release("never.>", nil); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("release of an unknown pattern: %v", err)
	}
}

func TestHoldIsBounded(t *testing.T) {
	h := New(Config{MaxQueueMessages: 16})
	defer h.Close()
	sink := newFakeSink()
	c, _ := runClient(t, h, sink)
	must(t, c.SubscribeHeld("chain.>", SubOptions{}))
	g := newSeqGen()
	for range 17 {
		h.Publish(g.msg("chain.eth.block", 10, false))
	}
	testsupport.WaitFor(t, "slow-consumer close", 5*time.Second, func() bool { return sink.reason() == ReasonSlowConsumer })
}

func TestReleasedSnapshotIsNotConflatedAway(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	sink := newFakeSink()
	sink.gate = make(chan struct{})
	c, _ := runClient(t, h, sink)
	must(t, c.SubscribeHeld("ticks.>", SubOptions{Policy: KeepLatest}))
	g := newSeqGen()
	snap := g.msg("ticks.a.X", 10, false)
	live1, live2 := g.msg("ticks.a.X", 10, false), g.msg("ticks.a.X", 10, false)
	h.Publish(live1)
	h.Publish(live2) // held too; released behind the snapshot, it supersedes live1 only
	must(t, c.Release("ticks.>", []*Message{snap}))
	close(sink.gate)
	testsupport.WaitFor(t, "snapshot then newest", 5*time.Second, func() bool { return sink.count() == 2 })
	msgs, _ := sink.received()
	if msgs[0] != snap || msgs[1] != live2 {
		t.Fatalf("delivered seqs %v, want the snapshot then the newest", seqsOf(msgs, "ticks.a.X"))
	}
}

// Upstream may deliver, late, live copies of messages a snapshot already
// had: they are dropped even after Release, until the subject moves on.
func TestLateLiveCopiesOfFedMessagesAreDropped(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	sink := newFakeSink()
	c, _ := runClient(t, h, sink)
	must(t, c.SubscribeHeld("jobs.>", SubOptions{Policy: DropOldest}))
	g := newSeqGen()
	var all []*Message
	for range 6 {
		all = append(all, g.msg("jobs.acme.j1", 10, false))
	}
	must(t, c.Release("jobs.>", []*Message{all[4]})) // the snapshot saw seq 5
	for _, m := range all {                          // live copies arrive late, then 6
		h.Publish(m)
	}
	h.Publish(all[2]) // after 6: the subject moved on; not suppressed any more
	testsupport.WaitFor(t, "deliveries", 5*time.Second, func() bool { return sink.count() == 3 })
	time.Sleep(10 * time.Millisecond)
	msgs, _ := sink.received()
	if got := seqsOf(msgs, "jobs.acme.j1"); !slices.Equal(got, []uint64{5, 6, 3}) {
		t.Fatalf("delivered %v, want the snapshot 5, then 6, then whatever comes after", got)
	}
}

// WaitRoom returns as soon as the writer has made room, with no polling; it
// gives up when the client closes or the caller's context ends.
func TestWaitRoomWakesWhenTheWriterMakesRoom(t *testing.T) {
	h := New(Config{MaxQueueMessages: 8})
	defer h.Close()
	sink := newFakeSink()
	sink.gate = make(chan struct{})
	c, _ := runClient(t, h, sink)
	must(t, c.Subscribe("chain.>", SubOptions{Policy: DropOldest}))
	g := newSeqGen()
	h.Publish(g.msg("chain.a", 10, false)) // the writer takes it and waits at the gate
	testsupport.WaitFor(t, "writer busy", time.Second, func() bool { n, _ := c.QueueLen(); return n == 0 })
	for range 8 {
		h.Publish(g.msg("chain.a", 10, false))
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.WaitRoom(short, 4, 40); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitRoom on a full queue: %v, want the context's deadline", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.WaitRoom(context.Background(), 4, 40) }()
	select {
	case err := <-done:
		t.Fatalf("WaitRoom returned %v before the writer made room", err)
	case <-time.After(20 * time.Millisecond):
	}
	sink.gate <- struct{}{} // one batch goes out: the writer drains the queue
	if err := <-done; err != nil {
		t.Fatalf("WaitRoom after the writer drained: %v", err)
	}
	close(sink.gate)
	testsupport.WaitFor(t, "an empty queue", time.Second, func() bool { n, _ := c.QueueLen(); return n == 0 })
	for range 8 {
		h.Publish(g.msg("chain.a", 10, false))
	}
	c.Close(ReasonNormal)
	if err := c.WaitRoom(context.Background(), 1<<20, 0); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("WaitRoom on a closed client: %v", err)
	}
}

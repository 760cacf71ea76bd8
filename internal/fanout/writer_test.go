package fanout

// The writer's life: a close lets a healthy write finish, the grace lasts
// while the write moves, and an idle writer ends and comes back.

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// Closing lets the batch in flight finish within CloseGrace (so a client
// that still reads gets it, then a close frame saying why, 4001 for a slow
// consumer); a write that outlives the grace, or one that already failed, is
// cut short.
func TestCloseLetsAHealthyWriteFinish(t *testing.T) {
	for _, tc := range []struct {
		reason    CloseReason
		took      time.Duration
		cancelled bool
	}{
		{ReasonShutdown, 100 * time.Millisecond, false},
		{ReasonKeyRevoked, 100 * time.Millisecond, false},
		{ReasonSlowConsumer, 100 * time.Millisecond, false}, // regression: issue 9, edge 3
		{ReasonSlowConsumer, 5 * time.Second, true},         // stopped reading: torn after the grace
		{ReasonWriteFailed, 100 * time.Millisecond, true},
	} {
		t.Run(fmt.Sprintf("%v after %v", tc.reason, tc.took), func(t *testing.T) {
			h := New(Config{CloseGrace: 300 * time.Millisecond})
			defer h.Close()
			sink := &slowSink{fakeSink: *newFakeSink(), took: tc.took,
				started: make(chan struct{}, 1), cancelled: make(chan bool, 1)}
			c, _ := runClient(t, h, sink)
			must(t, c.Subscribe(">", SubOptions{}))
			h.Publish(newSeqGen().msg("a", 10, false))
			<-sink.started
			c.Close(tc.reason)
			if got := <-sink.cancelled; got != tc.cancelled {
				t.Fatalf("write cancelled = %v, want %v", got, tc.cancelled)
			}
			<-sink.closedCh
			if sink.reason() != tc.reason {
				t.Fatalf("closed with %v", sink.reason())
			}
		})
	}
}

// progressSink writes slowly, reporting bytes as they move for movingFor,
// then not at all, like a socket whose reader reads slowly and then stops.
type progressSink struct {
	slowSink
	movingFor time.Duration
	written   atomic.Uint64
}

func (s *progressSink) WriteBatch(ctx context.Context, b *Batch) error {
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	select {
	case s.started <- struct{}{}:
	default:
	}
	done := time.After(s.took)
	for {
		select {
		case <-done:
			s.cancelled <- false
			return s.fakeSink.WriteBatch(ctx, b)
		case <-ctx.Done():
			s.cancelled <- true
			return ctx.Err()
		case <-tick.C:
			if time.Since(start) < s.movingFor {
				s.written.Add(512)
			}
		}
	}
}

func (s *progressSink) Written() uint64 { return s.written.Load() }

// With a sink that reports progress, a closed client's write keeps its grace
// while bytes move (a slow reader still hears why it was closed), and is cut
// off once they stop for CloseGrace.
func TestCloseGraceLastsWhileTheWriteMoves(t *testing.T) {
	for _, tc := range []struct {
		name              string
		took, movingFor   time.Duration
		cancelled         bool
		closedWithinAbout time.Duration
	}{
		{"slow reader", time.Second, time.Hour, false, 0},
		{"reader stops", 10 * time.Second, 300 * time.Millisecond, true, 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := New(Config{CloseGrace: 200 * time.Millisecond})
			defer h.Close()
			sink := &progressSink{slowSink: slowSink{fakeSink: *newFakeSink(), took: tc.took,
				started: make(chan struct{}, 1), cancelled: make(chan bool, 1)}, movingFor: tc.movingFor}
			c, _ := runClient(t, h, sink)
			must(t, c.Subscribe(">", SubOptions{}))
			h.Publish(newSeqGen().msg("a", 10, false))
			<-sink.started
			start := time.Now()
			c.Close(ReasonSlowConsumer)
			if got := <-sink.cancelled; got != tc.cancelled {
				t.Fatalf("write cancelled = %v, want %v", got, tc.cancelled)
			}
			if tc.cancelled && time.Since(start) > tc.closedWithinAbout {
				t.Errorf("cut off after %v; the bytes stopped after %v", time.Since(start), tc.movingFor)
			}
			<-sink.closedCh
			if sink.reason() != ReasonSlowConsumer {
				t.Fatalf("closed with %v", sink.reason())
			}
		})
	}
}

// An idle client's writer goroutine ends a linger after its last work, and
// the next message starts a new one: nothing is lost either way.
func TestWriterEndsWhenIdleAndComesBack(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	sink := newFakeSink()
	c, _ := runClient(t, h, sink)
	must(t, c.Subscribe("ticks.>", SubOptions{Policy: DropOldest}))
	writing := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.writing
	}
	g := newSeqGen()
	h.Publish(g.msg("ticks.a.X", 10, false))
	testsupport.WaitFor(t, "the first message", 5*time.Second, func() bool { return sink.count() == 1 })
	if !writing() {
		t.Fatal("no writer right after a delivery")
	}
	// Busy for longer than a linger: every message arrives, whether the
	// writer stayed (the usual case) or ended and came back.
	for i := range 30 {
		h.Publish(g.msg("ticks.a.X", 10, false))
		testsupport.WaitFor(t, "a message", 5*time.Second, func() bool { return sink.count() == 2+i })
		time.Sleep(writerLinger / 10)
	}
	testsupport.WaitFor(t, "the idle writer to end", 10*writerLinger, func() bool { return !writing() })
	for i := range 3 {
		h.Publish(g.msg("ticks.a.X", 10, false))
		testsupport.WaitFor(t, "a message after the writer ended", 5*time.Second, func() bool { return sink.count() == 32+i })
	}
}

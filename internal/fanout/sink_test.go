package fanout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// fakeSink records what a client's writer hands it. When blocked is set,
// WriteBatch blocks until its context ends, like a socket nobody reads.
type fakeSink struct {
	mu      sync.Mutex
	msgs    []*Message
	gaps    []Gap
	batches int
	closed  CloseReason
	// log interleaves gaps and messages in delivery order.
	log []item

	// countOnly sinks keep no messages: they check per-subject order as
	// they go, for tests that must not retain what they receive.
	countOnly bool
	counted   int
	lastSeq   map[string]uint64
	disorder  string

	blocked  bool
	failWith error
	gate     chan struct{} // when non-nil, each WriteBatch waits for a token
	closedCh chan struct{}
}

type item struct {
	gap *Gap
	msg *Message
}

func newFakeSink() *fakeSink { return &fakeSink{closedCh: make(chan struct{})} }

func (s *fakeSink) WriteBatch(ctx context.Context, b *Batch) error {
	if s.blocked {
		<-ctx.Done()
		return ctx.Err()
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.failWith != nil {
		return s.failWith
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches++
	if s.countOnly {
		for _, m := range b.Messages {
			if m.Seq != s.lastSeq[m.Subject]+1 && s.disorder == "" {
				s.disorder = fmt.Sprintf("%s: seq %d after %d", m.Subject, m.Seq, s.lastSeq[m.Subject])
			}
			s.lastSeq[m.Subject] = m.Seq
		}
		s.counted += len(b.Messages)
		if len(b.Gaps) > 0 && s.disorder == "" {
			s.disorder = fmt.Sprintf("gap notices %v", b.Gaps)
		}
		return nil
	}
	for i := range b.Gaps {
		g := b.Gaps[i]
		s.gaps = append(s.gaps, g)
		s.log = append(s.log, item{gap: &g})
	}
	for _, m := range b.Messages {
		s.msgs = append(s.msgs, m)
		s.log = append(s.log, item{msg: m})
	}
	return nil
}

func (s *fakeSink) Close(r CloseReason) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed != 0 {
		panic("fakeSink closed twice")
	}
	s.closed = r
	close(s.closedCh)
	return nil
}

func (s *fakeSink) received() ([]*Message, []Gap) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.msgs...), append([]Gap(nil), s.gaps...)
}

func newCountingSink() *fakeSink {
	s := newFakeSink()
	s.countOnly, s.lastSeq = true, make(map[string]uint64)
	return s
}

func (s *fakeSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.countOnly {
		return s.counted
	}
	return len(s.msgs)
}

func (s *fakeSink) reason() CloseReason {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// runClient registers a client on h and runs its writer on a goroutine the
// test owns; the returned stop closes the client and waits for the writer.
func runClient(t testing.TB, h *Hub, sink Sink) (*Client, func()) {
	t.Helper()
	c, err := h.Register(sink, EncodingJSON)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run()
	}()
	stop := func() {
		c.Close(ReasonNormal)
		<-done
	}
	t.Cleanup(stop)
	return c, func() { stop() }
}

// seqGen hands out per-subject sequence numbers and builds messages.
type seqGen struct {
	mu   sync.Mutex
	seqs map[string]uint64
}

func newSeqGen() *seqGen { return &seqGen{seqs: make(map[string]uint64)} }

func (g *seqGen) msg(subject string, size int, critical bool) *Message {
	g.mu.Lock()
	g.seqs[subject]++
	seq := g.seqs[subject]
	g.mu.Unlock()
	frame := make([]byte, size)
	copy(frame, strconv.FormatUint(seq, 10))
	return &Message{Subject: subject, Epoch: 1, Seq: seq, Critical: critical,
		Frames: [NumEncodings][]byte{frame, frame}}
}

var errBoom = errors.New("boom")

func seqsOf(msgs []*Message, subject string) []uint64 {
	var out []uint64
	for _, m := range msgs {
		if m.Subject == subject {
			out = append(out, m.Seq)
		}
	}
	return out
}

func describe(seqs []uint64) string {
	if len(seqs) > 12 {
		return fmt.Sprintf("%v … %v (%d)", seqs[:6], seqs[len(seqs)-6:], len(seqs))
	}
	return fmt.Sprint(seqs)
}

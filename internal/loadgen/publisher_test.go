package loadgen

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// slowOutlet takes the first n messages, then blocks each publish until
// its context ends, as a broker that stops reading does; flush blocks the
// same way.
type slowOutlet struct {
	n, took int
	fail    error // returned by publish instead, if set
}

func (o *slowOutlet) publish(ctx context.Context, _ string, _ []byte) error {
	if o.fail != nil {
		return o.fail
	}
	if o.took < o.n {
		o.took++
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}
func (o *slowOutlet) burst(context.Context) error { return nil }
func (o *slowOutlet) flush(ctx context.Context) error {
	if o.took < o.n {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}
func (o *slowOutlet) close() {}

func TestPublisherHeldBackIsAResultNotAFailure(t *testing.T) {
	o := &slowOutlet{n: 30}
	p := &publisher{out: o, subjects: []string{"a", "b"}, size: 100, base: time.Now(), counts: make([]uint64, 2)}
	start := time.Now()
	sent, took, note, err := p.run(context.Background(), 1000, 200*time.Millisecond)
	if err != nil {
		t.Fatalf("a slow broker is a result, not an error: %v", err)
	}
	if sent != 30 || p.counts[0]+p.counts[1] != 30 {
		t.Errorf("sent %d, counted %v: want the 30 the broker took", sent, p.counts)
	}
	if !strings.Contains(note, "held the publisher back: 30 of 200") || !strings.Contains(note, "had not taken every message") {
		t.Errorf("note %q", note)
	}
	if took < 400*time.Millisecond || time.Since(start) > 20*time.Second {
		t.Errorf("publishing took %v (total %v): want stopped at twice the duration, flush bounded", took, time.Since(start))
	}

	// A broker that fails a publish stops the publishing: a result with a
	// note, and the failed message is not counted.
	p = &publisher{out: &slowOutlet{fail: errors.New("boom")}, subjects: []string{"a"}, size: 100, base: time.Now(), counts: make([]uint64, 1)}
	sent, _, note, err = p.run(context.Background(), 1000, 200*time.Millisecond)
	if err != nil || sent != 0 || !strings.Contains(note, "publishing stopped after 0 of 200 messages: boom") {
		t.Errorf("sent %d, note %q, err %v", sent, note, err)
	}
	if p.counts[0] != 0 {
		t.Errorf("a failed publish was counted")
	}

	// A context that ends is an error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p = &publisher{out: &slowOutlet{n: 1}, subjects: []string{"a"}, size: 100, base: time.Now(), counts: make([]uint64, 1)}
	if _, _, _, err := p.run(ctx, 1000, time.Second); !errors.Is(err, context.Canceled) {
		t.Errorf("err %v, want context.Canceled", err)
	}
}

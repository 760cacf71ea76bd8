package loadgen

import (
	"context"
	"fmt"
	"time"
)

// outlet is where a publisher's messages go: NATS for StreamHub and
// nats-ws, Centrifugo's HTTP API, or the Bun peer's publish WebSocket. One
// goroutine uses it at a time.
type outlet interface {
	// publish hands one message to the broker, or buffers it until the
	// next burst or flush. payload may be reused once it returns.
	publish(ctx context.Context, subject string, payload []byte) error
	// burst ends a burst of publishes (one tick of the pacer): an outlet
	// that buffers sends what it holds.
	burst(ctx context.Context) error
	// flush sends what is buffered and waits until the broker has it, as
	// far as its protocol can tell.
	flush(ctx context.Context) error
	close()
}

// publisher publishes the run's payloads at a steady rate. One goroutine
// uses it at a time.
type publisher struct {
	out      outlet
	subjects []string
	size     int
	base     time.Time
	next     int      // the next subject, round-robin
	counts   []uint64 // measured messages published per subject
	buf      []byte
}

func newPublisher(ctx context.Context, cfg Config, subjects []string, base time.Time) (*publisher, error) {
	var out outlet
	var err error
	switch cfg.Target {
	case TargetCentrifugo:
		out, err = newCentrifugoOutlet(cfg.PublishURL)
	case TargetBun:
		out, err = dialBunOutlet(ctx, cfg.PublishURL)
	default:
		out, err = dialNATSOutlet(ctx, cfg)
	}
	if err != nil {
		return nil, err
	}
	return &publisher{out: out, subjects: subjects, size: cfg.Payload, base: base, counts: make([]uint64, len(subjects))}, nil
}

func (p *publisher) close() { p.out.close() }

func (p *publisher) publish(ctx context.Context, s int, n uint64) error {
	p.buf = appendPayload(p.buf[:0], time.Since(p.base).Nanoseconds(), n, p.size)
	return p.out.publish(ctx, p.subjects[s], p.buf)
}

// warmup publishes one warm-up message (n = 0) on every subject and waits
// for the broker to have them.
func (p *publisher) warmup(ctx context.Context) error {
	for s := range p.subjects {
		if err := p.publish(ctx, s, 0); err != nil {
			return err
		}
	}
	return p.out.flush(ctx)
}

// run publishes rate messages per second, round-robin over the subjects,
// for d: every millisecond it publishes those due by then. It stops after
// rate × d messages, after 2d (a broker slower to take the messages than
// the rate holds the publisher back, so fewer were published: the result
// shows it), or when ctx is done, and returns how many it published and
// how long that took.
func (p *publisher) run(ctx context.Context, rate float64, d time.Duration) (uint64, time.Duration, error) {
	total := max(uint64(rate*d.Seconds()), 1)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	var sent uint64
	for sent < total {
		elapsed := time.Since(start)
		due := total
		if elapsed < d {
			due = min(total, uint64(rate*elapsed.Seconds())+1)
		}
		for ; sent < due; sent++ {
			s := p.next
			p.next = (p.next + 1) % len(p.subjects)
			p.counts[s]++
			if err := p.publish(ctx, s, p.counts[s]); err != nil {
				p.counts[s]--
				return sent, time.Since(start), err
			}
		}
		if err := p.out.burst(ctx); err != nil {
			return sent, time.Since(start), err
		}
		if sent >= total || time.Since(start) >= 2*d {
			break
		}
		select {
		case <-ctx.Done():
			return sent, time.Since(start), fmt.Errorf("loadgen: publisher: %w", ctx.Err())
		case <-tick.C:
		}
	}
	took := time.Since(start)
	fctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	return sent, took, p.out.flush(fctx)
}

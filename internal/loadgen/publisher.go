package loadgen

import (
	"context"
	"fmt"
	"strings"
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
// rate × d messages, or after 2d: a broker slower to take the messages
// than the rate holds the publisher back, and fewer were published (the
// result shows it; a message the broker did not take by then is not
// counted, except those of a Centrifugo batch whose answer did not come,
// which may yet be delivered). A broker that fails a publish (an overloaded
// API closing the request, a reset socket) stops the publishing there: that
// too is a result. Then it waits up to 5 s for the broker to have
// everything. It returns how many it published, how long that took, and a
// note when it was held back, failed, or that wait timed out; an error
// only when ctx ends.
func (p *publisher) run(ctx context.Context, rate float64, d time.Duration) (sent uint64, took time.Duration, note string, err error) {
	total := max(uint64(rate*d.Seconds()), 1)
	pctx, cancel := context.WithTimeout(ctx, 2*d)
	defer cancel()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	// held: the error came from the 2d bound, not from the broker or ctx.
	held := func() bool { return pctx.Err() != nil && ctx.Err() == nil }
	var failed error // the broker failed a publish: the run stops there
loop:
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
			if err := p.publish(pctx, s, p.counts[s]); err != nil {
				p.counts[s]--
				if !held() {
					failed = err
				}
				break loop
			}
		}
		if err := p.out.burst(pctx); err != nil {
			if !held() {
				failed = err
			}
			break loop
		}
		if sent >= total {
			break
		}
		select {
		case <-ctx.Done():
			return sent, time.Since(start), "", fmt.Errorf("loadgen: publisher: %w", ctx.Err())
		case <-pctx.Done():
			break loop
		case <-tick.C:
		}
	}
	took = time.Since(start)
	if ctx.Err() != nil {
		return sent, took, "", fmt.Errorf("loadgen: publisher: %w", ctx.Err())
	}
	if failed != nil {
		note = fmt.Sprintf("publishing stopped after %d of %d messages: %v", sent, total, failed)
	} else if sent < total {
		note = fmt.Sprintf("the broker held the publisher back: %d of %d messages published in %v", sent, total, 2*d)
	}
	fctx, fcancel := context.WithTimeout(ctx, controlTimeout)
	defer fcancel()
	if err := p.out.flush(fctx); err != nil {
		if ctx.Err() != nil {
			return sent, took, note, err
		}
		note = strings.TrimPrefix(note+"; ", "; ") + fmt.Sprintf("the broker had not taken every message %v after the last publish", controlTimeout)
	}
	return sent, took, note, nil
}

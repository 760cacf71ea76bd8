package loadgen

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// publisher publishes the run's payloads to NATS at a steady rate. One
// goroutine uses it at a time.
type publisher struct {
	nc       *nats.Conn
	subjects []string
	size     int
	base     time.Time
	next     int      // the next subject, round-robin
	counts   []uint64 // measured messages published per subject
	buf      []byte
}

func newPublisher(ctx context.Context, cfg Config, subjects []string, base time.Time) (*publisher, error) {
	timeout := controlTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	nc, err := nats.Connect(cfg.NATSURL, cfg.NATSCredentials.Option(), nats.Name("streamhub-bench-publisher"), nats.Timeout(timeout), nats.NoReconnect())
	if err != nil {
		return nil, fmt.Errorf("loadgen: publisher: connect %s: %w", cfg.NATSURL, err)
	}
	return &publisher{nc: nc, subjects: subjects, size: cfg.Payload, base: base, counts: make([]uint64, len(subjects))}, nil
}

func (p *publisher) close() { p.nc.Close() }

func (p *publisher) publish(s int, n uint64) error {
	p.buf = appendPayload(p.buf[:0], time.Since(p.base).Nanoseconds(), n, p.size)
	// nats.go copies the payload into its write buffer before returning,
	// so buf can be reused at once.
	if err := p.nc.Publish(p.subjects[s], p.buf); err != nil {
		return fmt.Errorf("loadgen: publish: %w", err)
	}
	return nil
}

// warmup publishes one warm-up message (n = 0) on every subject and waits
// for the server to have them.
func (p *publisher) warmup(ctx context.Context) error {
	for s := range p.subjects {
		if err := p.publish(s, 0); err != nil {
			return err
		}
	}
	if err := p.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("loadgen: publisher: flush: %w", err)
	}
	return nil
}

// run publishes rate messages per second, round-robin over the subjects,
// for d: every millisecond it publishes those due by then. It stops after
// rate × d messages or when ctx is done, and returns how many it
// published and how long that took.
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
			if err := p.publish(s, p.counts[s]); err != nil {
				p.counts[s]--
				return sent, time.Since(start), err
			}
		}
		if sent >= total {
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
	if err := p.nc.FlushWithContext(fctx); err != nil {
		return sent, took, fmt.Errorf("loadgen: publisher: flush: %w", err)
	}
	return sent, took, nil
}

package loadgen

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// natsOutlet publishes with nats.go, whose own flusher goroutine sends
// the buffered messages, so a burst needs nothing.
type natsOutlet struct{ nc *nats.Conn }

func dialNATSOutlet(ctx context.Context, cfg Config) (*natsOutlet, error) {
	timeout := controlTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	nc, err := nats.Connect(cfg.NATSURL, cfg.NATSCredentials.Option(), nats.Name("streamhub-bench-publisher"), nats.Timeout(timeout), nats.NoReconnect())
	if err != nil {
		return nil, fmt.Errorf("loadgen: publisher: connect %s: %w", cfg.NATSURL, err)
	}
	return &natsOutlet{nc: nc}, nil
}

// publish: nats.go copies the payload into its write buffer before
// returning, so it can be reused at once.
func (o *natsOutlet) publish(_ context.Context, subject string, payload []byte) error {
	if err := o.nc.Publish(subject, payload); err != nil {
		return fmt.Errorf("loadgen: publish: %w", err)
	}
	return nil
}

func (o *natsOutlet) burst(context.Context) error { return nil }

func (o *natsOutlet) flush(ctx context.Context) error {
	if err := o.nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("loadgen: publisher: flush: %w", err)
	}
	return nil
}

func (o *natsOutlet) close() { o.nc.Close() }

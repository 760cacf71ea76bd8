package loadgen

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// natsClient is one nats.go connection to nats-server's WebSocket
// listener, subscribed to one pattern: the peer's equivalent of a
// StreamHub client. nats.go calls the handler on the subscription's own
// goroutine; mu makes the recorder's final read safe.
type natsClient struct {
	nc    *nats.Conn
	sub   *nats.Subscription
	index map[string]int
	base  time.Time

	mu  sync.Mutex
	rec *recorder

	stopping atomic.Bool
	closedBy atomic.Value // string: why the connection ended early
	slow     atomic.Uint64
}

func dialNATSWS(ctx context.Context, cfg Config, src net.IP, name, pattern string, rec *recorder, index map[string]int, base time.Time) (*natsClient, error) {
	c := &natsClient{index: index, base: base, rec: rec}
	timeout := controlTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	nc, err := nats.Connect(cfg.WSURL,
		nats.Name(name),
		nats.Timeout(timeout),
		nats.NoReconnect(),
		nats.SetCustomDialer(sourceDialer(src, timeout)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if err == nats.ErrSlowConsumer {
				c.slow.Add(1)
			}
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if !c.stopping.Load() {
				c.closedBy.Store(fmt.Sprintf("disconnected: %v", err))
			}
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("loadgen: connect %s: %w", cfg.WSURL, err)
	}
	c.nc = nc
	c.sub, err = nc.Subscribe(pattern, c.handle)
	if err == nil {
		err = nc.FlushWithContext(ctx)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("loadgen: subscribe %q: %w", pattern, err)
	}
	return c, nil
}

func (c *natsClient) handle(m *nats.Msg) {
	now := time.Since(c.base).Nanoseconds()
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.index[m.Subject]
	if !ok {
		c.rec.bad++
		return
	}
	t, n, err := parseJSONPayload(m.Data)
	if err != nil {
		c.rec.bad++
		return
	}
	// No broker sequence on core NATS: the payload's n is the sequence,
	// and warm-up messages (n = 0) are not tracked.
	c.rec.event(s, 0, n, n, now-t)
	if n > 0 {
		c.rec.progress.Add(1)
	}
}

// result returns why the connection ended early ("" if it did not) and
// the number of slow-consumer errors nats.go reported.
func (c *natsClient) result() (string, uint64) {
	s, _ := c.closedBy.Load().(string)
	return s, c.slow.Load()
}

// stop closes the connection; the recorder may be read afterwards under mu.
func (c *natsClient) stop() {
	c.stopping.Store(true)
	c.nc.Close()
}

// start does nothing: nats.go already delivers on its own goroutines.
func (c *natsClient) start(context.Context, *sync.WaitGroup) {}

// abort closes the connection, as stop does.
func (c *natsClient) abort() { c.stop() }

// tally returns a copy of the recorder, taken under mu: nats.go may still
// be running a handler after Close returned.
func (c *natsClient) tally() (*recorder, string, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	disc, slow := c.result()
	rec := *c.rec
	return &rec, disc, slow
}

package bus

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of [HealthConfig].
const (
	DefaultHealthInterval = time.Second
	DefaultHealthTimeout  = time.Second
)

// HealthConfig configures [StartHealth]. Every zero field means the
// default its comment states.
type HealthConfig struct {
	// Interval is how often JetStream is asked for the account's info.
	// Default 1s.
	Interval time.Duration
	// Timeout bounds each probe; a probe that takes longer fails.
	// Default 1s.
	Timeout time.Duration
}

// Health watches a connection and its JetStream: it is healthy while the
// connection is up and the latest JetStream probe (an account info
// request, which needs a JetStream meta leader) answered. A lost
// connection makes it unhealthy at once; after a reconnect it is healthy
// again once a probe has answered, which [Health] asks for at once. Its
// methods are safe for concurrent use; one goroutine of its own probes
// until Close.
type Health struct {
	conn *Conn
	js   jetstream.JetStream
	cfg  HealthConfig

	ok      atomic.Bool
	lastErr atomic.Pointer[error] // why the latest probe failed; nil after a success
	wake    chan struct{}         // capacity 1: probe now
	stop    chan struct{}
	done    chan struct{}
	cancel  func() // unregisters the connection listener
	once    sync.Once
}

// StartHealth starts watching conn and js. It probes once before it
// returns, so Healthy answers from the start. Call Close when done.
func StartHealth(ctx context.Context, conn *Conn, js jetstream.JetStream, cfg HealthConfig) *Health {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultHealthInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultHealthTimeout
	}
	h := &Health{conn: conn, js: js, cfg: cfg, wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	h.cancel = conn.Listen(func(ev ConnEvent) {
		switch ev {
		case EventDisconnected:
			h.ok.Store(false)
			err := ErrNotConnected
			h.lastErr.Store(&err)
		case EventReconnected:
			select {
			case h.wake <- struct{}{}:
			default:
			}
		}
	})
	h.probe(ctx)
	go h.loop()
	return h
}

// Healthy reports whether the connection is up and JetStream answered the
// latest probe.
func (h *Health) Healthy() bool { return h.ok.Load() && h.conn.Connected() }

// Err returns why the hub is unhealthy (nil when it is healthy), for
// logs and the readiness answer.
func (h *Health) Err() error {
	if !h.conn.Connected() {
		return ErrNotConnected
	}
	if p := h.lastErr.Load(); p != nil && !h.ok.Load() {
		return *p
	}
	return nil
}

// Close stops probing and waits for the probe goroutine. It is
// idempotent.
func (h *Health) Close() {
	h.once.Do(func() {
		h.cancel()
		close(h.stop)
		<-h.done
	})
}

func (h *Health) loop() {
	defer close(h.done)
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-h.stop
		cancel()
	}()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		case <-h.wake:
		}
		h.probe(ctx)
	}
}

// probe asks JetStream for the account's info and records the answer.
func (h *Health) probe(ctx context.Context) {
	if !h.conn.Connected() {
		h.ok.Store(false)
		err := ErrNotConnected
		h.lastErr.Store(&err)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	if _, err := h.js.AccountInfo(ctx); err != nil {
		err = fmt.Errorf("bus: JetStream health: %w", err)
		h.lastErr.Store(&err)
		h.ok.Store(false)
		return
	}
	h.lastErr.Store(nil)
	h.ok.Store(true)
}

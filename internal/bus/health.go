package bus

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of [HealthConfig].
const (
	DefaultHealthInterval = time.Second
	DefaultHealthTimeout  = time.Second
	DefaultJetStreamGrace = 10 * time.Second
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
	// JetStreamGrace is how long JetStream may fail to answer while the
	// connected server itself answers before the hub counts as unhealthy:
	// a cluster electing a leader (after losing one) fails every hub's
	// JetStream requests at once for a few seconds, and taking every hub
	// out of a load balancer for that would turn a pause of stored
	// families into an outage of all. Default 10s.
	JetStreamGrace time.Duration
	// Logger receives a line when health changes. Nil discards.
	Logger *slog.Logger
}

// Health watches a connection and its JetStream. It is healthy while the
// connection is up, the connected server answers a ping within the probe
// timeout (a hung server does not: it is unhealthy at once, before the
// connection's own ping declares it stale), and JetStream answered an
// account info request (which needs the cluster's meta leader) within the
// last JetStreamGrace. A lost connection makes it unhealthy at once;
// after a reconnect it is healthy again once a probe has passed, which it
// runs at once. Its methods are safe for concurrent use; one goroutine of
// its own probes until Close.
type Health struct {
	conn *Conn
	js   jetstream.JetStream
	cfg  HealthConfig

	log     *slog.Logger
	ok      atomic.Bool
	lastErr atomic.Pointer[error] // why the latest probe failed; nil after a success
	// jsFailing is when JetStream began failing, zero while it answers.
	// Only the probing goroutine (and StartHealth before it) uses it.
	jsFailing time.Time
	wake      chan struct{}   // capacity 1: probe now
	ctx       context.Context // ends with Close: stops the loop and a probe in flight
	stop      context.CancelFunc
	done      chan struct{}
	cancel    func() // unregisters the connection listener
	once      sync.Once
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
	if cfg.JetStreamGrace <= 0 {
		cfg.JetStreamGrace = DefaultJetStreamGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Health{conn: conn, js: js, cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1), done: make(chan struct{})}
	h.ctx, h.stop = context.WithCancel(context.Background())
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
		h.stop()
		<-h.done
	})
}

func (h *Health) loop() {
	defer close(h.done)
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		case <-h.wake:
		}
		h.probe(h.ctx)
	}
}

// probe pings the connected server, asks JetStream for the account's info
// and records the outcome.
func (h *Health) probe(ctx context.Context) {
	err := h.check(ctx)
	was := h.ok.Load()
	if err != nil {
		h.lastErr.Store(&err)
		h.ok.Store(false)
		if was {
			h.log.Warn("not ready", "err", err)
		}
		return
	}
	h.lastErr.Store(nil)
	h.ok.Store(true)
	if !was {
		h.log.Info("ready: NATS and JetStream answer")
	}
}

// check returns why the hub is unhealthy now, or nil.
func (h *Health) check(ctx context.Context) error {
	if !h.conn.Connected() {
		return ErrNotConnected
	}
	if err := h.conn.nc.FlushTimeout(h.cfg.Timeout); err != nil {
		return fmt.Errorf("bus: NATS server %s not answering: %w", h.conn.ConnectedURL(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	_, err := h.js.AccountInfo(ctx)
	if err == nil {
		h.jsFailing = time.Time{}
		return nil
	}
	now := time.Now()
	if h.jsFailing.IsZero() {
		h.jsFailing = now
	}
	if failing := now.Sub(h.jsFailing); failing >= h.cfg.JetStreamGrace {
		return fmt.Errorf("bus: JetStream not answering for %s: %w", failing.Round(time.Second), err)
	}
	return nil
}

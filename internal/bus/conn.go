package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Defaults of [ConnConfig].
const (
	DefaultURL           = "nats://127.0.0.1:4222"
	DefaultConnName      = "streamhub"
	DefaultPingInterval  = time.Second
	DefaultMaxPingsOut   = 2
	DefaultPendingMsgs   = 65536
	DefaultPendingBytes  = 64 << 20
	DefaultReconnectWait = 500 * time.Millisecond
	DefaultConnectWait   = 10 * time.Second
	DefaultDialTimeout   = time.Second
)

// ConnConfig configures [Connect]. Every zero field means the default its
// comment states.
type ConnConfig struct {
	// URLs lists the servers, comma-separated. Default "nats://127.0.0.1:4222".
	// The servers of a cluster announce each other, so one reachable URL
	// is enough to learn the rest; after losing its server the connection
	// moves to another one at once (the lost one is tried last).
	URLs string
	// Credentials are presented to the servers (an embedded server's, see
	// [Embedded.Credentials]). Default none: credentials in URLs, if any.
	Credentials Credentials
	// Auth adds a token, an nkey, a user JWT and TLS. Default none.
	Auth ClientAuth
	// Name is the connection name the server shows in its monitoring.
	// Default "streamhub".
	Name string
	// PingInterval is how often the client pings the server. Default 1s.
	// A server that stops answering (hung, frozen, cut off without a TCP
	// reset) is declared stale after (MaxPingsOut+1) × PingInterval
	// without a pong: 3 s with the defaults. The connection then moves to
	// another server, dialling each with DialTimeout.
	PingInterval time.Duration
	// MaxPingsOut is how many pings may go unanswered before the client
	// declares the connection stale and reconnects. Default 2.
	MaxPingsOut int
	// DialTimeout bounds each connection attempt to one server, so that a
	// hung server (which the kernel still accepts connections for) does
	// not hold up a reconnect for long. Default 1s.
	DialTimeout time.Duration
	// PendingMsgs is the default limit of messages buffered client-side per
	// subscription before nats.go drops them (counted, see
	// [Conn.Dropped]). Default 65536. The [Router] uses it unless its own
	// config overrides it.
	PendingMsgs int
	// PendingBytes is the same limit in bytes. Default 64 MiB.
	PendingBytes int
	// ReconnectWait is the pause between reconnect attempts to one server.
	// Default 500ms.
	ReconnectWait time.Duration
	// ConnectWait bounds how long [Connect] waits for the first successful
	// connection (the context can cut it shorter). Default 10s. A negative
	// value makes Connect return at once with a connection that keeps
	// trying in the background ([Conn.Connected] tells when it made it).
	ConnectWait time.Duration
	// Logger receives state changes (disconnected, reconnected, closed) and
	// a rate-limited sample of asynchronous errors. Nil discards them.
	Logger *slog.Logger
	// InProcess, when set, connects to this embedded server in process,
	// through a pipe instead of a loopback TCP socket: the same protocol,
	// without the kernel's TCP path for every message. URLs is then only
	// what the connection reports. Default nil: connect over the network.
	InProcess *Embedded
}

func (c ConnConfig) withDefaults() ConnConfig {
	if c.URLs == "" {
		c.URLs = DefaultURL
	}
	if c.Name == "" {
		c.Name = DefaultConnName
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.MaxPingsOut <= 0 {
		c.MaxPingsOut = DefaultMaxPingsOut
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.PendingMsgs <= 0 {
		c.PendingMsgs = DefaultPendingMsgs
	}
	if c.PendingBytes <= 0 {
		c.PendingBytes = DefaultPendingBytes
	}
	if c.ReconnectWait <= 0 {
		c.ReconnectWait = DefaultReconnectWait
	}
	if c.ConnectWait == 0 {
		c.ConnectWait = DefaultConnectWait
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Conn is StreamHub's connection to NATS. It reconnects forever, resending
// its subscriptions after each reconnect, and counts the messages nats.go
// drops when a subscription's pending limits overflow. Its methods are safe
// for concurrent use.
type Conn struct {
	nc  *nats.Conn
	cfg ConnConfig // with defaults applied
	log *slog.Logger

	connected chan struct{} // closed on the first successful connection
	connOnce  sync.Once
	closed    chan struct{} // closed by the ClosedHandler
	closeOnce sync.Once

	slowEvents atomic.Uint64
	lastErr    atomic.Pointer[error] // the latest asynchronous error, for Connect's answer
	slowLog    sampler
	errLog     sampler

	// mu guards the drop accounting. tracked maps each subscription made
	// through this package (the Router's) to its drop count as last seen;
	// dropped is the sum of all increments observed, including those of
	// subscriptions since removed.
	mu      sync.Mutex
	tracked map[*nats.Subscription]int
	dropped uint64

	// lmu guards the state listeners; they are called without it.
	lmu        sync.Mutex
	listeners  map[uint64]func(ConnEvent)
	nextListen uint64
	reconnects atomic.Uint64
}

// ConnEvent is a change of a [Conn]'s state, as told to the functions
// registered with [Conn.Listen].
type ConnEvent uint8

const (
	// EventDisconnected: the connection to the current server was lost;
	// the connection is trying the others.
	EventDisconnected ConnEvent = iota + 1
	// EventReconnected: the connection is up again, possibly on another
	// server. Core NATS messages published meanwhile were not delivered
	// to this connection (JetStream consumers resume where they were).
	EventReconnected
)

// Listen registers fn to be called on every disconnect and reconnect,
// in order, on nats.go's callback goroutine: fn must not block. It returns
// a function that unregisters fn. Safe for concurrent use.
func (c *Conn) Listen(fn func(ConnEvent)) (cancel func()) {
	c.lmu.Lock()
	defer c.lmu.Unlock()
	if c.listeners == nil {
		c.listeners = make(map[uint64]func(ConnEvent))
	}
	c.nextListen++
	id := c.nextListen
	c.listeners[id] = fn
	return func() {
		c.lmu.Lock()
		delete(c.listeners, id)
		c.lmu.Unlock()
	}
}

// Reconnects returns how many times the connection was re-established
// after a loss.
func (c *Conn) Reconnects() uint64 { return c.reconnects.Load() }

// ConnectedURL returns the URL of the server the connection is on (with
// any password redacted), or "" while disconnected.
func (c *Conn) ConnectedURL() string { return c.nc.ConnectedUrlRedacted() }

func (c *Conn) notify(ev ConnEvent) {
	c.lmu.Lock()
	fns := make([]func(ConnEvent), 0, len(c.listeners))
	for _, fn := range c.listeners {
		fns = append(fns, fn)
	}
	c.lmu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
}

// Connect connects to NATS. If no server is reachable yet it keeps trying
// (RetryOnFailedConnect) and waits for the first connection up to
// cfg.ConnectWait or until ctx ends; if neither brings a connection it closes
// the attempt and returns an error. ctx only bounds this wait (the very first
// dial is bounded by nats.go's 2 s dial timeout instead): it does not govern
// the connection's lifetime. The caller must call [Conn.Drain] or
// [Conn.Close].
func Connect(ctx context.Context, cfg ConnConfig) (*Conn, error) {
	cfg = cfg.withDefaults()
	c := &Conn{
		cfg:       cfg,
		log:       cfg.Logger,
		connected: make(chan struct{}),
		closed:    make(chan struct{}),
		slowLog:   sampler{every: sampleEvery},
		errLog:    sampler{every: sampleEvery},
		tracked:   make(map[*nats.Subscription]int),
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bus: connect: %w", err)
	}
	authOpts, err := cfg.Auth.Options()
	if err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w", cfg.URLs, err)
	}
	opts := append(authOpts,
		nats.Name(cfg.Name),
		cfg.Credentials.Option(),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		nats.ReconnectWait(cfg.ReconnectWait),
		nats.PingInterval(cfg.PingInterval),
		nats.MaxPingsOutstanding(cfg.MaxPingsOut),
		nats.Timeout(cfg.DialTimeout),
		nats.ConnectHandler(c.onConnect),
		nats.ReconnectHandler(c.onReconnect),
		nats.DisconnectErrHandler(c.onDisconnect),
		nats.ReconnectErrHandler(c.onReconnectErr),
		nats.ClosedHandler(c.onClosed),
		nats.ErrorHandler(c.onError),
	)
	if cfg.InProcess != nil {
		opts = append(opts, nats.InProcessServer(cfg.InProcess.Server()))
	}
	nc, err := nats.Connect(cfg.URLs, opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect to %s: %w", cfg.URLs, err)
	}
	c.nc = nc
	if nc.IsConnected() {
		c.markConnected()
	}
	if cfg.ConnectWait < 0 {
		return c, nil
	}
	timer := time.NewTimer(cfg.ConnectWait)
	defer timer.Stop()
	select {
	case <-c.connected:
		return c, nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = fmt.Errorf("no server reachable within %s", cfg.ConnectWait)
		if last := c.lastErr.Load(); last != nil {
			// Say why, when a server answered: "authorization violation"
			// means missing or wrong credentials.
			err = fmt.Errorf("no connection within %s: %w", cfg.ConnectWait, *last)
		}
	}
	nc.Close()
	return nil, fmt.Errorf("bus: connect to %s: %w", cfg.URLs, err)
}

// NATS returns the underlying connection, for publishing and JetStream.
// Do not close it directly; use [Conn.Drain] or [Conn.Close].
func (c *Conn) NATS() *nats.Conn { return c.nc }

// Connected reports whether the connection is currently established (not
// connecting, reconnecting, draining or closed). Use it for readiness.
func (c *Conn) Connected() bool { return c.nc.IsConnected() }

// SlowConsumerEvents returns how many times a subscription entered the
// slow-consumer state, that is, started dropping messages because its
// pending limits were full. One event may cover many drops.
func (c *Conn) SlowConsumerEvents() uint64 { return c.slowEvents.Load() }

// Dropped returns how many messages nats.go dropped, over the connection's
// lifetime, on subscriptions made by this package (a [Router]'s) because
// their pending limits were full. It reads the live subscriptions' counters,
// so it is exact up to drops racing with an unsubscribe.
func (c *Conn) Dropped() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	for sub := range c.tracked {
		c.observeLocked(sub)
	}
	return c.dropped
}

// Drain unsubscribes everything, lets the handlers finish what is pending,
// flushes publishes and closes the connection, waiting until it is closed or
// ctx ends. If ctx ends first, the connection is closed at once and Drain
// returns ctx's error. Draining a closed connection returns nil.
func (c *Conn) Drain(ctx context.Context) error {
	err := c.nc.Drain()
	switch {
	case errors.Is(err, nats.ErrConnectionClosed):
		return nil
	case errors.Is(err, nats.ErrConnectionReconnecting):
		// nats.go closes a connection that cannot drain because it is
		// (re)connecting: there is nothing to flush.
		return nil
	case err != nil:
		c.nc.Close()
		return fmt.Errorf("bus: drain: %w", err)
	}
	select {
	case <-c.closed:
		return nil
	case <-ctx.Done():
		c.nc.Close()
		return fmt.Errorf("bus: drain: %w", ctx.Err())
	}
}

// Close closes the connection at once, dropping pending messages. It is
// idempotent.
func (c *Conn) Close() { c.nc.Close() }

// pendingLimits returns the configured per-subscription pending limits.
func (c *Conn) pendingLimits() (msgs, bytes int) { return c.cfg.PendingMsgs, c.cfg.PendingBytes }

// track starts drop accounting for sub.
func (c *Conn) track(sub *nats.Subscription) {
	c.mu.Lock()
	c.tracked[sub] = 0
	c.observeLocked(sub)
	c.mu.Unlock()
}

// untrack takes sub's last drop count and stops accounting for it. Call it
// just before unsubscribing: a closed subscription no longer reports drops.
func (c *Conn) untrack(sub *nats.Subscription) {
	c.mu.Lock()
	c.observeLocked(sub)
	delete(c.tracked, sub)
	c.mu.Unlock()
}

// observeLocked adds the drops sub made since last seen. c.mu must be held.
func (c *Conn) observeLocked(sub *nats.Subscription) {
	last, ok := c.tracked[sub]
	if !ok {
		return
	}
	n, err := sub.Dropped()
	if err != nil {
		return // closed: its last count was taken by untrack
	}
	if n > last {
		c.dropped += uint64(n - last)
	}
	c.tracked[sub] = n
}

func (c *Conn) markConnected() { c.connOnce.Do(func() { close(c.connected) }) }

func (c *Conn) onConnect(nc *nats.Conn) {
	c.markConnected()
	c.log.Info("bus: connected to NATS", "url", nc.ConnectedUrlRedacted())
}

func (c *Conn) onReconnect(nc *nats.Conn) {
	// With RetryOnFailedConnect a first connection after failed attempts may
	// be reported as a reconnect.
	c.markConnected()
	c.reconnects.Add(1)
	c.log.Info("bus: reconnected to NATS", "url", nc.ConnectedUrlRedacted())
	c.notify(EventReconnected)
}

func (c *Conn) onDisconnect(_ *nats.Conn, err error) {
	if err != nil {
		c.lastErr.Store(&err)
	}
	if err == nil {
		c.log.Info("bus: disconnected from NATS")
	} else {
		c.log.Warn("bus: disconnected from NATS", "err", err)
	}
	c.notify(EventDisconnected)
}

// onReconnectErr keeps why a (re)connection attempt failed, for Connect.
func (c *Conn) onReconnectErr(_ *nats.Conn, err error) {
	if err != nil {
		c.lastErr.Store(&err)
	}
}

func (c *Conn) onClosed(*nats.Conn) {
	c.closeOnce.Do(func() { close(c.closed) })
	c.log.Info("bus: NATS connection closed")
}

// onError handles nats.go's asynchronous errors. Slow-consumer events are
// counted, their drops accounted, and a sample logged at most once per 10 s;
// other errors are logged under the same limit.
func (c *Conn) onError(_ *nats.Conn, sub *nats.Subscription, err error) {
	now := time.Now()
	if errors.Is(err, nats.ErrSlowConsumer) {
		c.slowEvents.Add(1)
		var subject string
		if sub != nil {
			subject = sub.Subject
			c.mu.Lock()
			c.observeLocked(sub)
			c.mu.Unlock()
		}
		if ok, suppressed := c.slowLog.allow(now); ok {
			c.log.Warn("bus: NATS slow consumer, messages dropped",
				"subject", subject,
				"events_total", c.slowEvents.Load(),
				"dropped_total", c.Dropped(),
				"suppressed", suppressed)
		}
		return
	}
	if ok, suppressed := c.errLog.allow(now); ok {
		var subject string
		if sub != nil {
			subject = sub.Subject
		}
		c.log.Warn("bus: NATS async error", "err", err, "subject", subject, "suppressed", suppressed)
	}
}

package venue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/streamhub/streamhub/internal/upstream"
)

// Defaults of Config's zero values that are the same for every venue.
const (
	DefaultBackoffMin   = 500 * time.Millisecond
	DefaultBackoffMax   = 30 * time.Second
	DefaultDialTimeout  = 10 * time.Second
	DefaultWriteTimeout = 10 * time.Second
	DefaultReadLimit    = 1 << 20
)

// Config configures a Connector. Every zero value means the documented
// default; the venue's own defaults come from its Adapter.
type Config struct {
	// Symbols are the instruments to subscribe to. Required.
	Symbols []Symbol
	// URL is the venue's WebSocket endpoint. Default: the venue's
	// production endpoint (Defaults.URL); tests point it at a fake venue.
	URL string
	// HeartbeatWindow is the longest silence of the venue before the feed
	// is stale and the connector reconnects. Default: the venue's.
	HeartbeatWindow time.Duration
	// MaxConnAge makes the connector reconnect by itself after this long
	// on one connection. Default: the venue's (Binance: 23h50m, ahead of
	// its 24 h disconnect); negative means never.
	MaxConnAge time.Duration
	// SendRate bounds the messages per second sent to the venue (x/time/rate),
	// with bursts of SendBurst. Default: the venue's.
	SendRate  float64
	SendBurst int
	// BackoffMin and BackoffMax bound the jittered exponential delay before
	// a reconnection. Default 500ms and 30s. A connection that published
	// at least one tick resets the delay to about BackoffMin.
	BackoffMin, BackoffMax time.Duration
	// DialTimeout bounds connecting and the WebSocket handshake. Default 10s.
	DialTimeout time.Duration
	// ReadLimit is the largest frame accepted, in bytes; a larger one ends
	// the connection. Default: the venue's (Coinbase 64 MiB, for level2
	// snapshots of deep books), else 1 MiB.
	ReadLimit int64
	// HTTPClient dials the venue. Default: http.DefaultClient.
	HTTPClient *http.Client
	// Now gives the time of new epochs. Default time.Now.
	Now func() time.Time
	// Logger receives connection events and rate-limited warnings.
	// Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults(d Defaults) Config {
	if c.URL == "" {
		c.URL = d.URL
	}
	if c.HeartbeatWindow <= 0 {
		c.HeartbeatWindow = d.HeartbeatWindow
	}
	if c.MaxConnAge == 0 {
		c.MaxConnAge = d.MaxConnAge
	}
	if c.SendRate <= 0 {
		c.SendRate = d.SendRate
	}
	if c.SendBurst <= 0 {
		c.SendBurst = max(d.SendBurst, 1)
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = DefaultBackoffMin
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	c.BackoffMax = max(c.BackoffMax, c.BackoffMin)
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = d.ReadLimit
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = DefaultReadLimit
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Connector keeps one venue's feed flowing into NATS: it connects,
// subscribes, publishes ticks, and reconnects with jittered backoff when
// the connection ends, goes stale or is refused.
//
// Run may be called once at a time; Stats may be called at any time.
type Connector struct {
	a       Adapter
	cfg     Config
	url     string
	subs    [][]byte
	pub     *tickPublisher
	stats   counters
	log     *limitedLog
	limiter *rate.Limiter
	running atomic.Bool
	ticked  bool // the current connection published a tick
}

// New returns a Connector for adapter a publishing through pub. It checks
// the configuration and builds the URL and subscribe messages now, so a
// mistake is reported before anything connects.
func New(pub upstream.Publisher, a Adapter, cfg Config) (*Connector, error) {
	cfg = cfg.withDefaults(a.Defaults())
	if len(cfg.Symbols) == 0 {
		return nil, fmt.Errorf("venue: %s: %w: no symbols", a.Name(), ErrSymbol)
	}
	if cfg.HeartbeatWindow <= 0 {
		return nil, fmt.Errorf("venue: %s: no heartbeat window", a.Name())
	}
	url, err := a.URL(cfg.URL, cfg.Symbols)
	if err != nil {
		return nil, fmt.Errorf("venue: %s: %w", a.Name(), err)
	}
	subs, err := a.Subscribe(cfg.Symbols)
	if err != nil {
		return nil, fmt.Errorf("venue: %s: %w", a.Name(), err)
	}
	c := &Connector{a: a, cfg: cfg, url: url, subs: subs,
		log:     &limitedLog{log: cfg.Logger},
		limiter: rate.NewLimiter(rate.Limit(cfg.SendRate), cfg.SendBurst)}
	c.pub = newTickPublisher(pub, a.Name(), cfg.Now, &c.stats, c.log)
	return c, nil
}

// Stats returns the connector's counts. Safe for concurrent use.
func (c *Connector) Stats() Stats { return c.stats.snapshot() }

// Venue returns the venue's subject token.
func (c *Connector) Venue() string { return c.a.Name() }

// Run keeps the feed flowing until ctx is done, then returns nil. It
// returns an error only if the Connector is already running.
func (c *Connector) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return upstream.ErrRunning
	}
	defer c.running.Store(false)
	log := c.cfg.Logger.With("venue", c.a.Name())
	bo := backoff{min: c.cfg.BackoffMin, max: c.cfg.BackoffMax}
	for ctx.Err() == nil {
		err := c.session(ctx)
		if ctx.Err() != nil {
			break
		}
		c.stats.disconnects.Add(1)
		var delay time.Duration
		var refused *RefusedError
		switch {
		case errors.Is(err, errMaxAge), errors.Is(err, ErrResync):
			log.Info("upstream: reconnecting", "reason", err)
			bo.reset()
		case errors.As(err, &refused):
			log.Error("upstream: subscription refused", "err", err)
			delay = bo.next()
		default:
			if c.ticked {
				bo.reset()
			}
			delay = bo.next()
			log.Warn("upstream: venue connection lost", "err", err, "retry_in", delay.Round(time.Millisecond))
		}
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	return nil
}

// errMaxAge ends a connection that reached MaxConnAge.
var errMaxAge = errors.New("venue: connection reached its maximum age")

// errStale ends a connection silent for longer than the heartbeat window.
var errStale = errors.New("venue: stale feed")

// session runs one connection until it fails or ctx is done. A watchdog
// goroutine, joined before session returns, ends the connection when the
// venue has sent nothing (no frame, no ping) for the heartbeat window or
// when the connection reaches MaxConnAge.
func (c *Connector) session(ctx context.Context) error {
	c.ticked = false
	var last atomic.Int64 // Unix ns of the last frame or ping from the venue
	touch := func() { last.Store(time.Now().UnixNano()) }
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	conn, resp, err := websocket.Dial(dctx, c.url, &websocket.DialOptions{
		HTTPClient: c.cfg.HTTPClient,
		// Called on this goroutine, inside Read; the pong is sent
		// automatically with the ping's payload.
		OnPingReceived: func(context.Context, []byte) bool { touch(); return true },
	})
	cancel()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return fmt.Errorf("venue: %s: connect: %w", c.a.Name(), err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(c.cfg.ReadLimit)
	c.stats.connects.Add(1)
	c.a.Reset()
	c.pub.lost() // what happened while we were away is unknown

	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	touch()
	born := time.Now()
	wg.Go(func() { c.watch(sctx, stop, &last, born) })

	for _, m := range c.subs {
		if err := c.limiter.Wait(sctx); err != nil {
			return c.ended(ctx, sctx, err)
		}
		wctx, cancel := context.WithTimeout(sctx, DefaultWriteTimeout)
		err := conn.Write(wctx, websocket.MessageText, m)
		cancel()
		if err != nil {
			return c.ended(ctx, sctx, fmt.Errorf("venue: %s: subscribe: %w", c.a.Name(), err))
		}
	}
	for {
		_, frame, err := conn.Read(sctx)
		if err != nil {
			return c.ended(ctx, sctx, fmt.Errorf("venue: %s: read: %w", c.a.Name(), err))
		}
		touch()
		c.stats.messages.Add(1)
		if err := c.a.Handle(frame, time.Now(), (*connOut)(c)); err != nil {
			if errors.Is(err, ErrMalformed) {
				c.stats.malformed.Add(1)
				c.log.warn("upstream: malformed frame dropped", "venue", c.a.Name(), "err", err, "frame", excerpt(frame))
				continue
			}
			var refused *RefusedError
			if errors.As(err, &refused) {
				c.stats.refused.Add(1)
			}
			return err
		}
	}
}

// ended returns why a connection ended: the watchdog's reason if it ended
// it, ctx's error at shutdown, else err.
func (c *Connector) ended(ctx, sctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if cause := context.Cause(sctx); errors.Is(cause, errStale) || errors.Is(cause, errMaxAge) {
		return cause
	}
	return err
}

// watch ends the connection (through stop) when the venue has been silent
// for the heartbeat window or the connection reached MaxConnAge.
func (c *Connector) watch(ctx context.Context, stop context.CancelCauseFunc, last *atomic.Int64, born time.Time) {
	t := time.NewTicker(max(c.cfg.HeartbeatWindow/8, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if silent := now.Sub(time.Unix(0, last.Load())); silent > c.cfg.HeartbeatWindow {
				c.stats.stale.Add(1)
				stop(fmt.Errorf("%w: nothing from %s for %v", errStale, c.a.Name(), silent.Round(time.Millisecond)))
				return
			}
			if c.cfg.MaxConnAge > 0 && now.Sub(born) >= c.cfg.MaxConnAge {
				stop(errMaxAge)
				return
			}
		}
	}
}

// connOut is the Out that a Connector gives its Adapter: a view of the
// Connector, used by the Run goroutine only.
type connOut Connector

func (o *connOut) Tick(sym Symbol, t *upstream.Tick) {
	o.pub.publish(sym, t)
	o.ticked = true
}

func (o *connOut) Gap(syms ...Symbol) {
	o.stats.gaps.Add(1)
	o.pub.lost(syms...)
}

// excerpt returns the start of a frame for a log record.
func excerpt(b []byte) string {
	const n = 200
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

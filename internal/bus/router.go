package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/subject"
)

// flushTimeout bounds waiting for the server to confirm a subscription.
const flushTimeout = 2 * time.Second

// ErrRouterClosed is returned by [Router.SetInterest] after [Router.Close].
var ErrRouterClosed = errors.New("bus: router closed")

// Handler receives every message of a Router's subscriptions, with the
// pattern whose subscription received it. It runs on the goroutine nats.go
// owns for that subscription: calls for one pattern are sequential and in
// order, calls for different patterns are concurrent. While it blocks, that
// pattern's messages pile up client-side and, past the pending limits, are
// dropped (counted by [Conn.Dropped]); it should hand the message on and
// return quickly. It may call the Router's methods: no lock of this
// package is held while it runs.
type Handler func(pattern string, m *nats.Msg)

// RouterConfig configures [NewRouter]. Every zero field means the default
// its comment states.
type RouterConfig struct {
	// PendingMsgs limits the messages buffered client-side per
	// subscription; past it nats.go drops them. Default: the Conn's
	// [ConnConfig.PendingMsgs].
	PendingMsgs int
	// PendingBytes is the same limit in bytes. Default: the Conn's
	// [ConnConfig.PendingBytes].
	PendingBytes int
	// Logger receives interest changes at Debug and subscription failures.
	// Nil discards them.
	Logger *slog.Logger
	// JetStream and Stored, when both set, route patterns of the stored
	// families (see [StoredStream]) through an ordered JetStream consumer
	// instead of a core subscription, so that each message arrives with
	// its stream sequence, the position a client resumes from.
	JetStream jetstream.JetStream
	Stored    StoredHandler
}

// Router keeps one NATS subscription per pattern that some client wants.
// The fan-out core calls [Router.SetInterest] when a pattern gains its first
// subscriber or loses its last; the Router subscribes or unsubscribes.
//
// Overlapping patterns are deliberately not merged: "ticks.>" and
// "ticks.*.BTC-USD" are two NATS subscriptions, and a message on
// "ticks.coinbase.BTC-USD" reaches the handler twice, once with each
// pattern (NATS semantics). The hub delivers each copy to the clients of
// that pattern only.
//
// All methods are safe for concurrent use. SetInterest calls are applied in
// the order they take the Router's lock; none blocks on the network.
type Router struct {
	conn         *Conn
	h            Handler
	pendingMsgs  int
	pendingBytes int
	log          *slog.Logger
	consumeLog   sampler // stored consumers' interruptions, see consume
	js           jetstream.JetStream
	stored       StoredHandler
	epochs       map[string]uint64 // stream name → epoch; guarded by mu

	// mu serialises interest changes, so that the NATS subscription of a
	// pattern always reflects the last SetInterest call for it.
	mu     sync.Mutex
	subs   map[string]*route
	closed bool
}

// route is one pattern's subscription. off is set before unsubscribing, so
// that a message nats.go had already queued is not handed on after
// SetInterest(pattern, false) returned.
type route struct {
	sub      *nats.Subscription
	consumer jetstream.ConsumeContext // instead of sub, for stored patterns
	cons     jetstream.Consumer
	stream   string
	pos      *storedPos // stored patterns: where delivery stands
	off      atomic.Bool
}

// NewRouter returns a Router that subscribes on c and hands every message to
// h. It makes no subscription until [Router.SetInterest].
func NewRouter(c *Conn, h Handler, cfg RouterConfig) *Router {
	msgs, bytes := c.pendingLimits()
	if cfg.PendingMsgs > 0 {
		msgs = cfg.PendingMsgs
	}
	if cfg.PendingBytes > 0 {
		bytes = cfg.PendingBytes
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Router{
		conn:         c,
		h:            h,
		pendingMsgs:  msgs,
		pendingBytes: bytes,
		log:          log,
		subs:         make(map[string]*route),
		js:           cfg.JetStream,
		stored:       cfg.Stored,
		epochs:       make(map[string]uint64),
		consumeLog:   sampler{every: time.Second},
	}
}

// SetInterest makes (interested) or removes (!interested) the NATS
// subscription of pattern. It is idempotent: true for an active pattern and
// false for an unknown one do nothing. It returns an error for an invalid
// pattern (wrapping [subject.ErrInvalid]), after [Router.Close]
// ([ErrRouterClosed]), or when nats.go refuses the subscription (for
// example on a closed connection); after an error the pattern is not
// active, and a later true retries. While the connection is reconnecting,
// changes are buffered by nats.go and sent once it is back.
func (r *Router) SetInterest(pattern string, interested bool) error {
	if err := subject.ValidatePattern(pattern); err != nil {
		return fmt.Errorf("bus: set interest: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("bus: set interest in %q: %w", pattern, ErrRouterClosed)
	}
	rt, active := r.subs[pattern]
	if interested == active {
		return nil
	}
	if !interested {
		delete(r.subs, pattern)
		if err := r.unsubscribe(rt); err != nil {
			return fmt.Errorf("bus: unsubscribe %q: %w", pattern, err)
		}
		r.log.Debug("bus: interest removed", "pattern", pattern)
		return nil
	}
	rt, err := r.subscribe(pattern)
	if err != nil {
		r.log.Warn("bus: subscribe failed", "pattern", pattern, "err", err)
		return fmt.Errorf("bus: subscribe %q: %w", pattern, err)
	}
	r.subs[pattern] = rt
	r.log.Debug("bus: interest added", "pattern", pattern)
	return nil
}

// subscribe makes pattern's subscription with the Router's pending limits.
// r.mu must be held.
func (r *Router) subscribe(pattern string) (*route, error) {
	if stream, ok := StoredStream(pattern); ok && r.js != nil && r.stored != nil {
		return r.consume(stream, pattern)
	}
	rt := &route{}
	h := r.h
	sub, err := r.conn.nc.Subscribe(pattern, func(m *nats.Msg) {
		if rt.off.Load() {
			return
		}
		h(pattern, m)
	})
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(r.pendingMsgs, r.pendingBytes); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("set pending limits: %w", err)
	}
	rt.sub = sub
	r.conn.track(sub)
	// Wait until the server has the subscription, so that whoever asked
	// for it (a client's subscribe, answered "ok" next) misses nothing
	// published from then on. While disconnected, nats.go resends it on
	// reconnect; do not wait for that.
	if r.conn.nc.IsConnected() {
		if err := r.conn.nc.FlushTimeout(flushTimeout); err != nil {
			r.log.Warn("bus: subscription not confirmed", "pattern", pattern, "err", err)
		}
	}
	return rt, nil
}

// unsubscribe removes rt's subscription, taking its drop count first.
// Unsubscribing on a closed connection is not an error: the server dropped
// the subscription with the connection. r.mu must be held.
func (r *Router) unsubscribe(rt *route) error {
	rt.off.Store(true)
	if rt.consumer != nil {
		return r.stopConsumer(rt)
	}
	r.conn.untrack(rt.sub)
	err := rt.sub.Unsubscribe()
	if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
		return nil
	}
	return err
}

// Patterns returns the patterns with an active subscription, sorted.
func (r *Router) Patterns() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.subs))
	for p := range r.subs {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Close removes every subscription; later SetInterest calls return
// [ErrRouterClosed]. It does not close the Conn. It is idempotent and
// returns the first unsubscribe error, if any.
func (r *Router) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	var first error
	for p, rt := range r.subs {
		if err := r.unsubscribe(rt); err != nil && first == nil {
			first = fmt.Errorf("bus: close router: unsubscribe %q: %w", p, err)
		}
	}
	clear(r.subs)
	return first
}

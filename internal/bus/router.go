package bus

import (
	"cmp"
	"context"
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

// ErrRouterClosed is returned by [Router.Ready] after [Router.Close].
var ErrRouterClosed = errors.New("bus: router closed")

// Interest is the set of patterns some client wants, as the fan-out core
// keeps it (fanout.Hub implements it). Its methods must be safe for
// concurrent use.
type Interest interface {
	// Interest returns the patterns, sorted, the set's version (growing
	// with every change) and a channel closed at the next change.
	Interest() (patterns []string, version uint64, changed <-chan struct{})
	// InterestVersion returns the current version: a pattern added
	// before the call is in the set of that version.
	InterestVersion() uint64
}

// Copy says how a core NATS message reached a [Handler].
//
// A subject can be matched by several of the Router's subscriptions at once
// (two overlapping patterns, or while a wider pattern takes over from
// narrower ones). Exactly one of them owns the subject: the oldest active
// one. Its copies are primary; the copies of the others are discarded,
// except those of a subscription being retired, which are handed on as
// non-primary while it drains so that nothing it had already received is
// lost. Around such a handover a message may therefore reach the handler
// twice, once as each kind of copy; the handler tells them apart by the
// publisher's position (Sh-Seq), and without one keeps primary copies only.
type Copy struct {
	// Primary is set on the copy of the subscription that owns the subject.
	Primary bool
}

// Handler receives the core NATS messages of a Router's subscriptions. It
// runs on the goroutine nats.go owns for the subscription that received the
// message: messages of one subscription arrive in order, those of different
// subscriptions concurrently. While it blocks, that subscription's messages
// pile up client-side and, past the pending limits, are dropped (counted by
// [Conn.Dropped]); it should hand the message on and return quickly. No
// lock of this package is held while it runs.
type Handler func(m *nats.Msg, c Copy)

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
	// JetStream and Stored, when both set, deliver the stored families (see
	// [StoredStream]) through one ordered JetStream consumer per stream
	// instead of core subscriptions, so that each message arrives with its
	// stream sequence, the position a client resumes from.
	JetStream jetstream.JetStream
	Stored    StoredHandler
	// OnHandover, if set, is called on the reconciler goroutine when a
	// subscription that shares subjects with an active one is retired,
	// before its copies become non-primary: messages without a publisher
	// position that it alone had received may be lost, and the handler
	// can tell its clients so (a new epoch, for example).
	OnHandover func()
	// RetryInterval is how soon a subscription that failed is retried.
	// Default 1 s.
	RetryInterval time.Duration
	// DrainTimeout bounds how long a retired subscription may take to hand
	// on what it had received. Default 2 s.
	DrainTimeout time.Duration
}

// Router keeps the NATS subscriptions that the wanted patterns need, and
// nothing more. It reads the wanted set from an [Interest] on a goroutine
// of its own (the reconciler), holding no lock of the caller's, and makes
// the subscriptions match it:
//
//   - Core NATS: one subscription per covering pattern. A wanted pattern
//     that a wider wanted one covers ("ticks.coinbase.*" under "ticks.>")
//     gets none of its own, so each message is received once. Overlapping
//     patterns of which neither covers the other both subscribe; the older
//     one owns their common subjects (see [Copy]).
//   - Stored families: one ordered JetStream consumer per stream (CHAIN,
//     JOBS) while any wanted pattern reaches into it. Their subjects are
//     never delivered through core subscriptions.
//
// A new subscription is made and confirmed before the one it replaces is
// retired. Messages go to the handlers, which hand them to the fan-out
// core's single matcher.
//
// All methods are safe for concurrent use.
type Router struct {
	conn         *Conn
	h            Handler
	stored       StoredHandler
	js           jetstream.JetStream
	pendingMsgs  int
	pendingBytes int
	log          *slog.Logger
	cfg          RouterConfig

	epochMu sync.Mutex
	epochs  map[string]uint64 // stream name → epoch

	// Written by the reconciler only; also read under mu by others.
	mu        sync.Mutex
	active    map[string]*route // core subscriptions by pattern
	consumers map[string]*route // stored consumers by stream name
	failed    map[string]error  // covering pattern or stream → why it failed
	src       Interest          // set by Start
	wanted    map[string]bool   // the wanted set the last pass applied
	applied   uint64            // its version
	pass      chan struct{}     // closed at the end of each reconcile pass
	closed    bool

	// Owned by the reconciler goroutine.
	nextSeq  uint64
	retiring []*route // routes still draining

	draining   atomic.Int32 // routes handing on what they had received
	drains     sync.WaitGroup
	drainDone  chan struct{} // a drain ended: refresh the routes' infos
	resume     chan struct{} // ResumeStored asked for fresh stored consumers
	consumeLog sampler       // stored consumers' interruptions, see startConsumer
	start      sync.Once
	stop       chan struct{}
	done       chan struct{}
}

// route is one core subscription or one stored consumer.
type route struct {
	pattern string // the core pattern, or the stream's subjects
	seq     uint64 // creation order: the oldest active route owns a subject
	sub     *nats.Subscription
	off     atomic.Bool // set before unsubscribing: nothing more is handed on
	info    atomic.Pointer[routeInfo]
	drained chan struct{} // closed once a retired route has handed on all it had

	// Stored consumers.
	consumer jetstream.ConsumeContext
	cons     jetstream.Consumer
	stream   string
	pos      *storedPos // where the stream's delivery stands

	// The owner cache, used only by the route's own delivery goroutine.
	cacheFor *routeInfo
	cache    map[string]bool
}

// routeInfo is a route's place among the others, replaced (never
// modified) at each reconcile pass.
type routeInfo struct {
	draining bool
	older    []*route // older active routes sharing subjects with this one
	// wait are the retiring routes sharing subjects with this one: a
	// message on such a subject waits until they have handed on what they
	// had, so that a subject's messages stay in order across the handover.
	wait []*route
}

// ownerCacheMax bounds a route's subject → owner cache.
const ownerCacheMax = 4096

// NewRouter returns a Router that subscribes on c and hands core messages
// to h. It subscribes nothing until [Router.Start].
func NewRouter(c *Conn, h Handler, cfg RouterConfig) *Router {
	msgs, bytes := c.pendingLimits()
	if cfg.PendingMsgs > 0 {
		msgs = cfg.PendingMsgs
	}
	if cfg.PendingBytes > 0 {
		bytes = cfg.PendingBytes
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Router{
		conn:         c,
		h:            h,
		stored:       cfg.Stored,
		js:           cfg.JetStream,
		pendingMsgs:  msgs,
		pendingBytes: bytes,
		log:          log,
		cfg:          cfg,
		epochs:       make(map[string]uint64),
		active:       make(map[string]*route),
		consumers:    make(map[string]*route),
		failed:       make(map[string]error),
		pass:         make(chan struct{}),
		drainDone:    make(chan struct{}, 1),
		resume:       make(chan struct{}, 1),
		consumeLog:   sampler{every: time.Second},
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
}

// Start starts the reconciler, which follows src until [Router.Close]. Only
// the first call has an effect.
func (r *Router) Start(src Interest) {
	r.start.Do(func() {
		r.mu.Lock()
		r.src = src
		r.mu.Unlock()
		go r.run(src)
	})
}

func (r *Router) run(src Interest) {
	defer close(r.done)
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		wanted, version, changed := src.Interest()
		if r.reconcile(wanted, version) {
			retry.Reset(r.cfg.RetryInterval)
		}
		select {
		case <-changed:
		case <-retry.C:
		case <-r.drainDone:
		case <-r.resume:
			r.resumeStored()
		case <-r.stop:
			return
		}
		retry.Stop()
	}
}

// reconcile makes the subscriptions match wanted and reports whether some
// failed (to be retried).
func (r *Router) reconcile(wanted []string, version uint64) (failedSome bool) {
	var core []string
	streams := make(map[string]bool)
	for _, p := range wanted {
		if subject.ValidatePattern(p) != nil {
			continue // the core validated it; nothing to subscribe if not
		}
		if r.storedOn() {
			for _, f := range storedFamilies {
				if subject.Intersects(p, f.subjects) {
					streams[f.stream] = true
				}
			}
			if _, ok := StoredStream(p); ok {
				continue
			}
		}
		core = append(core, p)
	}
	failed := make(map[string]error)

	// Make before break: the new subscriptions first.
	next := make(map[string]*route)
	for _, p := range covering(core) {
		if rt := r.active[p]; rt != nil {
			next[p] = rt
			continue
		}
		rt, err := r.subscribe(p)
		if err != nil {
			r.log.Warn("bus: subscribe failed", "pattern", p, "err", err)
			failed[p] = fmt.Errorf("bus: subscribe %q: %w", p, err)
			continue
		}
		next[p] = rt
		r.log.Debug("bus: subscribed", "pattern", p)
	}
	routes := make([]*route, 0, len(next))
	for _, rt := range next {
		routes = append(routes, rt)
	}
	slices.SortFunc(routes, func(a, b *route) int { return cmp.Compare(a.seq, b.seq) })

	// Retire what is no longer needed: drained if its subjects live on in
	// another subscription, dropped at once otherwise.
	shared := func(rt *route) bool {
		return slices.ContainsFunc(routes, func(o *route) bool { return subject.Intersects(o.pattern, rt.pattern) })
	}
	var retired, drain []*route
	for p, rt := range r.active {
		if next[p] == nil {
			retired = append(retired, rt)
			if shared(rt) {
				drain = append(drain, rt)
			}
		}
	}
	if len(drain) > 0 && r.cfg.OnHandover != nil {
		r.cfg.OnHandover()
	}
	// Mark the retiring routes first, then tell the routes that take over
	// their subjects to wait for them, then stop their flow from the
	// server: at every moment some route hands on each subject's messages.
	r.retiring = slices.DeleteFunc(r.retiring, func(rt *route) bool { return isClosed(rt.drained) })
	for _, rt := range drain {
		rt.drained = make(chan struct{})
		r.draining.Add(1)
		rt.info.Store(&routeInfo{draining: true})
		r.retiring = append(r.retiring, rt)
	}
	for i, rt := range routes {
		info := &routeInfo{}
		for _, o := range routes[:i] {
			if subject.Intersects(o.pattern, rt.pattern) {
				info.older = append(info.older, o)
			}
		}
		for _, o := range r.retiring {
			if subject.Intersects(o.pattern, rt.pattern) {
				info.wait = append(info.wait, o)
			}
		}
		if cur := rt.info.Load(); cur == nil || !slices.Equal(cur.older, info.older) || !slices.Equal(cur.wait, info.wait) {
			rt.info.Store(info)
		}
	}
	for _, rt := range retired {
		if slices.Contains(drain, rt) {
			r.retire(rt)
		} else {
			r.unsubscribe(rt)
		}
		r.log.Debug("bus: unsubscribed", "pattern", rt.pattern)
	}

	consumers := make(map[string]*route)
	for _, f := range storedFamilies {
		rt := r.consumers[f.stream]
		switch {
		case streams[f.stream] && rt == nil:
			var err error
			if rt, err = r.consume(f.stream, f.subjects); err != nil {
				r.log.Warn("bus: stored consumer failed", "stream", f.stream, "err", err)
				failed[f.stream] = fmt.Errorf("bus: consume %s: %w", f.stream, err)
				continue
			}
			consumers[f.stream] = rt
		case !streams[f.stream] && rt != nil:
			r.stopConsumer(rt)
		case rt != nil:
			consumers[f.stream] = rt
		}
	}

	r.mu.Lock()
	r.active, r.consumers, r.failed, r.applied = next, consumers, failed, version
	r.wanted = make(map[string]bool, len(wanted))
	for _, p := range wanted {
		r.wanted[p] = true
	}
	close(r.pass)
	r.pass = make(chan struct{})
	r.mu.Unlock()
	return len(failed) > 0
}

// covering returns the patterns of ps that no other pattern of ps covers,
// sorted and without duplicates.
func covering(ps []string) []string {
	ps = slices.Clone(ps)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	out := ps[:0:0]
	for i, p := range ps {
		covered := false
		for j, q := range ps {
			if i != j && subject.Subset(p, q) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}

// storedOn reports whether the stored families go through JetStream.
func (r *Router) storedOn() bool { return r.js != nil && r.stored != nil }

// Ready waits until the Router's subscriptions cover pattern, so that
// every message published from then on that pattern matches reaches the
// handlers. The caller must have made pattern wanted first (subscribed it
// in the fan-out core), and the Router must be started: only a pass that
// read the wanted set after that counts. It returns the error of a failed subscription
// covering pattern (for example [ErrNotConnected] for a stored family while
// NATS is unreachable; the reconciler keeps retrying), [ErrRouterClosed],
// or ctx's error.
func (r *Router) Ready(ctx context.Context, pattern string) error {
	if err := subject.ValidatePattern(pattern); err != nil {
		return fmt.Errorf("bus: ready: %w", err)
	}
	r.mu.Lock()
	src := r.src
	r.mu.Unlock()
	var since uint64
	if src != nil {
		since = src.InterestVersion()
	}
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return fmt.Errorf("bus: ready %q: %w", pattern, ErrRouterClosed)
		}
		ok, err := false, error(nil)
		if src != nil && r.applied >= since {
			ok, err = r.coveredLocked(pattern)
		}
		pass := r.pass
		r.mu.Unlock()
		if ok || err != nil {
			return err
		}
		select {
		case <-pass:
		case <-ctx.Done():
			return fmt.Errorf("bus: ready %q: %w", pattern, ctx.Err())
		}
	}
}

// coveredLocked reports whether the last pass applied pattern and the
// active routes cover it, or the error of a failed route that would.
// r.mu must be held.
func (r *Router) coveredLocked(pattern string) (bool, error) {
	if !r.wanted[pattern] {
		return false, nil
	}
	if r.storedOn() {
		for _, f := range storedFamilies {
			if !subject.Intersects(pattern, f.subjects) {
				continue
			}
			if err := r.failed[f.stream]; err != nil {
				return false, err
			}
			if r.consumers[f.stream] == nil {
				return false, nil
			}
		}
		if _, ok := StoredStream(pattern); ok {
			return true, nil
		}
	}
	for p, err := range r.failed {
		if subject.Subset(pattern, p) {
			return false, err
		}
	}
	for p := range r.active {
		if subject.Subset(pattern, p) {
			return true, nil
		}
	}
	return false, nil
}

// Patterns returns what the Router subscribes: the core patterns, and the
// subjects of each stream it consumes, sorted.
func (r *Router) Patterns() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.active)+len(r.consumers))
	for p := range r.active {
		out = append(out, p)
	}
	for _, rt := range r.consumers {
		out = append(out, rt.pattern)
	}
	slices.Sort(out)
	return out
}

// Close stops the reconciler and removes every subscription; Ready then
// returns [ErrRouterClosed]. It does not close the Conn. It is idempotent.
func (r *Router) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	close(r.pass) // wake Ready callers
	r.pass = make(chan struct{})
	r.mu.Unlock()
	close(r.stop)
	started := true
	r.start.Do(func() { started = false })
	if started {
		<-r.done
	}
	r.drains.Wait()
	for _, rt := range r.active {
		r.unsubscribe(rt)
	}
	for _, rt := range r.consumers {
		r.stopConsumer(rt)
	}
	r.mu.Lock()
	clear(r.active)
	clear(r.consumers)
	r.mu.Unlock()
	return nil
}

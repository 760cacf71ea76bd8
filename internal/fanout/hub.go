package fanout

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by the hub and its clients.
var (
	ErrHubClosed            = errors.New("fanout: hub closed")
	ErrClientClosed         = errors.New("fanout: client closed")
	ErrTooManySubscriptions = errors.New("fanout: too many subscriptions")
	ErrNotSubscribed        = errors.New("fanout: not subscribed")
	ErrInvalidOption        = errors.New("fanout: invalid subscription option")
)

// Config configures a Hub. The zero value of every field means the default
// documented on it.
type Config struct {
	// MaxQueueMessages bounds each client's queue in messages. Default 4096.
	MaxQueueMessages int
	// MaxQueueBytes bounds each client's queue in frame bytes. Default 1 MiB.
	MaxQueueBytes int
	// MaxBatchMessages caps how many messages one WriteBatch carries.
	// Default 256.
	MaxBatchMessages int
	// MaxBatchBytes caps a batch's frame bytes (a single larger message is
	// still sent alone). Default 256 KiB.
	MaxBatchBytes int
	// WriteTimeout is the deadline of each WriteBatch; missing it closes the
	// client with ReasonWriteFailed. It is how long a client may stop
	// reading before it is disconnected, whatever its policy. Default 10 s.
	WriteTimeout time.Duration
	// CloseGrace is how long a write in flight may take to finish after the
	// client is closed (see Client.Close). Default 1 s.
	CloseGrace time.Duration
	// MaxSubscriptions bounds the subscriptions of one client. Default 128.
	MaxSubscriptions int
	// PrefixPolicies give the overflow policy of subscriptions that did not
	// choose one, by the longest matching subject prefix. Nil means
	// DefaultPrefixPolicies.
	PrefixPolicies []PrefixPolicy
	// FallbackPolicy applies to subjects no prefix matches. Default DropOldest.
	FallbackPolicy Policy
	// MatchCacheSize bounds the subject → subscriptions cache. Default 4096.
	MatchCacheSize int
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxQueueMessages, 4096)
	def(&c.MaxQueueBytes, 1<<20)
	def(&c.MaxBatchMessages, 256)
	def(&c.MaxBatchBytes, 256<<10)
	def(&c.MaxSubscriptions, 128)
	def(&c.MatchCacheSize, 4096)
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.CloseGrace <= 0 {
		c.CloseGrace = time.Second
	}
	if c.PrefixPolicies == nil {
		c.PrefixPolicies = DefaultPrefixPolicies
	}
	if c.FallbackPolicy == PolicyDefault {
		c.FallbackPolicy = DropOldest
	}
	return c
}

// Hub matches published messages against client subscriptions and queues
// them for each client. All methods are safe for concurrent use.
type Hub struct {
	cfg Config
	reg *registry

	// interestMu serializes subscription changes, and guards changed: the
	// channel closed (and replaced) when the set of wanted patterns changes.
	interestMu      sync.Mutex
	changed         chan struct{}
	interestVersion uint64 // counts the changes of the wanted set

	mu      sync.Mutex // guards clients and closed
	clients map[*Client]struct{}
	closed  bool
	nextID  atomic.Uint64

	published   atomic.Uint64
	disconnects [numReasons]atomic.Uint64
	retired     clientCounters // counters of clients that have left
}

// New returns a Hub configured by cfg.
func New(cfg Config) *Hub {
	cfg = cfg.withDefaults()
	return &Hub{
		cfg:     cfg,
		reg:     newRegistry(cfg.MatchCacheSize),
		changed: make(chan struct{}),
		clients: make(map[*Client]struct{}),
	}
}

// Config returns the hub's configuration with defaults filled in.
func (h *Hub) Config() Config { return h.cfg }

// Publish queues m for every subscription whose pattern matches m.Subject:
// the one matching engine, whichever upstream subscription brought m. It
// never blocks on a client. m must not be modified afterwards.
func (h *Hub) Publish(m *Message) {
	h.deliver(m, h.reg.match(m.Subject))
}

// Interested reports whether some subscription's pattern matches the
// literal subject, so that an adapter can skip decoding and encoding a
// message nobody wants. It shares Publish's match cache.
func (h *Hub) Interested(subject string) bool {
	return len(h.reg.match(subject)) > 0
}

// Interest returns the patterns that have at least one subscription,
// sorted, the version of that set (it grows with every change), and a
// channel closed at the next change. It is how an adapter learns what to
// subscribe upstream: it reads the set, makes its upstream subscriptions
// match it, and waits for the channel, all on its own goroutine, never
// under a Hub lock. Safe for concurrent use.
func (h *Hub) Interest() (patterns []string, version uint64, changed <-chan struct{}) {
	h.interestMu.Lock()
	defer h.interestMu.Unlock()
	return h.reg.patternList(), h.interestVersion, h.changed
}

// InterestVersion returns the version of the wanted set: a pattern
// subscribed before the call is in every set of this version or later
// (until unsubscribed). Safe for concurrent use.
func (h *Hub) InterestVersion() uint64 {
	h.interestMu.Lock()
	defer h.interestMu.Unlock()
	return h.interestVersion
}

// interestChangedLocked wakes whoever waits on the interest channel.
// h.interestMu must be held.
func (h *Hub) interestChangedLocked() {
	h.interestVersion++
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *Hub) deliver(m *Message, subs []*subscription) {
	h.published.Add(1)
	if m.Trace != nil {
		start := time.Now()
		defer func() { m.Trace.FannedOut(start, time.Now(), len(subs)) }()
	}
	if len(subs) == 0 {
		return
	}
	def := policyFor(h.cfg.PrefixPolicies, m.Subject, h.cfg.FallbackPolicy)
	for _, s := range subs {
		s.client.enqueue(m, s, def)
	}
}

// Register adds a client that writes to sink in encoding enc. The caller
// owns the client: it must call Start (or Run) once, and wait for its end.
func (h *Hub) Register(sink Sink, enc Encoding) (*Client, error) {
	if enc >= NumEncodings {
		return nil, fmt.Errorf("fanout: unknown encoding %d", enc)
	}
	c := newClient(h, sink, enc, h.nextID.Add(1))
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrHubClosed
	}
	h.clients[c] = struct{}{}
	return c, nil
}

// Close closes every client with ReasonShutdown and refuses new ones. It
// does not wait for the writers: their owners do.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	clients := make([]*Client, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	h.mu.Unlock()
	for _, c := range clients {
		c.Close(ReasonShutdown)
	}
}

// NumClients returns the number of registered clients.
func (h *Hub) NumClients() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// NumPatterns returns the number of distinct patterns with subscribers.
func (h *Hub) NumPatterns() int { return h.reg.numPatterns() }

// subscribe adds or replaces c's subscription to pattern.
func (h *Hub) subscribe(c *Client, s *subscription) error {
	h.interestMu.Lock()
	defer h.interestMu.Unlock()
	if c.closing.Load() {
		return ErrClientClosed
	}
	old := c.subs[s.pattern]
	if old == nil && len(c.subs) >= h.cfg.MaxSubscriptions {
		return fmt.Errorf("%w: the limit is %d", ErrTooManySubscriptions, h.cfg.MaxSubscriptions)
	}
	if old != nil {
		// Replace in place: first hand old's place in line over to s, then
		// swap the two in the registry in one step. A publisher holding a
		// registry snapshot from before the swap still reaches old, and is
		// sent on to s; no snapshot holds both.
		c.handOver(old, s)
		h.reg.replace(old, s)
		c.subs[s.pattern] = s
		return nil
	}
	if h.reg.add(s) {
		h.interestChangedLocked()
	}
	c.subs[s.pattern] = s
	return nil
}

// unsubscribe removes c's subscription to pattern.
func (h *Hub) unsubscribe(c *Client, pattern string) error {
	h.interestMu.Lock()
	defer h.interestMu.Unlock()
	s := c.subs[pattern]
	if s == nil {
		return fmt.Errorf("%w: %q", ErrNotSubscribed, pattern)
	}
	delete(c.subs, pattern)
	h.dropSub(s)
	c.handOver(s, nil)
	return nil
}

func (h *Hub) dropSub(s *subscription) {
	if h.reg.remove(s) {
		h.interestChangedLocked()
	}
}

// unregister removes a closed client and everything it subscribed.
func (h *Hub) unregister(c *Client) {
	h.interestMu.Lock()
	for p, s := range c.subs {
		delete(c.subs, p)
		h.dropSub(s)
	}
	h.interestMu.Unlock()

	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
	h.retired.add(&c.counters)
	if r := c.Reason(); r < numReasons {
		h.disconnects[r].Add(1)
	}
}

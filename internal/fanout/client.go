package fanout

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhub/streamhub/internal/subject"
)

// SubOptions are a subscription's per-client options.
type SubOptions struct {
	// Policy is the overflow policy; PolicyDefault uses the hub's per-prefix
	// default for each message's subject.
	Policy Policy
	// MaxRate, when positive, caps deliveries per subject at this many
	// messages per second. Messages arriving faster are conflated into the
	// newest, which is delivered when the subject's next slot opens, so the
	// client always ends on the newest value and never sees a stale backlog.
	// It implies KeepLatest: combining it with DropOldest or Disconnect is
	// an ErrInvalidOption. Critical messages are never held back.
	MaxRate float64
}

// subscription is one client's interest in one pattern. Its options never
// change: changing them replaces it (see Client.handOver); only retired and
// successor are set, once, under the client's mu.
type subscription struct {
	client  *Client
	pattern string
	policy  Policy
	// pace is set when the subscription has a max rate; see pacer.
	pace *pacer
	// retired is set, under the client's mu, when the subscription was
	// replaced (successor is the replacement) or removed (successor is
	// nil): a publisher that still reaches it sends the message on to the
	// successor, or drops it. See Client.handOver.
	retired   bool
	successor *subscription
	// hold, when set, holds live messages aside until Release (see
	// SubscribeHeld); nil for ordinary subscriptions.
	hold *hold
}

// Client is one subscriber: its subscriptions, its bounded queue and its
// writer. Subscribe, Unsubscribe, Close and the accessors are safe for
// concurrent use; the owner calls Start once (or Run, which is Start then
// Wait).
//
// The writer is a goroutine that exists only while there is something to
// write: the first message queued for an idle client starts it, and it
// ends after writerLinger without work. An idle connection therefore costs
// no goroutine of its own, and a busy one is not restarted per message.
type Client struct {
	hub  *Hub
	sink Sink
	enc  Encoding
	id   uint64

	// subs is guarded by hub.interestMu.
	subs map[string]*subscription

	mu       sync.Mutex // guards the fields below; never held across I/O
	q        queue
	signaled bool                // a wake-up is pending (or a writer starting); no need for another
	writing  bool                // a writer goroutine runs (or is starting)
	started  bool                // Start was called: writers may run
	drained  chan struct{}       // closed when the writer next takes from q; nil until WaitRoom asks
	pacers   map[*pacer]struct{} // the pacers holding messages
	timer    *time.Timer         // releases paced messages when a slot opens
	timerAt  time.Time           // when timer fires; zero when not armed

	graceMu    sync.Mutex  // guards the fields below
	grace      *time.Timer // cancels ctx once a closed client's write stops moving; see Close
	graceStart time.Time   // when Close started the grace
	graceMark  uint64      // the sink's Written when the grace was last checked
	graceOver  bool        // the writer has finished: the grace must not re-arm

	// deadline closes the client when a WriteBatch outlives WriteTimeout.
	// It is owned by the writer: armed before each write, stopped after.
	deadline *time.Timer
	// batch is the writer's, reused by each writer goroutine in turn.
	batch Batch

	notify   chan struct{} // capacity 1; wakes the writer
	done     chan struct{} // closed once, when closing is set
	closing  atomic.Bool
	reason   atomic.Uint32 // a CloseReason, set before done is closed
	ctx      context.Context
	cancel   context.CancelFunc
	ran      atomic.Bool
	finished chan struct{} // closed once the client is shut down and the sink closed

	counters clientCounters
}

func newClient(h *Hub, sink Sink, enc Encoding, id uint64) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		hub:      h,
		sink:     sink,
		enc:      enc,
		id:       id,
		subs:     make(map[string]*subscription),
		q:        newQueue(h.cfg.MaxQueueMessages, h.cfg.MaxQueueBytes),
		notify:   make(chan struct{}, 1),
		done:     make(chan struct{}),
		finished: make(chan struct{}),
		ctx:      ctx,
		cancel:   cancel,
	}
}

// ID returns the client's hub-unique id.
func (c *Client) ID() uint64 { return c.id }

// Encoding returns the wire encoding the client receives.
func (c *Client) Encoding() Encoding { return c.enc }

// Subscribe subscribes the client to pattern, or replaces the options of its
// existing subscription to pattern.
func (c *Client) Subscribe(pattern string, opts SubOptions) error {
	s, err := c.newSubscription(pattern, opts)
	if err != nil {
		return err
	}
	return c.hub.subscribe(c, s)
}

func (c *Client) newSubscription(pattern string, opts SubOptions) (*subscription, error) {
	if err := subject.ValidatePattern(pattern); err != nil {
		return nil, err
	}
	s := &subscription{client: c, pattern: pattern, policy: opts.Policy}
	switch {
	case opts.Policy > Disconnect:
		return nil, fmt.Errorf("%w: unknown policy %d", ErrInvalidOption, opts.Policy)
	case math.IsNaN(opts.MaxRate) || math.IsInf(opts.MaxRate, 0) || opts.MaxRate < 0:
		return nil, fmt.Errorf("%w: max rate %v", ErrInvalidOption, opts.MaxRate)
	case opts.MaxRate > 0 && opts.Policy != PolicyDefault && opts.Policy != KeepLatest:
		return nil, fmt.Errorf("%w: a max rate needs keep-latest, not %v", ErrInvalidOption, opts.Policy)
	case opts.MaxRate > 0:
		s.policy = KeepLatest
		s.pace = newPacer(time.Duration(float64(time.Second) / opts.MaxRate))
	}
	return s, nil
}

// Unsubscribe removes the client's subscription to pattern. Messages
// already queued are still delivered.
func (c *Client) Unsubscribe(pattern string) error { return c.hub.unsubscribe(c, pattern) }

// Subscriptions returns the number of the client's subscriptions.
func (c *Client) Subscriptions() int {
	c.hub.interestMu.Lock()
	defer c.hub.interestMu.Unlock()
	return len(c.subs)
}

// Close closes the client for reason. It never blocks: it marks the client
// and wakes the writer, which then unsubscribes everything and closes the
// sink, telling the client why. Only the first call has an effect.
//
// A write in flight gets CloseGrace to finish first, so that a client that
// is still reading receives its last batch and then a close frame saying
// why (4001 for a slow consumer, which tells it to resume) instead of a
// torn connection. When the sink reports its progress (ProgressReporter),
// the grace lasts as long as bytes keep moving, up to WriteTimeout, so a
// slow reader behind full socket buffers hears why too; a client that has
// stopped reading is torn down after CloseGrace without progress. Only a
// write that failed or missed its deadline (ReasonWriteFailed) is
// cancelled at once: it is stuck already.
func (c *Client) Close(reason CloseReason) {
	if !c.closing.CompareAndSwap(false, true) {
		return
	}
	c.reason.Store(uint32(reason))
	if reason == ReasonWriteFailed {
		c.cancel()
	} else {
		c.graceMu.Lock()
		c.graceStart, c.graceMark = time.Now(), c.written()
		c.grace = time.AfterFunc(c.hub.cfg.CloseGrace, c.graceEnded)
		c.graceMu.Unlock()
	}
	close(c.done)
	// A running writer sees done; an idle client needs one to shut down.
	c.mu.Lock()
	spawn := c.started && !c.writing
	c.writing = c.writing || spawn
	c.mu.Unlock()
	if spawn {
		go c.writeLoop()
	}
}

// graceEnded runs on the grace timer: it extends the grace while the
// sink's bytes are still moving, and otherwise cuts the write off.
func (c *Client) graceEnded() {
	c.graceMu.Lock()
	n := c.written()
	if !c.graceOver && n != c.graceMark && time.Since(c.graceStart) < c.hub.cfg.WriteTimeout {
		c.graceMark = n
		c.grace.Reset(c.hub.cfg.CloseGrace)
		c.graceMu.Unlock()
		return
	}
	c.graceMu.Unlock()
	c.cancel()
}

// written is the sink's progress, or 0 when it does not report any.
func (c *Client) written() uint64 {
	if p, ok := c.sink.(ProgressReporter); ok {
		return p.Written()
	}
	return 0
}

// Done is closed when the client starts closing.
func (c *Client) Done() <-chan struct{} { return c.done }

// Reason returns why the client was closed, or 0 while it is open.
func (c *Client) Reason() CloseReason {
	if !c.closing.Load() {
		return 0
	}
	return CloseReason(c.reason.Load())
}

// Run starts the client's writer and waits for the client to end: it is
// Start followed by Wait, for an owner that has a goroutine to spare.
func (c *Client) Run() CloseReason {
	c.Start()
	return c.Wait()
}

// Start lets the client's writer run: from now on, pending deliveries are
// handed to the sink in batches by a writer goroutine that runs while there
// is work, until the client is closed; then the client is removed from the
// hub and the sink is closed with the reason. A write error or a missed
// write deadline closes the client with ReasonWriteFailed. The owner must
// call it exactly once.
func (c *Client) Start() {
	if !c.ran.CompareAndSwap(false, true) {
		panic("fanout: Client.Start called twice")
	}
	c.mu.Lock()
	c.started = true
	// signaled: something was queued before Start (see wakeLocked).
	spawn := (c.signaled || c.closing.Load()) && !c.writing
	c.writing = c.writing || spawn
	c.mu.Unlock()
	if spawn {
		go c.writeLoop()
	}
}

// Wait blocks until the started client has ended (closed, removed from the
// hub, its sink closed) and returns why.
func (c *Client) Wait() CloseReason {
	<-c.finished
	return c.Reason()
}

// writerLinger is how long a writer without work waits for more before its
// goroutine ends.
const writerLinger = time.Second

// writeLoop is the writer: it runs while there is work, at most one at a
// time (c.writing), and shuts the client down once it is closing.
func (c *Client) writeLoop() {
	b := &c.batch
	var l linger
	defer l.stop()
	for !c.closing.Load() {
		c.mu.Lock()
		c.q.drain(b, c.hub.cfg.MaxBatchMessages, c.hub.cfg.MaxBatchBytes)
		if c.drained != nil && len(b.Messages) > 0 {
			close(c.drained) // there is room now: wake WaitRoom
			c.drained = nil
		}
		if b.Len() == 0 {
			c.signaled = false // caught up: the next enqueue must wake us
			c.mu.Unlock()
			if !c.idle(&l) {
				return // no work for writerLinger: this goroutine ends
			}
			continue
		}
		c.mu.Unlock()
		if err := c.write(b); err != nil {
			c.Close(ReasonWriteFailed)
		}
		clear(b.Messages) // release references promptly
		b.Messages, b.Gaps = b.Messages[:0], b.Gaps[:0]
	}
	c.shutdown()
	_ = c.sink.Close(c.Reason())
	close(c.finished)
}

// linger ends a writer that has had no work for writerLinger. It is a
// timer callback that checks once per period whether the writer went idle
// again since the last check, re-arming itself if it did, and otherwise
// marking the period expired and waking the writer through its notify
// channel. The writer waits on notify and done only: another channel in
// its select (a timer's above all, which the runtime puts into its heap
// and takes out at every wake-up) is a measurable share of the core's cost
// at thousands of clients.
type linger struct {
	t       *time.Timer
	idles   atomic.Uint64 // times the writer went idle
	seen    atomic.Uint64 // idles at the last check
	expired atomic.Bool   // a whole period passed without work
}

// start arms the check for writer c; the writer calls it when it first goes
// idle and after an expiry it did not end on.
func (l *linger) start(c *Client) {
	if l.t != nil {
		l.t.Reset(writerLinger)
		return
	}
	l.t = time.AfterFunc(writerLinger, func() {
		if n := l.idles.Load(); n != l.seen.Load() {
			l.seen.Store(n)
			l.t.Reset(writerLinger) // it worked during the period: one more
			return
		}
		l.expired.Store(true)
		select {
		case c.notify <- struct{}{}:
		default: // a wake-up is pending already; idle sees expired then
		}
	})
}

func (l *linger) stop() {
	if l.t != nil {
		l.t.Stop()
	}
}

// idle waits for work, the client's close, or a writerLinger without any.
// It reports whether the writer goes on; false means it has given up its
// place (c.writing is false) and its goroutine must end.
func (c *Client) idle(l *linger) bool {
	if l.t == nil {
		l.start(c)
	}
	l.idles.Add(1)
	for {
		if l.expired.Swap(false) {
			c.mu.Lock()
			if c.signaled || c.closing.Load() {
				c.mu.Unlock()
				l.start(c) // work arrived as the linger ended
				return true
			}
			c.writing = false
			c.mu.Unlock()
			return false
		}
		select {
		case <-c.notify:
			if l.expired.Load() {
				continue // the linger's wake-up, or work: the check above tells
			}
			return true
		case <-c.done:
			return true
		}
	}
}

// write hands b to the sink under the write deadline. The deadline is a
// timer reused for every batch (a context per batch would allocate): when it
// fires it closes the client, which cancels c.ctx and so the write.
func (c *Client) write(b *Batch) error {
	if c.deadline == nil {
		c.deadline = time.AfterFunc(c.hub.cfg.WriteTimeout, c.writeTimedOut)
	} else {
		c.deadline.Reset(c.hub.cfg.WriteTimeout)
	}
	err := c.sink.WriteBatch(c.ctx, b)
	c.deadline.Stop()
	if err != nil {
		return err
	}
	c.counters.delivered.Add(uint64(len(b.Messages)))
	c.counters.gapsSent.Add(uint64(len(b.Gaps)))
	c.counters.batches.Add(1)
	return nil
}

func (c *Client) writeTimedOut() { c.Close(ReasonWriteFailed) }

func (c *Client) shutdown() {
	c.graceMu.Lock()
	c.graceOver = true
	if c.grace != nil {
		c.grace.Stop()
	}
	c.graceMu.Unlock()
	c.cancel() // no write is in flight any more; release the context
	c.hub.unregister(c)
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.pacers = nil
	c.q.reset()
	c.mu.Unlock()
}

// enqueue puts m on the client's queue for subscription s; def is the
// policy for m's subject when s did not choose one. It never blocks beyond
// the client's own short critical section.
func (c *Client) enqueue(m *Message, s *subscription, def Policy) {
	if c.closing.Load() {
		return
	}
	frame := m.Frames[c.enc]
	if frame == nil {
		return
	}
	c.mu.Lock()
	for s.retired {
		if s = s.successor; s == nil {
			c.mu.Unlock() // unsubscribed meanwhile
			return
		}
	}
	policy := s.policy
	if policy == PolicyDefault {
		policy = def
	}
	if s.hold != nil {
		if s.hold.active {
			overflow := s.hold.add(m, c.hub.cfg.MaxQueueMessages)
			c.mu.Unlock()
			if overflow {
				c.Close(ReasonSlowConsumer)
			}
			return
		}
		if s.hold.fed(m) {
			c.mu.Unlock() // a live copy of a message the snapshot or replay had
			return
		}
	}
	if s.pace != nil {
		var r pushResults
		c.paceLocked(&r, s.pace, m, time.Now())
		wake := wakeNone
		if r.queued {
			wake = c.wakeLocked()
		}
		c.mu.Unlock()
		c.account(&r, wake)
		return
	}
	var r pushResults
	c.pushLocked(&r, m, policy)
	wake := wakeNone
	if r.queued {
		wake = c.wakeLocked()
	}
	c.mu.Unlock()
	c.account(&r, wake)
}

// wakeup is what a push must do for the writer once c.mu is released.
type wakeup uint8

const (
	wakeNone   wakeup = iota // a wake-up is on its way already
	wakeNotify               // signal the running writer
	wakeStart                // start a writer goroutine
)

// wakeLocked says how to wake the writer for new work, and records that a
// wake-up is on its way. c.mu must be held.
func (c *Client) wakeLocked() wakeup {
	if c.signaled {
		return wakeNone
	}
	c.signaled = true
	switch {
	case c.writing:
		return wakeNotify
	case !c.started:
		return wakeNone // Start starts the writer for what is queued
	}
	c.writing = true
	return wakeStart
}

// account records what pushes made with c.mu held did, once it is
// released: drops, a slow-consumer close on overflow, or a wake-up for the
// writer.
func (c *Client) account(r *pushResults, wake wakeup) {
	if r.dropped > 0 {
		c.counters.dropped.Add(uint64(r.dropped))
	}
	switch {
	case wake == wakeStart:
		go c.writeLoop() // it also handles an overflow's close below
	case wake == wakeNotify:
		select {
		case c.notify <- struct{}{}:
		default:
		}
	}
	if r.overflow {
		c.Close(ReasonSlowConsumer)
	}
}

// WaitRoom blocks until the client's queue has room for msgs more messages
// of size frame bytes (an empty queue always has room, whatever the size),
// the client closes (ErrClientClosed) or ctx ends (its error). With it an
// owner hands a long replay over in chunks (see Feed) as the writer makes
// room, without polling: the writer signals each time it takes messages
// off the queue. It may be called concurrently with everything but Run.
func (c *Client) WaitRoom(ctx context.Context, msgs, size int) error {
	for {
		c.mu.Lock()
		if c.q.live+msgs <= c.hub.cfg.MaxQueueMessages && (c.q.live == 0 || c.q.bytes+size <= c.hub.cfg.MaxQueueBytes) {
			c.mu.Unlock()
			return nil
		}
		if c.drained == nil {
			c.drained = make(chan struct{})
		}
		drained := c.drained
		c.mu.Unlock()
		select {
		case <-drained:
		case <-c.done:
			return ErrClientClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// QueueLen returns the number of messages and frame bytes pending.
func (c *Client) QueueLen() (msgs, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.q.live, c.q.bytes
}

// Stats returns the client's counters.
func (c *Client) Stats() ClientStats {
	s := c.counters.snapshot()
	s.QueuedMessages, s.QueuedBytes = c.QueueLen()
	return s
}

// Subscribed reports whether the client has a subscription to pattern.
func (c *Client) Subscribed(pattern string) bool {
	c.hub.interestMu.Lock()
	defer c.hub.interestMu.Unlock()
	return c.subs[pattern] != nil
}

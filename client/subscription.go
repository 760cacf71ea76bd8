package client

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/subject"
)

// maxPositions bounds how many subjects a subscription remembers its last
// position for (for resume and duplicate suppression). Past it, an
// arbitrary subject is forgotten for each new one.
const maxPositions = 4096

// Subscription is one pattern subscribed through a Client. It lives until
// Unsubscribe, Client.Close, or the client stopping for good; the client
// resubscribes it after every reconnect. Its methods are safe for
// concurrent use.
type Subscription struct {
	c       *Client
	pattern string
	opts    SubscribeOptions
	ch      chan Event

	// quit is closed when the subscription ends, before ch is: it releases
	// a read loop waiting for room in ch. sendMu is held by that read loop
	// while it sends on ch, so that end closes ch only once no send is in
	// flight. The read loop never takes c.mu while holding sendMu.
	quit   chan struct{}
	sendMu sync.Mutex

	// Guarded by c.mu.
	confirmed bool  // the hub accepted it on the current or an earlier connection
	noResume  bool  // the hub refused to resume this pattern (not a stored family)
	truncated bool  // the latest snapshot was cut to the hub's cap
	ended     bool  // ch is closed
	err       error // why it ended
	positions map[string]*position
	clock     uint64 // orders positions by last use
}

// position is the last event a subscription saw on one subject.
type position struct {
	epoch, seq uint64
	used       uint64
}

// C returns the channel of events. It is buffered (SubscribeOptions.Buffer)
// and the client never drops an event from it: when the application lets it
// fill up, the client stops reading the connection until there is room
// (backpressure, see the package documentation), so the hub applies the
// subscription's policy in its own bounded queue. Events that are not newer
// than the last one seen on their subject (same epoch, seq not greater),
// which overlapping patterns and replays produce, are dropped as
// duplicates. The channel is closed when the subscription ends; Err then
// says why. Do not read it for a subscription made with SubscribeFunc.
func (s *Subscription) C() <-chan Event { return s.ch }

// Pattern returns the subscribed subject pattern.
func (s *Subscription) Pattern() string { return s.pattern }

// SnapshotTruncated reports whether the latest snapshot the hub sent for
// this subscription left out subjects: more matched than the hub's cap
// (hub serve --snapshot-max), so it sent those that changed most recently.
func (s *Subscription) SnapshotTruncated() bool {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.truncated
}

// Err returns why the subscription ended: nil while it runs and after
// Unsubscribe, ErrClosed after Client.Close, a *CloseError when the client
// stopped for good, or an *Error when the hub refused to resubscribe it
// after a reconnect (for example forbidden).
func (s *Subscription) Err() error {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.err
}

// Unsubscribe ends the subscription: its channel is closed at once and
// the hub is told to stop sending. It waits for the hub's answer until ctx
// ends; an answer lost with the connection is not an error, since the next
// connection will not resubscribe it. Calling it again does nothing.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	c := s.c
	c.mu.Lock()
	if c.subs[s.pattern] != s {
		c.mu.Unlock()
		return nil
	}
	delete(c.subs, s.pattern)
	s.end(nil)
	sess := c.sess
	done := make(chan struct{})
	c.unsubscribing[s.pattern] = done
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.unsubscribing, s.pattern)
		c.mu.Unlock()
		close(done)
	}()
	if sess == nil {
		return nil
	}
	m, err := sess.request(ctx, protocol.Command{Op: protocol.OpUnsubscribe, Subjects: []string{s.pattern}})
	switch {
	case errors.Is(err, ErrConnectionLost) || (err != nil && sess.ctx.Err() != nil):
		return nil
	case err != nil:
		return err
	case m.Op == protocol.OpError && m.Code != protocol.CodeNotSubscribed:
		return hubError(m)
	}
	return nil
}

// end closes the channel and records why. c.mu must be held.
func (s *Subscription) end(err error) {
	if s.ended {
		return
	}
	s.ended = true
	s.err = err
	close(s.quit)
	s.sendMu.Lock() // a send in flight sees quit and returns
	close(s.ch)
	s.sendMu.Unlock()
}

// command is the subscribe command for s's options, without positions.
func (s *Subscription) command() protocol.Command {
	return protocol.Command{
		Op:       protocol.OpSubscribe,
		Subjects: []string{s.pattern},
		Policy:   s.opts.Policy.wire(),
		MaxRate:  s.opts.MaxRate,
		Snapshot: s.opts.Snapshot,
	}
}

// resume returns the newest positions, newest first, at most as many as a
// command may carry. c.mu must be held.
func (s *Subscription) resume() []protocol.ResumePosition {
	if len(s.positions) == 0 {
		return nil
	}
	type kv struct {
		subject string
		p       *position
	}
	all := make([]kv, 0, len(s.positions))
	for subj, p := range s.positions {
		all = append(all, kv{subj, p})
	}
	slices.SortFunc(all, func(a, b kv) int {
		switch {
		case a.p.used > b.p.used:
			return -1
		case a.p.used < b.p.used:
			return 1
		}
		return 0
	})
	out := make([]protocol.ResumePosition, 0, min(len(all), protocol.MaxSubjectsPerCommand))
	for _, e := range all[:min(len(all), protocol.MaxSubjectsPerCommand)] {
		out = append(out, protocol.ResumePosition{Subject: e.subject, Epoch: e.p.epoch, Seq: e.p.seq})
	}
	return out
}

// accept records ev's position and reports whether the application should
// get it: false for a duplicate, or once the subscription has ended. c.mu
// must be held.
func (s *Subscription) accept(ev Event) bool {
	if s.ended {
		return false
	}
	if p := s.positions[ev.Subject]; p != nil {
		if p.epoch == ev.Epoch && ev.Seq <= p.seq {
			return false // a duplicate
		}
		s.clock++
		p.epoch, p.seq, p.used = ev.Epoch, ev.Seq, s.clock
		return true
	}
	if len(s.positions) >= maxPositions {
		for k := range s.positions {
			delete(s.positions, k)
			break
		}
	}
	s.clock++
	s.positions[ev.Subject] = &position{epoch: ev.Epoch, seq: ev.Seq, used: s.clock}
	return true
}

// send hands ev to the application, waiting for room in the channel: this
// is the backpressure that keeps every event, critical ones above all. It
// gives up only when the subscription ends or the client stops (done). It
// is called by the read loop, without c.mu.
func (s *Subscription) send(ev Event, done <-chan struct{}) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	select {
	case <-s.quit:
		return // ended; ch is closed or about to be
	default:
	}
	select {
	case s.ch <- ev:
	case <-s.quit:
	case <-done:
	}
}

// deliver routes a batch's gaps and events on the read loop. It converts
// each event once, hands it to every subscription whose pattern matches,
// and calls OnGap after releasing the lock.
func (c *Client) deliver(s *session, m *protocol.ServerMessage) {
	var gaps []Gap
	for _, g := range m.Gaps {
		gaps = append(gaps, Gap{Subject: g.Subject, Epoch: g.Epoch, From: g.From, To: g.To})
	}
	sent := timeMilli(m.Sent)
	type delivery struct {
		sub *Subscription
		ev  Event
	}
	var out []delivery
	c.mu.Lock()
	for i := range m.Events {
		f := &m.Events[i]
		var ev Event
		converted, shared := false, false
		for _, sub := range c.subs {
			if !subject.Match(sub.pattern, f.Subject) {
				continue
			}
			if !converted {
				var err error
				if ev, err = newEvent(f, s.enc, sent); err != nil {
					s.badFrames++
					break
				}
				converted = true
			}
			e := ev
			if shared {
				e.Data = slices.Clone(ev.Data) // each subscription owns its copy
			}
			shared = true
			if sub.accept(e) {
				out = append(out, delivery{sub, e})
			}
		}
	}
	c.mu.Unlock()
	if c.opts.OnGap != nil {
		for _, g := range gaps {
			c.opts.OnGap(g)
		}
	}
	for _, d := range out {
		d.sub.send(d.ev, c.ctx.Done())
	}
}

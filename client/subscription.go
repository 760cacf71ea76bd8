package client

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"

	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/protocol"
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

	dropped atomic.Uint64

	// Guarded by c.mu.
	confirmed bool  // the hub accepted it on the current or an earlier connection
	noResume  bool  // the hub refused to resume this pattern (not a stored family)
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
// and never blocks the client: when it is full, the oldest buffered event
// is dropped for each new one, counted in Dropped and reported to
// Options.OnGap with Gap.Local set. Events that are not newer than the
// last one seen on their subject (same epoch, seq not greater), which
// overlapping patterns and replays produce, are dropped as duplicates. The
// channel is closed when the subscription ends; Err then says why. Do not
// read it for a subscription made with SubscribeFunc.
func (s *Subscription) C() <-chan Event { return s.ch }

// Pattern returns the subscribed subject pattern.
func (s *Subscription) Pattern() string { return s.pattern }

// Dropped returns how many events this client dropped because the
// application did not read C in time.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

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
	close(s.ch)
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

// offer hands ev to the application without blocking. It returns the gap
// to report when a buffered event had to be dropped. c.mu must be held
// (it orders offer with end, which closes the channel).
func (s *Subscription) offer(ev Event) (Gap, bool) {
	if s.ended {
		return Gap{}, false
	}
	if p := s.positions[ev.Subject]; p != nil {
		if p.epoch == ev.Epoch && ev.Seq <= p.seq {
			return Gap{}, false // a duplicate
		}
		s.clock++
		p.epoch, p.seq, p.used = ev.Epoch, ev.Seq, s.clock
	} else {
		if len(s.positions) >= maxPositions {
			for k := range s.positions {
				delete(s.positions, k)
				break
			}
		}
		s.clock++
		s.positions[ev.Subject] = &position{epoch: ev.Epoch, seq: ev.Seq, used: s.clock}
	}
	select {
	case s.ch <- ev:
		return Gap{}, false
	default:
	}
	// Full: drop the oldest. The application may take one meanwhile; this
	// goroutine is the only sender, so the second send cannot block.
	var gap Gap
	var dropped bool
	select {
	case old := <-s.ch:
		gap, dropped = Gap{Subject: old.Subject, Epoch: old.Epoch, From: old.Seq, To: old.Seq, Local: true}, true
		s.dropped.Add(1)
	default:
	}
	select {
	case s.ch <- ev:
	default:
		// Unreachable with a single sender; counted rather than blocking.
		s.dropped.Add(1)
	}
	return gap, dropped
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
	c.mu.Lock()
	for i := range m.Events {
		f := &m.Events[i]
		var ev Event
		converted, shared := false, false
		for _, sub := range c.subs {
			if !fanout.MatchSubject(sub.pattern, f.Subject) {
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
			if g, ok := sub.offer(e); ok {
				gaps = append(gaps, g)
			}
		}
	}
	c.mu.Unlock()
	if c.opts.OnGap != nil {
		for _, g := range gaps {
			c.opts.OnGap(g)
		}
	}
}

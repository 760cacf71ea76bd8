package fanout

import "fmt"

// ErrNotHeld is returned by Release for a pattern without a held
// subscription.
var ErrNotHeld = fmt.Errorf("fanout: no held subscription")

// hold keeps a new subscription's live messages aside while its owner
// fetches what must come first (a snapshot, or a replay of what the client
// missed). Its fields are guarded by the client's mu.
type hold struct {
	active bool
	msgs   []*Message
	// last is, per subject, the position of the newest message fed ahead
	// of the held ones; live messages at or before it are duplicates. It
	// outlives Release: upstream may still be delivering, late, live copies
	// of messages the snapshot or replay already had. A subject's entry goes
	// as soon as a newer live message arrives, so the map only holds the
	// fed subjects that have not moved since.
	last map[string]position
}

// fed reports whether m is a live copy of a message already fed, and
// forgets m's subject once live traffic has moved past what was fed.
func (h *hold) fed(m *Message) bool {
	p, ok := h.last[m.Subject]
	if !ok {
		return false
	}
	if p.epoch == m.Epoch && m.Seq <= p.seq {
		return true
	}
	delete(h.last, m.Subject)
	return false
}

type position struct{ epoch, seq uint64 }

// add holds m and reports whether the hold overflowed its bound.
func (h *hold) add(m *Message, bound int) (overflow bool) {
	h.msgs = append(h.msgs, m)
	return len(h.msgs) > bound
}

// SubscribeHeld subscribes like Subscribe, but holds the live messages of
// the new subscription aside until Release: its owner can then fetch the
// messages that must come first (a snapshot, a replay) knowing that nothing
// published from now on is lost. More held messages than MaxQueueMessages
// close the client as a slow consumer.
func (c *Client) SubscribeHeld(pattern string, opts SubOptions) error {
	s, err := c.newSubscription(pattern, opts)
	if err != nil {
		return err
	}
	s.hold = &hold{active: true}
	return c.hub.subscribe(c, s)
}

// Feed queues msgs, in order, ahead of the messages held since
// SubscribeHeld. It may be called several times before Release, so that a
// long replay can be handed over in chunks as the client's queue drains
// (see QueueLen): what a client missed is delivered whole instead of
// overflowing its bounded queue. Fed messages are not conflated (under
// keep-latest they queue like drop-oldest ones), so a snapshot arrives as a
// snapshot and a replay whole.
func (c *Client) Feed(pattern string, msgs []*Message) error {
	s, err := c.held(pattern)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if !s.hold.active {
		c.mu.Unlock()
		return fmt.Errorf("%w: %q was released already", ErrNotHeld, pattern)
	}
	if s.hold.last == nil {
		s.hold.last = make(map[string]position)
	}
	var r pushResults
	for _, m := range msgs {
		p := c.policyOf(s, m)
		if p == KeepLatest {
			p = DropOldest
		}
		c.pushLocked(&r, m, p)
		s.hold.last[m.Subject] = position{m.Epoch, m.Seq}
	}
	wake := c.wakeLocked()
	c.mu.Unlock()
	c.account(&r, wake)
	return nil
}

// Release feeds first (see Feed), then queues the held messages that are
// newer than everything fed: per subject, a held message is dropped as a
// duplicate when a fed message of the same epoch had the same or a later
// sequence. From then on the subscription delivers live, still dropping
// late live copies of fed messages, subject by subject, until live traffic
// on the subject has moved past them.
func (c *Client) Release(pattern string, first []*Message) error {
	if err := c.Feed(pattern, first); err != nil {
		return err
	}
	s, err := c.held(pattern)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if !s.hold.active {
		c.mu.Unlock()
		return fmt.Errorf("%w: %q was released already", ErrNotHeld, pattern)
	}
	var r pushResults
	for _, m := range s.hold.msgs {
		if !s.hold.fed(m) {
			c.pushLocked(&r, m, c.policyOf(s, m))
		}
	}
	s.hold.active, s.hold.msgs = false, nil
	wake := c.wakeLocked()
	c.mu.Unlock()
	c.account(&r, wake)
	return nil
}

// held returns the client's held subscription to pattern.
func (c *Client) held(pattern string) (*subscription, error) {
	c.hub.interestMu.Lock()
	s := c.subs[pattern]
	c.hub.interestMu.Unlock()
	if s == nil || s.hold == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotHeld, pattern)
	}
	return s, nil
}

// policyOf is the policy s applies to m.
func (c *Client) policyOf(s *subscription, m *Message) Policy {
	if s.policy != PolicyDefault {
		return s.policy
	}
	return policyFor(c.hub.cfg.PrefixPolicies, m.Subject, c.hub.cfg.FallbackPolicy)
}

// pushResults sums what pushes made under the client's mu did, for
// account to act on once the lock is released.
type pushResults struct {
	dropped  int
	overflow bool
	queued   bool // at least one push left something for the writer
}

// pushLocked queues m under policy p, unless an earlier push overflowed.
// c.mu must be held.
func (c *Client) pushLocked(r *pushResults, m *Message, p Policy) {
	frame := m.Frames[c.enc]
	if frame == nil || r.overflow {
		return
	}
	res, d := c.q.push(m, len(frame), p)
	r.dropped += d
	switch res {
	case pushOverflow:
		r.overflow = true
	case pushDropped:
		r.dropped++
	case pushConflated:
		c.counters.conflated.Add(1)
	}
	r.queued = r.queued || res != pushOverflow
}

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
}

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

// Release queues first, in order, then the messages held since
// SubscribeHeld that are newer than first: per subject, a held message is
// dropped as a duplicate when first ends on the same epoch at the same or a
// later sequence. The messages of first are not conflated (under keep-latest
// they queue like drop-oldest ones), so a snapshot arrives as a snapshot
// and a replay whole. From then on the subscription delivers live as usual.
func (c *Client) Release(pattern string, first []*Message) error {
	c.hub.interestMu.Lock()
	s := c.subs[pattern]
	c.hub.interestMu.Unlock()
	if s == nil || s.hold == nil {
		return fmt.Errorf("%w: %q", ErrNotHeld, pattern)
	}
	type pos struct{ epoch, seq uint64 }
	last := make(map[string]pos, len(first))
	for _, m := range first {
		last[m.Subject] = pos{m.Epoch, m.Seq}
	}
	policy := s.policy
	def := func(m *Message) Policy {
		if policy != PolicyDefault {
			return policy
		}
		return policyFor(c.hub.cfg.PrefixPolicies, m.Subject, c.hub.cfg.FallbackPolicy)
	}

	c.mu.Lock()
	if !s.hold.active {
		c.mu.Unlock()
		return fmt.Errorf("%w: %q was released already", ErrNotHeld, pattern)
	}
	var res pushResult
	dropped, overflow := 0, false
	push := func(m *Message, p Policy) {
		if frame := m.Frames[c.enc]; frame != nil && !overflow {
			r, d := c.q.push(m, len(frame), p)
			dropped += d
			overflow = r == pushOverflow
			if r == pushConflated {
				c.counters.conflated.Add(1)
			}
		}
	}
	for _, m := range first {
		// What must come first is never superseded by the live messages
		// behind it: a snapshot keeps its flag, a replay every message.
		p := def(m)
		if p == KeepLatest {
			p = DropOldest
		}
		push(m, p)
	}
	for _, m := range s.hold.msgs {
		if p, ok := last[m.Subject]; ok && p.epoch == m.Epoch && m.Seq <= p.seq {
			continue
		}
		push(m, def(m))
	}
	s.hold.active, s.hold.msgs = false, nil
	wake := c.wakeLocked()
	c.mu.Unlock()
	if overflow {
		res = pushOverflow
	}
	c.account(res, dropped, wake)
	return nil
}

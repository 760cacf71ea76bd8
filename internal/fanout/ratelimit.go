package fanout

import (
	"slices"
	"time"
)

// pacer paces one subscription that asked for a max rate: it delivers at
// most one message per subject per interval, and always ends on the
// subject's newest value. Its fields are guarded by the client's mu.
//
// Messages that must wait are held in arrival order, at most one
// non-critical message per subject (a newer one supersedes it and joins the
// back). A held message leaves when it reaches the front and its subject's
// slot has opened, so pacing never reorders the subscription's messages: a
// client that resumes from the newest position it received has missed
// nothing it was owed (docs/protocol.md, "Delivery order"). Every message
// therefore waits at most one interval: each held subject's slot opens no
// later than one interval after the message arrived.
//
// A critical message ignores its own subject's slot and discards the value
// held for its subject (which is older), but still leaves only after the
// messages that arrived before it.
type pacer struct {
	interval time.Duration
	next     map[string]time.Time // when a recently delivered subject's next slot opens
	held     []*Message
}

func newPacer(interval time.Duration) *pacer {
	return &pacer{interval: interval, next: make(map[string]time.Time)}
}

// paceLocked hands m to s's pacer and queues whatever may go now. c.mu
// must be held.
func (c *Client) paceLocked(r *pushResults, p *pacer, m *Message, now time.Time) {
	for i := len(p.held) - 1; i >= 0; i-- {
		if h := p.held[i]; h.Subject == m.Subject {
			if !h.Critical { // superseded, or older than the critical m
				p.held = slices.Delete(p.held, i, i+1)
				c.counters.conflated.Add(1)
			}
			break
		}
	}
	p.held = append(p.held, m)
	c.releaseLocked(r, p, now)
}

// releaseLocked queues p's held messages from the front while their slots
// are open, and arms the client's timer for the next one. c.mu must be held.
func (c *Client) releaseLocked(r *pushResults, p *pacer, now time.Time) {
	n := 0
	for _, m := range p.held {
		if !m.Critical && now.Before(p.next[m.Subject]) {
			break
		}
		c.pushLocked(r, m, KeepLatest)
		p.next[m.Subject] = now.Add(p.interval)
		n++
	}
	if n > 0 {
		p.held = p.held[:copy(p.held, p.held[n:])]
		clear(p.held[len(p.held) : len(p.held)+n]) // release references
	}
	if len(p.next) > 2*len(p.held)+64 { // forget subjects whose slot is open
		for s, t := range p.next {
			if !now.Before(t) {
				delete(p.next, s)
			}
		}
	}
	if len(p.held) == 0 {
		delete(c.pacers, p)
		return
	}
	if c.pacers == nil {
		c.pacers = make(map[*pacer]struct{})
	}
	c.pacers[p] = struct{}{}
	c.armLocked(now, p.next[p.held[0].Subject])
}

// handOver retires s, which next replaces (or nil: s was removed), so that
// nothing s accepted is overtaken by what next receives. What s's pacer
// still holds moves to next's pacer, in order and with its subjects' slots,
// when next paces too; otherwise it is queued at once. From then on a
// publisher that still reaches s is sent on to next (see enqueue).
func (c *Client) handOver(s, next *subscription) {
	c.mu.Lock()
	s.retired, s.successor = true, next
	p := s.pace
	if p == nil || len(p.held) == 0 || c.closing.Load() {
		c.mu.Unlock()
		return
	}
	delete(c.pacers, p)
	var r pushResults
	if next != nil && next.pace != nil {
		np := next.pace
		np.held = append(np.held, p.held...)
		for subj, t := range p.next {
			np.next[subj] = t
		}
		c.releaseLocked(&r, np, time.Now())
	} else {
		for _, m := range p.held {
			c.pushLocked(&r, m, KeepLatest)
		}
	}
	p.held = nil
	wake := wakeNone
	if r.queued {
		wake = c.wakeLocked()
	}
	c.mu.Unlock()
	c.account(&r, wake)
}

// armLocked makes sure the rate timer fires no later than at. c.mu must be
// held.
func (c *Client) armLocked(now, at time.Time) {
	if !c.timerAt.IsZero() && !at.Before(c.timerAt) {
		return
	}
	c.timerAt = at
	if c.timer == nil {
		c.timer = time.AfterFunc(at.Sub(now), c.releaseDue)
		return
	}
	c.timer.Reset(at.Sub(now))
}

// releaseDue runs on the timer: it releases what every pacer may release
// now, and re-arms for the next slot.
func (c *Client) releaseDue() {
	c.mu.Lock()
	if c.closing.Load() {
		c.mu.Unlock()
		return
	}
	now := time.Now()
	c.timerAt = time.Time{}
	var r pushResults
	for p := range c.pacers {
		c.releaseLocked(&r, p, now)
	}
	wake := wakeNone
	if r.queued {
		wake = c.wakeLocked()
	}
	c.mu.Unlock()
	c.account(&r, wake)
}

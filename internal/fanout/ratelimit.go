package fanout

import "time"

// rateState paces one subject of one client. While the subject's next slot
// has not opened, the newest message waits in held (older ones are
// conflated); the client's timer moves it to the queue when the slot opens.
type rateState struct {
	next     time.Time
	interval time.Duration
	held     *Message
}

// pace decides whether m must wait for its subject's next slot, and if so
// keeps it as the subject's held message. c.mu must be held.
func (c *Client) pace(m *Message, interval time.Duration) bool {
	now := time.Now()
	st := c.rate[m.Subject]
	if st == nil {
		if c.rate == nil {
			c.rate = make(map[string]*rateState)
		}
		c.rate[m.Subject] = &rateState{next: now.Add(interval), interval: interval}
		c.armLocked(now, now.Add(interval)) // to forget the state once idle
		return false
	}
	if st.held == nil && !now.Before(st.next) {
		st.next = now.Add(interval)
		c.armLocked(now, st.next)
		return false
	}
	if st.held != nil {
		c.counters.conflated.Add(1)
	}
	st.held = m
	c.armLocked(now, st.next)
	return true
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

// releaseDue runs on the timer: it queues every held message whose slot has
// opened, forgets idle subjects and re-arms for the next slot.
func (c *Client) releaseDue() {
	c.mu.Lock()
	if c.closing.Load() || c.rate == nil {
		c.mu.Unlock()
		return
	}
	now := time.Now()
	c.timerAt = time.Time{}
	var next time.Time
	var r pushResults
	queued := false
	for subject, st := range c.rate {
		if now.Before(st.next) {
			if next.IsZero() || st.next.Before(next) {
				next = st.next
			}
			continue
		}
		if st.held == nil {
			delete(c.rate, subject)
			continue
		}
		m := st.held
		st.held = nil
		st.next = now.Add(st.interval)
		if next.IsZero() || st.next.Before(next) {
			next = st.next
		}
		c.pushLocked(&r, m, KeepLatest)
		queued = true
	}
	if !next.IsZero() {
		c.armLocked(now, next)
	}
	wake := queued && c.wakeLocked()
	c.mu.Unlock()
	c.account(r.result(), r.dropped, wake)
}

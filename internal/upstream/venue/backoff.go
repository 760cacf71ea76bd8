package venue

import (
	"math/rand/v2"
	"time"
)

// backoff is the delay before a reconnection: "full jitter" exponential
// backoff, a uniform draw from [min/2, cap] where cap doubles from Min to
// Max with every failure in a row, so that many ingestors cut off together
// do not reconnect together. Used by Run's goroutine only.
type backoff struct {
	min, max time.Duration
	cur      time.Duration // current cap; 0 before the first failure
}

// next returns the delay before the next attempt and doubles the cap.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	lo := b.min / 2
	return lo + rand.N(b.cur-lo+1)
}

// reset forgets the failures: the next delay is about min again.
func (b *backoff) reset() { b.cur = 0 }

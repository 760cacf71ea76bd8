package client

import (
	"math/rand/v2"
	"time"
)

// maxWait is the upper bound of the wait before attempt n:
// min(Cap, Base × 2^n), without overflowing.
func (b Backoff) maxWait(n int) time.Duration {
	w := b.Base
	for i := 0; i < n && w < b.Cap; i++ {
		w *= 2
	}
	return min(w, b.Cap)
}

// wait returns a random wait in [0, maxWait(n)]: full jitter.
func (b Backoff) wait(n int) time.Duration {
	return time.Duration(rand.Int64N(int64(b.maxWait(n)) + 1))
}

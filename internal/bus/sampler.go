package bus

import (
	"sync"
	"time"
)

// sampleEvery is the shortest interval between two log lines of one sampler.
const sampleEvery = 10 * time.Second

// sampler rate-limits a recurring log line: allow reports true at most once
// per interval and says how many events were suppressed since the last line.
// It is safe for concurrent use.
type sampler struct {
	every time.Duration

	mu         sync.Mutex
	last       time.Time // when allow last returned true; zero before
	suppressed uint64    // events since then that were not logged
}

// allow reports whether an event at now may be logged and, if so, how many
// events were suppressed before it.
func (s *sampler) allow(now time.Time) (ok bool, suppressed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.last.IsZero() && now.Sub(s.last) < s.every {
		s.suppressed++
		return false, 0
	}
	suppressed, s.suppressed, s.last = s.suppressed, 0, now
	return true, suppressed
}

package server

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
)

// setRateLimitHeaders announces q on a response, following the IETF draft
// draft-ietf-httpapi-ratelimit-headers: RateLimit-Limit (the bucket's
// size), RateLimit-Remaining (what may pass now), RateLimit-Reset (seconds
// until the bucket is full) and RateLimit-Policy ("<limit>;w=<seconds to
// refill from empty>"). A refused request (429) also gets Retry-After, in
// whole seconds, at least 1.
func setRateLimitHeaders(h http.Header, q auth.Quota, refused bool) {
	h.Set("RateLimit-Limit", strconv.Itoa(q.Limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(q.Remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(q.Reset, 0)))
	h.Set("RateLimit-Policy", strconv.Itoa(q.Limit)+";w="+strconv.Itoa(ceilSeconds(q.Window, 1)))
	if refused {
		h.Set("Retry-After", strconv.Itoa(ceilSeconds(q.RetryAfter, 1)))
	}
}

func ceilSeconds(d time.Duration, least int) int {
	return max(least, int(math.Ceil(d.Seconds())))
}

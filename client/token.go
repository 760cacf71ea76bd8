package client

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// refreshAhead is how long before a token's expiry it is refreshed.
const refreshAhead = 60 * time.Second

// tokenExpiry reads the exp claim of a JWT without verifying anything: the
// hub verifies; the client only wants to know when to refresh. It reports
// false when token is not a JWT with a numeric exp.
func tokenExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || len(parts[1]) > 8<<10 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == nil || *claims.Exp <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(*claims.Exp), 0), true
}

// refreshDelay is how long to wait before refreshing a token that expires
// at exp: until refreshAhead before exp, but at least minDelay so that a
// token already close to its end is not refreshed in a tight loop.
func refreshDelay(exp, now time.Time, minDelay time.Duration) time.Duration {
	return max(exp.Sub(now)-refreshAhead, minDelay)
}

package auth

import "github.com/streamhub/streamhub/internal/fanout"

// Allowed reports whether a client holding the permitted patterns may
// subscribe to requested: requested must be a valid pattern
// (fanout.ValidatePattern) and a subset (fanout.PatternSubset) of at least
// one valid permitted pattern. A permitted pattern that is itself invalid
// grants nothing. Matching one subject of a permitted pattern is not enough:
// "ticks.>" is refused under "ticks.coinbase.*" although they overlap.
//
// It is a pure function, safe for concurrent use.
func Allowed(patterns []string, requested string) bool {
	if fanout.ValidatePattern(requested) != nil {
		return false
	}
	for _, p := range patterns {
		if fanout.ValidatePattern(p) == nil && fanout.PatternSubset(requested, p) {
			return true
		}
	}
	return false
}

// AllowedPublish reports whether a client holding the permitted publish
// patterns may publish on subject: subject must be a literal subject
// (fanout.ValidateSubject, no wildcards) matched by at least one valid
// permitted pattern.
//
// It is a pure function, safe for concurrent use.
func AllowedPublish(patterns []string, subject string) bool {
	if fanout.ValidateSubject(subject) != nil {
		return false
	}
	for _, p := range patterns {
		if fanout.ValidatePattern(p) == nil && fanout.MatchSubject(p, subject) {
			return true
		}
	}
	return false
}

package auth

import "github.com/streamhub/streamhub/internal/subject"

// Allowed reports whether a client holding the permitted patterns may
// subscribe to requested: requested must be a valid pattern
// (subject.ValidatePattern) and a subset (subject.Subset) of at least
// one valid permitted pattern. A permitted pattern that is itself invalid
// grants nothing. Matching one subject of a permitted pattern is not enough:
// "ticks.>" is refused under "ticks.coinbase.*" although they overlap.
//
// It is a pure function, safe for concurrent use.
func Allowed(patterns []string, requested string) bool {
	if subject.ValidatePattern(requested) != nil {
		return false
	}
	for _, p := range patterns {
		if subject.ValidatePattern(p) == nil && subject.Subset(requested, p) {
			return true
		}
	}
	return false
}

// AllowedPublish reports whether a client holding the permitted publish
// patterns may publish on subject: subject must be a literal subject
// (subject.Validate, no wildcards) matched by at least one valid
// permitted pattern.
//
// It is a pure function, safe for concurrent use.
func AllowedPublish(patterns []string, subj string) bool {
	if subject.Validate(subj) != nil {
		return false
	}
	for _, p := range patterns {
		if subject.ValidatePattern(p) == nil && subject.Match(p, subj) {
			return true
		}
	}
	return false
}

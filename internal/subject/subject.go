package subject

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Limits on subjects and patterns. They are the same for both.
const (
	// MaxBytes is the longest subject or pattern accepted, in bytes.
	MaxBytes = 256
	// MaxTokens is the most dot-separated tokens accepted.
	MaxTokens = 16
)

// ErrInvalid is wrapped by every subject and pattern validation error.
var ErrInvalid = errors.New("subject: invalid subject")

// Validate checks that s is a literal subject a message can be
// published on: 1 to MaxTokens non-empty tokens separated by '.', at
// most MaxBytes bytes of printable UTF-8 without spaces, and no
// wildcard tokens.
func Validate(s string) error { return validate(s, false) }

// ValidatePattern checks that p is a subscription pattern: like a subject,
// but a token may be "*" (exactly one token) and the last token may be ">"
// (one or more tokens). A '*' or '>' inside a longer token is rejected, so a
// pattern never looks like a wildcard without being one.
func ValidatePattern(p string) error { return validate(p, true) }

func validate(s string, wildcards bool) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrInvalid)
	}
	if len(s) > MaxBytes {
		return fmt.Errorf("%w: %d bytes, over the limit of %d", ErrInvalid, len(s), MaxBytes)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalid)
	}
	tokens, start := 0, 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != '.' {
			c := s[i]
			if c <= ' ' || c == 0x7f {
				return fmt.Errorf("%w: control character or space at byte %d", ErrInvalid, i)
			}
			if c >= utf8.RuneSelf {
				// Beyond ASCII only printable characters count: no NBSP or
				// other spaces, no zero-width or bidi formatting characters.
				r, size := utf8.DecodeRuneInString(s[i:])
				if !unicode.IsPrint(r) || unicode.IsSpace(r) {
					return fmt.Errorf("%w: unprintable character or space %U at byte %d", ErrInvalid, r, i)
				}
				i += size - 1
			}
			continue
		}
		tok := s[start:i]
		tokens++
		if tokens > MaxTokens {
			return fmt.Errorf("%w: more than %d tokens", ErrInvalid, MaxTokens)
		}
		if tok == "" {
			return fmt.Errorf("%w: empty token at byte %d", ErrInvalid, start)
		}
		switch {
		case tok == "*":
			if !wildcards {
				return fmt.Errorf("%w: wildcard '*' in a literal subject", ErrInvalid)
			}
		case tok == ">":
			if !wildcards {
				return fmt.Errorf("%w: wildcard '>' in a literal subject", ErrInvalid)
			}
			if i != len(s) {
				return fmt.Errorf("%w: '>' must be the last token", ErrInvalid)
			}
		default:
			for j := 0; j < len(tok); j++ {
				if tok[j] == '*' || tok[j] == '>' {
					return fmt.Errorf("%w: wildcard character inside token %q", ErrInvalid, tok)
				}
			}
		}
		start = i + 1
	}
	return nil
}

// IsLiteral reports whether a valid pattern has no wildcard tokens.
func IsLiteral(p string) bool {
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '.' {
			if t := p[start:i]; t == "*" || t == ">" {
				return false
			}
			start = i + 1
		}
	}
	return true
}

// Match reports whether the literal subject matches the pattern, with
// NATS semantics: "*" matches exactly one token, a trailing ">" one or more.
// Both arguments are assumed valid. It does not allocate.
func Match(pattern, subject string) bool {
	for {
		pt, prest, pmore := Cut(pattern)
		st, srest, smore := Cut(subject)
		switch {
		case pt == ">":
			return true // ">" is last, and subject has at least this token
		case pt == "*" || pt == st:
		default:
			return false
		}
		if !pmore || !smore {
			return pmore == smore
		}
		pattern, subject = prest, srest
	}
}

// Cut splits s at its first '.': the token, the rest, and whether there was
// a rest.
func Cut(s string) (tok, rest string, more bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// Subset reports whether every subject matched by pattern sub is also
// matched by pattern super. Both are assumed valid. For example
// "ticks.coinbase.*" is a subset of "ticks.>" and of "ticks.*.*", while
// "ticks.>" is not a subset of "ticks.*.*" (it also matches "ticks.a").
func Subset(sub, super string) bool {
	for {
		st, srest, smore := Cut(sub)
		pt, prest, pmore := Cut(super)
		switch {
		case pt == ">":
			return true
		case st == ">":
			return false // sub matches any number of tokens here; super does not
		case pt == "*":
			// matches any single token, literal or "*"
		case pt != st || st == "*":
			return false
		}
		if !smore || !pmore {
			return smore == pmore
		}
		sub, super = srest, prest
	}
}

// Intersects reports whether some literal subject is matched by both
// patterns a and b. Both are assumed valid. For example "ticks.coinbase.*"
// and "ticks.*.BTC-USD" intersect (in "ticks.coinbase.BTC-USD") although
// neither is a subset of the other, while "ticks.>" and "chain.>" do not.
func Intersects(a, b string) bool {
	for {
		at, arest, amore := Cut(a)
		bt, brest, bmore := Cut(b)
		switch {
		case at == ">" || bt == ">":
			return true // the other has at least this token left
		case at != bt && at != "*" && bt != "*":
			return false
		}
		if !amore || !bmore {
			return amore == bmore
		}
		a, b = arest, brest
	}
}

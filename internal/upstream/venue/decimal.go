package venue

import "strings"

// maxDecimalLen bounds a decimal string from a venue.
const maxDecimalLen = 40

// Decimal checks that s is a non-negative decimal as venues send prices and
// sizes ("67012.10", "0.5", "12"), and returns it in canonical form: no
// leading zeros beyond one, no trailing zeros after the point, no bare
// point. Canonical forms compare equal exactly when the numbers do.
func Decimal(s string) (string, bool) {
	if s == "" || len(s) > maxDecimalLen {
		return "", false
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" || (hasPoint && frac == "") || !digits(intPart) || !digits(frac) {
		return "", false
	}
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	frac = strings.TrimRight(frac, "0")
	if frac == "" {
		return intPart, true
	}
	return intPart + "." + frac, true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// CmpDecimal compares two canonical decimals (see [Decimal]): -1, 0 or +1.
func CmpDecimal(a, b string) int {
	ai, af, _ := strings.Cut(a, ".")
	bi, bf, _ := strings.Cut(b, ".")
	if len(ai) != len(bi) {
		if len(ai) < len(bi) {
			return -1
		}
		return 1
	}
	if c := strings.Compare(ai, bi); c != 0 {
		return c
	}
	return strings.Compare(af, bf) // canonical fractions have no trailing zeros
}

// IsZero reports whether a canonical decimal is zero.
func IsZero(d string) bool { return d == "0" }

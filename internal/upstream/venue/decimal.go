package venue

import (
	"strconv"
	"strings"
)

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

// NumberDecimal returns a JSON number as a decimal string, for venues that
// send prices as JSON numbers: plain numbers ("0.10025") as they are,
// exponent forms ("1.2e-5") written out ("0.000012"). Negative numbers,
// and exponents beyond ±40, are refused.
func NumberDecimal(n string) (string, bool) {
	mant, exp, hasExp := strings.Cut(strings.ToLower(n), "e")
	if !hasExp {
		_, ok := Decimal(n)
		return n, ok
	}
	if _, ok := Decimal(mant); !ok {
		return "", false
	}
	e, err := strconv.Atoi(exp)
	if err != nil || e < -40 || e > 40 {
		return "", false
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digs := intPart + frac
	point := len(intPart) + e // position of the point in digs
	switch {
	case point <= 0:
		digs = strings.Repeat("0", 1-point) + digs
		point = 1
	case point > len(digs):
		digs += strings.Repeat("0", point-len(digs))
	}
	out := digs[:point]
	if point < len(digs) {
		out += "." + digs[point:]
	}
	if c, ok := Decimal(out); ok && !strings.Contains(c, ".") {
		return c, true // an integer: no leading zeros
	}
	trimmed := strings.TrimLeft(out[:point], "0")
	if trimmed == "" {
		trimmed = "0"
	}
	return trimmed + out[point:], true
}

package upstream

import (
	"math"
	"math/rand/v2"
	"strconv"
)

// maxDecimals bounds the decimals formatFixed accepts: 10^18 is the largest
// power of ten in an int64.
const maxDecimals = 18

// pow10 returns 10^n for 0 <= n <= maxDecimals.
func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// formatFixed formats v units of 10^-decimals as an exact decimal string
// with exactly decimals digits after the point (none, and no point, when
// decimals is 0): formatFixed(670121, 2) = "6701.21". Prices are kept as
// int64 counts of their tick size, so no float ever reaches the JSON.
func formatFixed(v int64, decimals int) string {
	decimals = max(0, min(decimals, maxDecimals))
	neg := v < 0
	u := uint64(v)
	if neg {
		u = -u // two's complement: exact even for math.MinInt64
	}
	digits := strconv.FormatUint(u, 10)
	if decimals > 0 && len(digits) <= decimals {
		pad := make([]byte, decimals+1-len(digits))
		for i := range pad {
			pad[i] = '0'
		}
		digits = string(pad) + digits
	}
	out := make([]byte, 0, len(digits)+2)
	if neg {
		out = append(out, '-')
	}
	if decimals == 0 {
		return string(append(out, digits...))
	}
	cut := len(digits) - decimals
	out = append(out, digits[:cut]...)
	out = append(out, '.')
	return string(append(out, digits[cut:]...))
}

// toUnits converts a reference amount (a configuration constant such as a
// base price) to integer units of 10^-decimals, rounding to nearest. It is
// used only to set up profiles, never on a published value's way out.
func toUnits(x float64, decimals int) int64 {
	return int64(math.Round(x * float64(pow10(decimals))))
}

// logUniform draws an integer in [lo, hi] whose logarithm is uniform, so
// small sizes are common and large ones rare, as in real order flow.
func logUniform(rng *rand.Rand, lo, hi int64) int64 {
	lo = max(lo, 1)
	if hi <= lo {
		return lo
	}
	l, h := math.Log(float64(lo)), math.Log(float64(hi))
	v := int64(math.Round(math.Exp(l + rng.Float64()*(h-l))))
	return max(lo, min(v, hi))
}

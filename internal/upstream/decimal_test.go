package upstream

import (
	"math"
	"strings"
	"testing"
)

func TestFormatFixed(t *testing.T) {
	for _, tc := range []struct {
		v        int64
		decimals int
		want     string
	}{
		{0, 0, "0"},
		{0, 2, "0.00"},
		{5, 2, "0.05"},
		{50, 2, "0.50"},
		{100, 2, "1.00"},
		{6701210, 2, "67012.10"},
		{6000, 4, "0.6000"},
		{15000, 5, "0.15000"},
		{1, 5, "0.00001"},
		{1234, 0, "1234"},
		{125, 4, "0.0125"},
		{-5, 2, "-0.05"},
		{-670121, 2, "-6701.21"},
		{math.MaxInt64, 2, "92233720368547758.07"},
		{math.MinInt64, 2, "-92233720368547758.08"},
		{1, 18, "0.000000000000000001"},
	} {
		if got := formatFixed(tc.v, tc.decimals); got != tc.want {
			t.Errorf("formatFixed(%d, %d) = %q, want %q", tc.v, tc.decimals, got, tc.want)
		}
	}
}

// TestProfilesFormatAtTickSize checks that every default symbol's prices
// and sizes come out with its fixed number of decimals, near its reference
// price.
func TestProfilesFormatAtTickSize(t *testing.T) {
	f := NewTickFeed(&fakePublisher{}, Config{Seed: 7})
	for _, s := range f.streams {
		p := profileFor(s.symbol)
		for range 200 {
			tk := f.nextTick(s, 1)
			for name, v := range map[string]string{"bid": tk.Bid, "ask": tk.Ask, "last": tk.Last} {
				if got := decimalsOf(v); got != p.priceDecimals {
					t.Fatalf("%s %s %q has %d decimals, want %d", s.subject, name, v, got, p.priceDecimals)
				}
			}
			if got := decimalsOf(tk.Size); got != p.sizeDecimals {
				t.Fatalf("%s size %q has %d decimals, want %d", s.subject, tk.Size, got, p.sizeDecimals)
			}
		}
	}
}

func decimalsOf(s string) int {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

func TestLogUniformBounds(t *testing.T) {
	rng := newRand(3, 9)
	lo, hi := int64(10), int64(500000)
	sawSmall, sawLarge := false, false
	for range 5000 {
		v := logUniform(rng, lo, hi)
		if v < lo || v > hi {
			t.Fatalf("logUniform = %d, outside [%d, %d]", v, lo, hi)
		}
		sawSmall = sawSmall || v < 100
		sawLarge = sawLarge || v > 50000
	}
	if !sawSmall || !sawLarge {
		t.Fatalf("logUniform does not span its range: small %v large %v", sawSmall, sawLarge)
	}
	if v := logUniform(rng, 7, 7); v != 7 {
		t.Fatalf("logUniform(7, 7) = %d", v)
	}
}

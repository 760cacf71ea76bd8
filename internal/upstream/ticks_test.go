package upstream

import (
	"encoding/json"
	"math"
	"math/big"
	"regexp"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

var decimalRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

func TestTickRateFromConfig(t *testing.T) {
	def := Config{}.TickRate()
	if def < 50 {
		t.Fatalf("default tick rate %.1f/s, want >= 50/s", def)
	}
	if want := 20 / 0.150; math.Abs(def-want) > 1e-9 {
		t.Fatalf("default tick rate %.3f/s, want %.3f/s", def, want)
	}
	c := Config{Venues: []string{"a"}, Symbols: []string{"X-USD", "Y-USD"}, TickInterval: 10 * time.Millisecond}
	if got := c.TickRate(); math.Abs(got-200) > 1e-9 {
		t.Fatalf("tick rate %.3f/s, want 200/s", got)
	}
}

// TestTicksDefaultRateLive runs the default configuration for 1.5 s and
// checks a loose floor of 40 ticks/s (the model gives about 133/s).
func TestTicksDefaultRateLive(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	rec := record(t, connect(t, url), "ticks.>")
	pubConn := connect(t, url)
	f := NewTickFeed(pubConn, Config{})
	start := time.Now()
	stop := runFeed(t, f.Run)
	testsupport.WaitFor(t, "1.5s of ticks", 10*time.Second, func() bool { return time.Since(start) >= 1500*time.Millisecond })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	elapsed := time.Since(start).Seconds()
	if err := pubConn.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	pub := f.Stats().Published
	if rate := float64(pub) / elapsed; rate < 40 {
		t.Fatalf("published %d ticks in %.2fs = %.1f/s, want >= 40/s", pub, elapsed, rate)
	}
	testsupport.WaitFor(t, "all ticks received", 10*time.Second, func() bool { return uint64(len(rec.snapshot())) == pub })
}

// TestTicksPayloadsAndHeaders checks every tick of every stream: schema,
// decimal strings at a fixed tick size, bid < ask, last between them,
// realistic levels, and the header convention.
func TestTicksPayloadsAndHeaders(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	rec := record(t, connect(t, url), "ticks.>")
	before := time.Now().UnixMilli()
	f := NewTickFeed(connect(t, url), Config{TickInterval: 10 * time.Millisecond, Seed: 42})
	after := time.Now().UnixMilli()
	subjects := f.Subjects()
	if len(subjects) != 20 {
		t.Fatalf("%d subjects, want 20", len(subjects))
	}
	stop := runFeed(t, f.Run)
	testsupport.WaitFor(t, "5 ticks on each of the 20 subjects", 20*time.Second, func() bool {
		n := map[string]int{}
		for _, m := range rec.snapshot() {
			n[m.subject]++
		}
		for _, s := range subjects {
			if n[s] < 5 {
				return false
			}
		}
		return true
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	msgs := rec.snapshot()
	epoch := checkConvention(t, msgs)
	if epoch < before || epoch > after {
		t.Fatalf("Sh-Epoch %d not the feed's start time in [%d, %d]", epoch, before, after)
	}
	decimals := map[string][2]int{}
	for _, m := range msgs {
		var raw map[string]any
		if err := json.Unmarshal(m.data, &raw); err != nil {
			t.Fatalf("%s: %v", m.subject, err)
		}
		for _, k := range []string{"venue", "symbol", "bid", "ask", "last", "size"} {
			if _, ok := raw[k].(string); !ok {
				t.Fatalf("%s: field %q is %T, want a string: %s", m.subject, k, raw[k], m.data)
			}
		}
		var tk Tick
		if err := json.Unmarshal(m.data, &tk); err != nil {
			t.Fatalf("%s: %v", m.subject, err)
		}
		if m.subject != "ticks."+tk.Venue+"."+tk.Symbol {
			t.Fatalf("payload %s on subject %s", m.data, m.subject)
		}
		if tk.TS != headerInt(t, m, headerTs) {
			t.Fatalf("%s: ts %d != Sh-Ts %s", m.subject, tk.TS, m.hdr.Get(headerTs))
		}
		if m.hdr.Get(headerCritical) != "" {
			t.Fatalf("%s: a tick is marked critical", m.subject)
		}
		bid, ask, last, size := parseDec(t, tk.Bid), parseDec(t, tk.Ask), parseDec(t, tk.Last), parseDec(t, tk.Size)
		if bid.Sign() <= 0 || bid.Cmp(ask) >= 0 || last.Cmp(bid) < 0 || last.Cmp(ask) > 0 || size.Sign() <= 0 {
			t.Fatalf("%s: want 0 < bid < ask, bid <= last <= ask, size > 0: %s", m.subject, m.data)
		}
		ref := big.NewRat(1, 1).SetFloat64(profileFor(tk.Symbol).base)
		lo, hi := new(big.Rat).Mul(ref, big.NewRat(7, 10)), new(big.Rat).Mul(ref, big.NewRat(13, 10))
		if last.Cmp(lo) < 0 || last.Cmp(hi) > 0 {
			t.Fatalf("%s: last %s not within 30%% of %v", m.subject, tk.Last, profileFor(tk.Symbol).base)
		}
		d := [2]int{decimalsOf(tk.Bid), decimalsOf(tk.Size)}
		if decimalsOf(tk.Ask) != d[0] || decimalsOf(tk.Last) != d[0] {
			t.Fatalf("%s: prices with different decimals: %s", m.subject, m.data)
		}
		if prev, ok := decimals[m.subject]; ok && prev != d {
			t.Fatalf("%s: decimals changed from %v to %v", m.subject, prev, d)
		}
		decimals[m.subject] = d
	}
}

func parseDec(t *testing.T, s string) *big.Rat {
	t.Helper()
	if !decimalRE.MatchString(s) {
		t.Fatalf("%q is not a decimal string", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("%q does not parse", s)
	}
	return r
}

// TestTickVenuesDiffer checks that the same symbol quotes differently on
// the two venues over time, while staying close.
func TestTickVenuesDiffer(t *testing.T) {
	f := NewTickFeed(&fakePublisher{}, Config{Seed: 11})
	var cb, bn *tickStream
	for _, s := range f.streams {
		if s.symbol == "BTC-USD" && s.venue == "coinbase" {
			cb = s
		}
		if s.symbol == "BTC-USD" && s.venue == "binance" {
			bn = s
		}
	}
	if cb == nil || bn == nil || cb.sym != bn.sym {
		t.Fatal("BTC-USD streams missing or not sharing one fair value")
	}
	var sumDiff float64
	for range 500 {
		a, b := f.nextTick(cb, 1), f.nextTick(bn, 1)
		fa, _ := new(big.Rat).SetString(a.Last)
		fb, _ := new(big.Rat).SetString(b.Last)
		d, _ := new(big.Rat).Sub(fa, fb).Float64()
		if math.Abs(d) > 200 {
			t.Fatalf("venues %v apart on BTC-USD: %s vs %s", d, a.Last, b.Last)
		}
		sumDiff += d
	}
	if mean := sumDiff / 500; mean <= 0 {
		t.Fatalf("coinbase should quote above binance on average, mean diff %.2f", mean)
	}
}

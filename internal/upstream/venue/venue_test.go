package venue

import (
	"errors"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/internal/upstream"
)

func TestSymbols(t *testing.T) {
	for in, want := range map[string]string{
		"BTC-USD": "BTC-USD", "btc-usd": "BTC-USD", "XBT/USD": "BTC-USD", "xdg/usdt": "DOGE-USDT",
		"BTC-USDT": "BTC-USDT", "ETH/BTC": "ETH-BTC", "1INCH-USD": "1INCH-USD",
	} {
		s, err := ParseSymbol(in)
		if err != nil || s.String() != want {
			t.Errorf("ParseSymbol(%q) = %v, %v; want %s", in, s, err, want)
		}
	}
	for _, bad := range []string{"", "BTCUSD", "BTC-", "-USD", "BTC-USD-X", "BTC/USD-X", "BT C-USD", "BTC.X-USD", "BTC-US*", strings.Repeat("A", 21) + "-USD"} {
		if _, err := ParseSymbol(bad); !errors.Is(err, ErrSymbol) {
			t.Errorf("ParseSymbol(%q): %v, want ErrSymbol", bad, err)
		}
	}
	if _, err := ParseSymbols([]string{"BTC-USD", "XBT-USD"}); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Errorf("XBT-USD beside BTC-USD: %v", err)
	}
	if _, err := ParseSymbols(nil); err == nil {
		t.Error("no symbols accepted")
	}
	// USDT is never USD.
	a, _ := ParseSymbol("BTC-USDT")
	b, _ := ParseSymbol("BTC-USD")
	if a == b {
		t.Error("BTC-USDT merged with BTC-USD")
	}
}

func TestDecimals(t *testing.T) {
	for in, want := range map[string]string{"67012.10": "67012.1", "0.5": "0.5", "007": "7", "0.000": "0", "10": "10", "0": "0"} {
		if got, ok := Decimal(in); !ok || got != want {
			t.Errorf("Decimal(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "-1", "1.", ".5", "1e5", "1,5", " 1", "0x10", strings.Repeat("1", 41)} {
		if _, ok := Decimal(bad); ok {
			t.Errorf("Decimal(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{"0.10025": "0.10025", "1.2e-5": "0.000012", "1E+3": "1000", "12.5e1": "125",
		"1.25e1": "12.5", "5e0": "5", "0.5e-1": "0.05", "123": "123"} {
		if got, ok := NumberDecimal(in); !ok || got != want {
			t.Errorf("NumberDecimal(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"-1", "1e99", "1e", "e5", "1.2.3e1"} {
		if got, ok := NumberDecimal(bad); ok {
			t.Errorf("NumberDecimal(%q) = %q accepted", bad, got)
		}
	}
	for _, c := range []struct {
		a, b string
		want int
	}{{"1", "2", -1}, {"10", "9", 1}, {"1.5", "1.45", 1}, {"1.05", "1.5", -1}, {"3", "3", 0}, {"0.1", "0.01", 1}} {
		if got := CmpDecimal(c.a, c.b); got != c.want {
			t.Errorf("CmpDecimal(%s, %s) = %d", c.a, c.b, got)
		}
	}
}

// FuzzDecimal checks the decimal helpers against math/big: Decimal accepts
// exactly the non-negative plain decimals and keeps their value;
// NumberDecimal keeps the value of what it accepts; CmpDecimal orders as
// big.Rat does.
func FuzzDecimal(f *testing.F) {
	for _, s := range []string{"0", "1.50", "007.0", "1e-7", "2.5E+3", "-1", "1.", "x"} {
		f.Add(s, "1.5")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ca, okA := Decimal(a)
		if okA {
			ra, _ := new(big.Rat).SetString(a)
			rc, ok := new(big.Rat).SetString(ca)
			if ra == nil || !ok || ra.Cmp(rc) != 0 || strings.HasPrefix(a, "-") {
				t.Fatalf("Decimal(%q) = %q changes the value", a, ca)
			}
			if cb, okB := Decimal(b); okB {
				rb, _ := new(big.Rat).SetString(cb)
				if got, want := CmpDecimal(ca, cb), rc.Cmp(rb); got != want {
					t.Fatalf("CmpDecimal(%q, %q) = %d, want %d", ca, cb, got, want)
				}
			}
		}
		if n, ok := NumberDecimal(a); ok {
			ra, okR := new(big.Rat).SetString(a)
			rn, okN := new(big.Rat).SetString(n)
			if !okR || !okN || ra.Cmp(rn) != 0 {
				t.Fatalf("NumberDecimal(%q) = %q changes the value", a, n)
			}
			if _, plain := Decimal(n); !plain {
				t.Fatalf("NumberDecimal(%q) = %q is not a plain decimal", a, n)
			}
		}
	})
}

func TestBookTracksBest(t *testing.T) {
	b := NewBook()
	set := func(bid bool, p, q string) bool {
		t.Helper()
		moved, err := b.Set(bid, p, q)
		if err != nil {
			t.Fatal(err)
		}
		return moved
	}
	set(true, "100.00", "1")
	set(true, "99.50", "1")
	set(false, "100.10", "1")
	set(false, "101", "1")
	if bid, ask := b.Best(); bid != "100.00" || ask != "100.10" {
		t.Fatalf("best %s %s", bid, ask)
	}
	if set(true, "99.00", "3") {
		t.Error("a worse bid moved the best")
	}
	if !set(true, "100.0", "0") { // the same level written differently
		t.Error("removing the best bid did not move it")
	}
	if bid, _ := b.Best(); bid != "99.50" {
		t.Fatalf("best bid %s, want 99.50", bid)
	}
	if !set(false, "100.05", "2") {
		t.Error("a better ask did not move the best")
	}
	if n, m := b.Levels(); n != 2 || m != 3 {
		t.Fatalf("levels %d %d", n, m)
	}
	if _, err := b.Set(true, "x", "1"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad price: %v", err)
	}
	// A side is bounded: the level past the bound asks for a resync.
	full := NewBook()
	for i := range MaxBookLevels {
		if _, err := full.Set(false, strconv.Itoa(i+1), "1"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := full.Set(false, "1", "2"); err != nil {
		t.Fatalf("updating a level of a full side: %v", err)
	}
	if _, err := full.Set(false, "0.5", "1"); !errors.Is(err, ErrResync) {
		t.Fatalf("level past the bound: %v", err)
	}
}

func TestBackoffIsJitteredAndBounded(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second}
	seen := map[time.Duration]bool{}
	for i := range 50 {
		d := b.next()
		if d < 50*time.Millisecond || d > time.Second {
			t.Fatalf("attempt %d: %v outside [50ms, 1s]", i, d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct delays: not jittered", len(seen))
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Fatalf("after reset %v, want <= min", d)
	}
}

type flakyPub struct {
	mu   sync.Mutex
	fail bool
	msgs []*nats.Msg
}

func (p *flakyPub) PublishMsg(m *nats.Msg) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return errors.New("nats down")
	}
	p.msgs = append(p.msgs, m)
	return nil
}

// A refused publish consumes no Sh-Seq; lost() opens a new, greater epoch
// on the next publish, even within the same millisecond.
func TestPublisherNumbering(t *testing.T) {
	pub := &flakyPub{}
	now := time.UnixMilli(1732712345000)
	var st counters
	p := newTickPublisher(pub, "x", func() time.Time { return now }, &st, &limitedLog{log: discard()})
	sym := Symbol{"BTC", "USD"}
	tick := func() { p.publish(sym, &upstream.Tick{Bid: "1", Ask: "2", Last: "1", TS: 5}) }
	tick()
	pub.fail = true
	tick()
	pub.fail = false
	tick()
	p.lost()
	tick()
	p.lost(Symbol{"ETH", "USD"}) // another symbol: BTC keeps its epoch
	tick()
	var got []string
	for _, m := range pub.msgs {
		got = append(got, m.Header.Get(upstream.HeaderEpoch)+"/"+m.Header.Get(upstream.HeaderSeq))
		if m.Subject != "ticks.x.BTC-USD" || m.Header.Get(upstream.HeaderTs) != "5" {
			t.Fatalf("message %s %v", m.Subject, m.Header)
		}
	}
	want := "1732712345000/1 1732712345000/2 1732712345001/1 1732712345001/2"
	if strings.Join(got, " ") != want {
		t.Fatalf("epoch/seq %v, want %s", got, want)
	}
	if s := st.snapshot(); s.Published != 4 || s.PublishErrors != 1 || s.Epochs != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// The book's best levels agree with a plain scan of a map after every one
// of 20,000 random updates (prices written in several ways).
func TestBookAgreesWithAScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	b := NewBook()
	model := [2]map[string]bool{{}, {}} // canonical prices with a level: asks, bids
	for i := range 20_000 {
		bid := rng.IntN(2) == 1
		price := strconv.Itoa(90+rng.IntN(20)) + "." + strconv.Itoa(rng.IntN(10))
		if rng.IntN(3) == 0 {
			price += "0" // the same level, written differently
		}
		size := "0"
		if rng.IntN(2) == 0 {
			size = "1.5"
		}
		if _, err := b.Set(bid, price, size); err != nil {
			t.Fatal(err)
		}
		side := model[0]
		if bid {
			side = model[1]
		}
		c, _ := Decimal(price)
		if size == "0" {
			delete(side, c)
		} else {
			side[c] = true
		}
		wantBid, wantAsk := "", ""
		for p := range model[1] {
			if wantBid == "" || CmpDecimal(p, wantBid) > 0 {
				wantBid = p
			}
		}
		for p := range model[0] {
			if wantAsk == "" || CmpDecimal(p, wantAsk) < 0 {
				wantAsk = p
			}
		}
		gotBid, gotAsk := b.Best()
		cb, _ := Decimal(gotBid)
		ca, _ := Decimal(gotAsk)
		if cb != wantBid && !(gotBid == "" && wantBid == "") || ca != wantAsk && !(gotAsk == "" && wantAsk == "") {
			t.Fatalf("update %d: best %q/%q, want %q/%q", i, gotBid, gotAsk, wantBid, wantAsk)
		}
		if nb, na := b.Levels(); nb != len(model[1]) || na != len(model[0]) {
			t.Fatalf("update %d: levels %d/%d, want %d/%d", i, nb, na, len(model[1]), len(model[0]))
		}
	}
}

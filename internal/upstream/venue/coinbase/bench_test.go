package coinbase

import (
	"strconv"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/upstream"
	"github.com/streamhub/streamhub/internal/upstream/venue"
	vt "github.com/streamhub/streamhub/internal/upstream/venue/venuetest"
)

type countOut struct{ n int }

func (o *countOut) Tick(venue.Symbol, *upstream.Tick) { o.n++ }
func (o *countOut) Gap(...venue.Symbol)               {}

// BenchmarkHandleLevel2 decodes level2 updates that move the best bid of a
// 1,000-level book, each publishing a tick (to a counter): the decoder's
// cost per venue message, without NATS.
func BenchmarkHandleLevel2(b *testing.B) {
	a := New()
	syms, _ := venue.ParseSymbols([]string{"BTC-USD"})
	if _, err := a.Subscribe(syms); err != nil {
		b.Fatal(err)
	}
	a.Reset()
	f := &vt.CoinbaseFrames{}
	now := time.Now()
	levels := make([]vt.Level, 0, 1000)
	for i := range 500 {
		levels = append(levels, vt.Bid(price(60000-i), "1"), vt.Ask(price(60001+i), "1"))
	}
	out := &countOut{}
	for _, fr := range [][]byte{f.L2(now, true, "BTC-USD", levels...), f.Ticker(now, "BTC-USD", "60000.50", "60000.00", "60001.00")} {
		if err := a.Handle(fr, now, out); err != nil {
			b.Fatal(err)
		}
	}
	frames := [][]byte{}
	for i := range 1000 {
		q := "2"
		if i%2 == 1 {
			q = "0"
		}
		frames = append(frames, f.L2(now, false, "BTC-USD", vt.Bid("60000.50", q)))
	}
	a.lastSeq = -1
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if i%len(frames) == 0 {
			a.lastSeq = -1
		}
		if err := a.Handle(frames[i%len(frames)], now, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(out.n)/float64(b.N), "ticks/op")
}

func price(i int) string { return strconv.Itoa(i) + ".00" }

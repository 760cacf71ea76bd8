package coinbase

import (
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/upstream"
	"github.com/streamhub/streamhub/internal/upstream/venue"
	vt "github.com/streamhub/streamhub/internal/upstream/venue/venuetest"
)

type nopOut struct{ ticks int }

func (o *nopOut) Tick(_ venue.Symbol, t *upstream.Tick) {
	if t.Bid == "" || t.Ask == "" || t.Last == "" {
		panic("incomplete tick")
	}
	o.ticks++
}
func (o *nopOut) Gap(...venue.Symbol) {}

// FuzzHandle feeds the decoder arbitrary frames after a valid start: it
// must never panic, and must publish only complete ticks.
func FuzzHandle(f *testing.F) {
	fr := &vt.CoinbaseFrames{}
	now := time.UnixMilli(1732712345678)
	for _, seed := range [][]byte{
		fr.Subscriptions(now, []string{"BTC-USD"}),
		fr.Heartbeat(now, 1),
		fr.L2(now, true, "BTC-USD", vt.Bid("1.0", "1"), vt.Ask("1.1", "1")),
		fr.L2(now, false, "BTC-USD", vt.Bid("1.0", "0")),
		fr.Ticker(now, "BTC-USD", "1.05", "1.0", "1.1"),
		vt.CoinbaseError("bad"),
		[]byte(`{"channel":"l2_data","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":9,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"x"}]}]}`),
	} {
		f.Add(seed)
	}
	syms, _ := venue.ParseSymbols([]string{"BTC-USD"})
	f.Fuzz(func(t *testing.T, frame []byte) {
		a := New()
		if _, err := a.Subscribe(syms); err != nil {
			t.Fatal(err)
		}
		a.Reset()
		out := &nopOut{}
		_ = a.Handle(frame, now, out)
		_ = a.Handle(frame, now, out)
	})
}

package kraken

import (
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/upstream"
	"github.com/streamhub/streamhub/internal/upstream/venue"
	vt "github.com/streamhub/streamhub/internal/upstream/venue/venuetest"
)

type checkOut struct{}

func (checkOut) Tick(_ venue.Symbol, t *upstream.Tick) {
	for _, d := range []string{t.Bid, t.Ask, t.Last} {
		if _, ok := venue.Decimal(d); !ok {
			panic("not a decimal: " + d)
		}
	}
}
func (checkOut) Gap(...venue.Symbol) {}

// FuzzHandle: arbitrary frames never panic and every published price is a
// decimal string.
func FuzzHandle(f *testing.F) {
	for _, seed := range [][]byte{
		vt.KrakenStatus(), vt.KrakenHeartbeat(), vt.KrakenSubscribed("BTC/USD"), vt.KrakenRefused("BTC/USD", "no"),
		vt.KrakenTicker("update", "BTC/USD", "1.5", "1.6", "1.55", "2024-11-27T12:59:05.600000Z"),
		vt.KrakenTicker("update", "XBT/USD", "1e-7", "1E+3", "12", ""),
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
		_ = a.Handle(frame, time.Now(), checkOut{})
	})
}

package binance

import (
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/upstream"
	"github.com/streamhub/streamhub/internal/upstream/venue"
	vt "github.com/streamhub/streamhub/internal/upstream/venue/venuetest"
)

type checkOut struct{}

func (checkOut) Tick(_ venue.Symbol, t *upstream.Tick) {
	if t.Bid == "" || t.Ask == "" || t.Last == "" || t.VenueSeq == nil {
		panic("incomplete tick")
	}
}
func (checkOut) Gap(...venue.Symbol) {}

// FuzzHandle: arbitrary frames never panic and publish only complete ticks.
func FuzzHandle(f *testing.F) {
	for _, seed := range [][]byte{
		vt.BinanceBookTicker("BTCUSDT", 1, "1.0", "1.1"),
		vt.BinanceTrade("BTCUSDT", 7, 1732712345600, "1.05", "2"),
		vt.BinanceResult(1), vt.BinanceError(1, 2, "Invalid request"),
		[]byte(`{"code":0,"msg":"Unknown property","id":1}`),
		[]byte(`{"e":"serverShutdown","E":1}`),
	} {
		f.Add(seed)
	}
	syms, _ := venue.ParseSymbols([]string{"BTC-USDT"})
	f.Fuzz(func(t *testing.T, frame []byte) {
		a := New()
		if _, err := a.Subscribe(syms); err != nil {
			t.Fatal(err)
		}
		a.Reset()
		_ = a.Handle(vt.BinanceBookTicker("BTCUSDT", 1, "1.0", "1.1"), time.Now(), checkOut{})
		_ = a.Handle(frame, time.Now(), checkOut{})
		_ = a.Handle(frame, time.Now(), checkOut{})
	})
}

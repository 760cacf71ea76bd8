package binance

import (
	"testing"

	vt "github.com/streamhub/streamhub/internal/upstream/venue/venuetest"
)

// FuzzHandle: arbitrary frames, after a bookTicker, never panic and publish
// only decimal prices.
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
	f.Fuzz(func(t *testing.T, frame []byte) {
		vt.FuzzAdapter(t, New(), []string{"BTC-USDT"}, frame, vt.BinanceBookTicker("BTCUSDT", 1, "1.0", "1.1"))
	})
}

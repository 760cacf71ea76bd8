package kraken

import (
	"testing"

	vt "github.com/streamhub/streamhub/internal/upstream/venue/venuetest"
)

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
	f.Fuzz(func(t *testing.T, frame []byte) {
		vt.FuzzAdapter(t, New(), []string{"BTC-USD"}, frame)
	})
}

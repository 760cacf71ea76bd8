package coinbase

import (
	"testing"
	"time"

	vt "github.com/streamhub/streamhub/internal/upstream/venue/venuetest"
)

// FuzzHandle: arbitrary frames, after a subscription and a book snapshot,
// never panic and publish only decimal prices.
func FuzzHandle(f *testing.F) {
	fr := &vt.CoinbaseFrames{}
	now := time.UnixMilli(1732712345678)
	snapshot := fr.L2(now, true, "BTC-USD", vt.Bid("1.0", "1"), vt.Ask("1.1", "1"))
	for _, seed := range [][]byte{
		fr.Subscriptions(now, []string{"BTC-USD"}),
		fr.Heartbeat(now, 1),
		fr.L2(now, false, "BTC-USD", vt.Bid("1.0", "0")),
		fr.Ticker(now, "BTC-USD", "1.05", "1.0", "1.1"),
		vt.CoinbaseError("bad"),
		[]byte(`{"channel":"l2_data","timestamp":"2023-02-09T20:32:50.714964855Z","sequence_num":9,"events":[{"type":"update","product_id":"BTC-USD","updates":[{"side":"x"}]}]}`),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		vt.FuzzAdapter(t, New(), []string{"BTC-USD"}, frame, snapshot)
	})
}

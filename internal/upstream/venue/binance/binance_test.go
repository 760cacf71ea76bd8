package binance

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/testsupport"
	"github.com/streamhub/streamhub/internal/upstream"
	"github.com/streamhub/streamhub/internal/upstream/venue"
	vt "github.com/streamhub/streamhub/internal/upstream/venue/venuetest"
)

const wait = 10 * time.Second

func setup(t *testing.T, cfg venue.Config, symbols ...string) (*vt.Server, *vt.Recorder, *venue.Connector) {
	t.Helper()
	return vt.Setup(t, New(), "/stream", cfg, symbols...)
}

func subscribed(t *testing.T, conn *vt.Conn, want ...string) []int64 {
	t.Helper()
	var got []string
	var ids []int64
	for len(got) < len(want) {
		var r vt.BinanceRequest
		conn.ReadJSON(t, &r)
		if r.Method != "SUBSCRIBE" {
			t.Fatalf("method %q", r.Method)
		}
		got = append(got, r.Params...)
		ids = append(ids, r.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("subscribed to %v, want %v", got, want)
	}
	return ids
}

// USDT is a quote of its own: BTC-USDT is btcusdt on Binance and
// ticks.binance.BTC-USDT in the hub. Bid and ask come from bookTicker, last
// and size from trade; Sh-Ts is the trade's event time.
func TestCombinedStreamsToTicks(t *testing.T) {
	fake, rec, c := setup(t, venue.Config{}, "BTC-USDT", "ETH-BTC")
	conn := fake.Next(t, wait)
	ids := subscribed(t, conn, "btcusdt@bookTicker", "btcusdt@trade", "ethbtc@bookTicker", "ethbtc@trade")
	conn.MustSend(t, vt.BinanceResult(ids[0]))
	conn.MustSend(t, vt.BinanceBookTicker("BTCUSDT", 400900217, "67000.01000000", "67000.02000000"))
	conn.MustSend(t, vt.BinanceTrade("BTCUSDT", 12345, 1732712345600, "67000.01000000", "0.00100000"))
	before := time.Now().UnixMilli()
	conn.MustSend(t, vt.BinanceBookTicker("BTCUSDT", 400900230, "67000.00000000", "67000.02000000"))
	msgs := rec.WaitN(t, 2)
	m := msgs[0]
	var tk upstream.Tick
	if err := json.Unmarshal(m.Data, &tk); err != nil {
		t.Fatal(err)
	}
	if m.Subject != "ticks.binance.BTC-USDT" || tk.Symbol != "BTC-USDT" || tk.Bid != "67000.01000000" || tk.Ask != "67000.02000000" ||
		tk.Last != "67000.01000000" || tk.Size != "0.00100000" || *tk.VenueSeq != 12345 || m.Int(t, upstream.HeaderTs) != 1732712345600 {
		t.Fatalf("first tick %s %s %v", m.Subject, m.Data, m.Header)
	}
	m = msgs[1]
	if err := json.Unmarshal(m.Data, &tk); err != nil {
		t.Fatal(err)
	}
	if tk.Bid != "67000.00000000" || *tk.VenueSeq != 400900230 || m.Int(t, upstream.HeaderSeq) != 2 || m.Int(t, upstream.HeaderTs) < before {
		t.Fatalf("bookTicker tick %s %v (receive time, since spot bookTicker has none)", m.Data, m.Header)
	}
	if s := c.Stats(); s.Malformed != 0 || s.Gaps != 0 {
		t.Fatalf("stats %+v", s)
	}
}

// A skipped trade id is a lost trade: counted, and the symbol's next tick
// opens a new epoch; other symbols keep theirs.
func TestTradeIDGapOpensNewEpochForThatSymbol(t *testing.T) {
	fake, rec, c := setup(t, venue.Config{}, "BTC-USDT", "ETH-USDT")
	conn := fake.Next(t, wait)
	subscribed(t, conn, "btcusdt@bookTicker", "btcusdt@trade", "ethusdt@bookTicker", "ethusdt@trade")
	for _, s := range []string{"BTCUSDT", "ETHUSDT"} {
		conn.MustSend(t, vt.BinanceBookTicker(s, 1, "1.0", "1.1"))
		conn.MustSend(t, vt.BinanceTrade(s, 100, 1732712345600, "1.05", "2"))
	}
	conn.MustSend(t, vt.BinanceTrade("BTCUSDT", 103, 1732712345601, "1.05", "2")) // 101, 102 lost
	conn.MustSend(t, vt.BinanceTrade("ETHUSDT", 101, 1732712345601, "1.05", "2"))
	msgs := rec.WaitN(t, 4)
	if len(msgs) != 4 {
		t.Fatalf("%d ticks", len(msgs))
	}
	btc0, eth0, btc1, eth1 := msgs[0], msgs[1], msgs[2], msgs[3]
	if btc1.Int(t, upstream.HeaderSeq) != 1 || btc1.Int(t, upstream.HeaderEpoch) <= btc0.Int(t, upstream.HeaderEpoch) {
		t.Errorf("BTC after the gap: %v, before %v", btc1.Header, btc0.Header)
	}
	if eth1.Int(t, upstream.HeaderSeq) != 2 || eth1.Int(t, upstream.HeaderEpoch) != eth0.Int(t, upstream.HeaderEpoch) {
		t.Errorf("ETH has no gap but: %v, before %v", eth1.Header, eth0.Header)
	}
	if s := c.Stats(); s.Gaps != 1 || s.Epochs != 1 || s.Connects != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// The connector answers Binance's pings (the library sends the pong with
// the ping's payload) and counts them as liveness: a connection with only
// pings is not stale.
func TestPingsArePongedAndKeepTheFeedAlive(t *testing.T) {
	fake, _, c := setup(t, venue.Config{HeartbeatWindow: time.Second}, "BTC-USDT")
	conn := fake.Next(t, wait)
	subscribed(t, conn, "btcusdt@bookTicker", "btcusdt@trade")
	// A reader on the venue's side takes in the pongs.
	go func() { _, _ = conn.Read(time.Minute) }()
	for range 15 {
		if err := conn.Ping(5 * time.Second); err != nil {
			t.Fatalf("no pong: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if s := c.Stats(); s.Connects != 1 || s.Stale != 0 {
		t.Fatalf("a pinged connection was dropped: %+v", s)
	}
}

// The connection is renewed before Binance's 24 h limit (here scaled to
// MaxConnAge 300ms) and on a serverShutdown event, each time resubscribed;
// requests go out at no more than the configured rate.
func TestMaxAgeAndServerShutdownReconnect(t *testing.T) {
	fake, _, c := setup(t, venue.Config{MaxConnAge: 300 * time.Millisecond}, "BTC-USDT")
	conn := fake.Next(t, wait)
	subscribed(t, conn, "btcusdt@bookTicker", "btcusdt@trade")
	conn2 := fake.Next(t, wait)
	subscribed(t, conn2, "btcusdt@bookTicker", "btcusdt@trade")
	testsupport.WaitFor(t, "the renewed connection", wait, func() bool { return c.Stats().Connects >= 2 })
	if s := c.Stats(); s.Stale != 0 {
		t.Fatalf("renewal counted as stale: %+v", s)
	}

	fake2, _, c2 := setup(t, venue.Config{}, "BTC-USDT")
	conn = fake2.Next(t, wait)
	subscribed(t, conn, "btcusdt@bookTicker", "btcusdt@trade")
	conn.MustSend(t, `{"e":"serverShutdown","E":1732712345600}`)
	conn2 = fake2.Next(t, wait)
	subscribed(t, conn2, "btcusdt@bookTicker", "btcusdt@trade")
	testsupport.WaitFor(t, "the new connection", wait, func() bool { return c2.Stats().Connects == 2 })
}

// Requests are sent at no more than the venue's rate: 600 symbols need 6
// SUBSCRIBE requests of 200 streams, which at 4/s (burst 1) take at least
// 1.25 s — a lower bound, which load cannot break.
func TestSubscribeRequestsAreRateLimited(t *testing.T) {
	syms := make([]string, 600)
	want := make([]string, 0, 1200)
	for i := range syms {
		syms[i] = "A" + string(rune('A'+i/26%26)) + string(rune('A'+i%26)) + string(rune('A'+i/676)) + "-USDT"
	}
	fake, _, _ := setup(t, venue.Config{}, syms...)
	for _, s := range syms {
		l := s[:4] + "usdt"
		want = append(want, toLower(l)+"@bookTicker", toLower(l)+"@trade")
	}
	conn := fake.Next(t, wait)
	start := time.Now()
	ids := subscribed(t, conn, want...)
	if len(ids) != 6 || !slices.Equal(ids, []int64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("request ids %v", ids)
	}
	if d := time.Since(start); d < 1200*time.Millisecond {
		t.Fatalf("6 requests in %v: faster than 4/s", d)
	}
}

func toLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// An error answer to SUBSCRIBE is a refusal: counted, logged, retried
// after a backoff. Malformed frames are counted and dropped.
func TestRefusedAndMalformed(t *testing.T) {
	fake, rec, c := setup(t, venue.Config{}, "BTC-USDT")
	conn := fake.Next(t, wait)
	ids := subscribed(t, conn, "btcusdt@bookTicker", "btcusdt@trade")
	for _, bad := range []string{`{`, `{"stream":"btcusdt@trade"}`, `{"stream":"btcusdt@trade","data":{"s":"BTCUSDT","t":1,"E":5,"p":"x","q":"1"}}`,
		`{"stream":"xrpusdt@trade","data":{"s":"XRPUSDT","t":1,"E":5,"p":"1","q":"1"}}`, `{"result":null,"id":99}`} {
		conn.MustSend(t, bad)
	}
	conn.MustSend(t, vt.BinanceBookTicker("BTCUSDT", 1, "1.0", "1.1"))
	conn.MustSend(t, vt.BinanceTrade("BTCUSDT", 1, 1732712345600, "1.05", "2"))
	rec.WaitN(t, 1)
	if s := c.Stats(); s.Malformed != 5 || s.Connects != 1 {
		t.Fatalf("stats %+v", s)
	}
	conn.MustSend(t, vt.BinanceError(ids[0], 2, "Invalid request: unknown variable"))
	conn2 := fake.Next(t, wait)
	subscribed(t, conn2, "btcusdt@bookTicker", "btcusdt@trade")
	if s := c.Stats(); s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
}

package kraken

import (
	"encoding/json"
	"log/slog"
	"strings"
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
	return vt.Setup(t, New(), "/v2", cfg, symbols...)
}

func subscribed(t *testing.T, conn *vt.Conn, pairs string) {
	t.Helper()
	var s vt.KrakenSubscribe
	conn.ReadJSON(t, &s)
	if s.Method != "subscribe" || s.Params.Channel != "ticker" || vt.KrakenPairs(s) != pairs {
		t.Fatalf("request %+v, want ticker for %s", s, pairs)
	}
}

// XBT is bitcoin: "XBT/USD" and "BTC/USD" both publish on
// ticks.kraken.BTC-USD; JSON numbers become decimal strings of the same
// text (exponent forms written out); the ticker's timestamp is Sh-Ts.
func TestTickerToTicks(t *testing.T) {
	fake, rec, c := setup(t, venue.Config{}, "XBT-USD", "DOGE-USDT")
	conn := fake.Next(t, wait)
	conn.MustSend(t, vt.KrakenStatus())
	subscribed(t, conn, "BTC/USD,DOGE/USDT")
	conn.MustSend(t, vt.KrakenSubscribed("BTC/USD"))
	conn.MustSend(t, vt.KrakenTicker("snapshot", "BTC/USD", "67000.1", "67000.2", "67000.10", "2024-11-27T12:59:05.600000Z"))
	conn.MustSend(t, vt.KrakenHeartbeat())
	conn.MustSend(t, vt.KrakenTicker("update", "XBT/USD", "67000.0", "67000.2", "67000.0", "2024-11-27T12:59:05.700000Z"))
	conn.MustSend(t, vt.KrakenTicker("update", "DOGE/USDT", "1.2e-5", "0.0000121", "0.000012", ""))
	msgs := rec.WaitN(t, 3)
	var tk upstream.Tick
	if err := json.Unmarshal(msgs[0].Data, &tk); err != nil {
		t.Fatal(err)
	}
	if msgs[0].Subject != "ticks.kraken.BTC-USD" || tk.Bid != "67000.1" || tk.Ask != "67000.2" || tk.Last != "67000.10" ||
		tk.VenueSeq != nil || msgs[0].Int(t, upstream.HeaderTs) != 1732712345600 || strings.Contains(string(msgs[0].Data), "venue_seq") {
		t.Fatalf("first tick %s %s %v", msgs[0].Subject, msgs[0].Data, msgs[0].Header)
	}
	if msgs[1].Subject != "ticks.kraken.BTC-USD" || msgs[1].Int(t, upstream.HeaderSeq) != 2 {
		t.Fatalf("the XBT/USD tick: %s %v", msgs[1].Subject, msgs[1].Header)
	}
	if err := json.Unmarshal(msgs[2].Data, &tk); err != nil {
		t.Fatal(err)
	}
	if msgs[2].Subject != "ticks.kraken.DOGE-USDT" || tk.Bid != "0.000012" || tk.Ask != "0.0000121" {
		t.Fatalf("DOGE tick %s %s", msgs[2].Subject, msgs[2].Data)
	}
	if s := c.Stats(); s.Malformed != 0 || s.Published != 3 {
		t.Fatalf("stats %+v", s)
	}
}

// A refused pair is an error with Kraken's words; the connector backs off
// and tries again.
func TestRefusedSubscription(t *testing.T) {
	logs := &testsupport.Buffer{}
	fake, _, c := setup(t, venue.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))}, "BTC-XYZ")
	conn := fake.Next(t, wait)
	subscribed(t, conn, "BTC/XYZ")
	conn.MustSend(t, vt.KrakenRefused("BTC/XYZ", "Currency pair not supported"))
	conn2 := fake.Next(t, wait)
	subscribed(t, conn2, "BTC/XYZ")
	if s := c.Stats(); s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
	if !strings.Contains(logs.String(), "Currency pair not supported (BTC/XYZ)") {
		t.Fatalf("log:\n%s", logs)
	}
}

// Missing heartbeats make the feed stale; a dropped connection is
// re-established; malformed frames are dropped and counted.
func TestStaleDisconnectMalformed(t *testing.T) {
	fake, rec, c := setup(t, venue.Config{HeartbeatWindow: 500 * time.Millisecond, SendRate: 100}, "ETH-USD")
	conn := fake.Next(t, wait)
	subscribed(t, conn, "ETH/USD")
	conn2 := fake.Next(t, wait) // no heartbeats: stale
	testsupport.WaitFor(t, "the second connection", wait, func() bool { return c.Stats().Connects == 2 })
	if s := c.Stats(); s.Stale != 1 {
		t.Fatalf("stats %+v", s)
	}
	subscribed(t, conn2, "ETH/USD")
	for _, bad := range []string{`nope`, `{}`, `{"channel":"ticker","data":[{"symbol":"ETH/USD","bid":"x","ask":1,"last":1}]}`,
		`{"channel":"ticker","data":[{"symbol":"ETH/USD","bid":-1,"ask":1,"last":1}]}`, `{"method":"subscribe"}`} {
		conn2.MustSend(t, bad)
	}
	conn2.MustSend(t, vt.KrakenTicker("update", "ETH/USD", "3500.1", "3500.2", "3500.15", ""))
	rec.WaitN(t, 1)
	if s := c.Stats(); s.Malformed != 5 {
		t.Fatalf("stats %+v", s)
	}
	conn2.Close()
	conn3 := fake.Next(t, wait)
	subscribed(t, conn3, "ETH/USD")
	conn3.MustSend(t, vt.KrakenTicker("update", "ETH/USD", "3500.1", "3500.2", "3500.15", ""))
	msgs := rec.WaitN(t, 2)
	if msgs[1].Int(t, upstream.HeaderSeq) != 1 || msgs[1].Int(t, upstream.HeaderEpoch) <= msgs[0].Int(t, upstream.HeaderEpoch) {
		t.Fatalf("after the reconnect: %v", msgs[1].Header)
	}
}

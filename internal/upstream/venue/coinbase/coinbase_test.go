package coinbase

import (
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/testsupport"
	"github.com/streamhub/streamhub/internal/upstream"
	"github.com/streamhub/streamhub/internal/upstream/venue"
	vt "github.com/streamhub/streamhub/internal/upstream/venue/venuetest"
)

const wait = 10 * time.Second

// setup starts a real nats-server, a fake Coinbase and a connector for
// BTC-USD and ETH-USD between them.
func setup(t *testing.T, cfg venue.Config) (*vt.Server, *vt.Recorder, *venue.Connector) {
	t.Helper()
	return vt.Setup(t, New(), "/", cfg, "BTC-USD", "ETH-USD")
}

// subscribed reads the connector's three subscribe requests and checks
// them against the documented shape.
func subscribed(t *testing.T, conn *vt.Conn) {
	t.Helper()
	var got []string
	for range 3 {
		var s vt.CoinbaseSubscribe
		conn.ReadJSON(t, &s)
		if s.Type != "subscribe" {
			t.Fatalf("request type %q", s.Type)
		}
		if s.Channel != "heartbeats" && !slices.Equal(s.ProductIDs, []string{"BTC-USD", "ETH-USD"}) {
			t.Fatalf("%s: product_ids %v", s.Channel, s.ProductIDs)
		}
		got = append(got, s.Channel)
	}
	if !slices.Equal(got, []string{"heartbeats", "ticker", "level2"}) {
		t.Fatalf("subscribed to %v, want heartbeats, ticker, level2", got)
	}
}

func tick(t *testing.T, m vt.Msg) upstream.Tick {
	t.Helper()
	var tk upstream.Tick
	if err := json.Unmarshal(m.Data, &tk); err != nil {
		t.Fatalf("%s: %q: %v", m.Subject, m.Data, err)
	}
	return tk
}

// Normal flow, seen on NATS: subject, the three headers, the payload, with
// bid and ask from the level2 book and last from the ticker.
func TestTicksReachNATSWithVenueTimeAndSequence(t *testing.T) {
	fake, rec, c := setup(t, venue.Config{})
	conn := fake.Next(t, wait)
	subscribed(t, conn)
	f := &vt.CoinbaseFrames{}
	ts := time.UnixMilli(1732712345678).UTC()
	conn.MustSend(t, f.Subscriptions(ts, []string{"BTC-USD", "ETH-USD"}))
	conn.MustSend(t, f.Heartbeat(ts, 1))
	conn.MustSend(t, f.L2(ts, true, "BTC-USD", vt.Bid("67000.10", "1"), vt.Bid("66999.00", "3"),
		vt.Ask("67001.50", "2"), vt.Ask("67002.00", "1")))
	conn.MustSend(t, f.Ticker(ts.Add(time.Millisecond), "BTC-USD", "67000.90", "1", "2")) // sequence_num 3
	msgs := rec.WaitN(t, 1)
	m := msgs[0]
	if m.Subject != "ticks.coinbase.BTC-USD" {
		t.Fatalf("subject %q", m.Subject)
	}
	if got := m.Int(t, upstream.HeaderTs); got != 1732712345679 {
		t.Errorf("Sh-Ts %d, want the ticker's timestamp 1732712345679", got)
	}
	if got := m.Int(t, upstream.HeaderSeq); got != 1 {
		t.Errorf("Sh-Seq %d, want 1", got)
	}
	epoch := m.Int(t, upstream.HeaderEpoch)
	tk := tick(t, m)
	if tk.Venue != "coinbase" || tk.Symbol != "BTC-USD" || tk.Bid != "67000.10" || tk.Ask != "67001.50" ||
		tk.Last != "67000.90" || tk.Size != "" || tk.TS != 1732712345679 || tk.VenueSeq == nil || *tk.VenueSeq != 3 {
		t.Fatalf("tick %s", m.Data)
	}
	if strings.Contains(string(m.Data), `"size"`) {
		t.Errorf("size sent although Coinbase's ticker has none: %s", m.Data)
	}

	// The best bid leaves the book: the next best is published at once.
	conn.MustSend(t, f.L2(ts.Add(2*time.Millisecond), false, "BTC-USD", vt.Bid("67000.10", "0")))
	// A level behind the best changes nothing.
	conn.MustSend(t, f.L2(ts.Add(3*time.Millisecond), false, "BTC-USD", vt.Ask("67005.00", "4")))
	conn.MustSend(t, f.Ticker(ts.Add(4*time.Millisecond), "ETH-USD", "3500.5", "3500.4", "3500.6"))
	msgs = rec.WaitN(t, 3)
	if len(msgs) != 3 {
		t.Fatalf("%d ticks, want 3", len(msgs))
	}
	m = msgs[1]
	if tk := tick(t, m); tk.Bid != "66999.00" || tk.Ask != "67001.50" || m.Int(t, upstream.HeaderSeq) != 2 ||
		m.Int(t, upstream.HeaderEpoch) != epoch || *tk.VenueSeq != 4 {
		t.Fatalf("after the best bid left: %s %v", m.Data, m.Header)
	}
	// ETH-USD has no book yet: the ticker's own best bid and ask.
	m = msgs[2]
	if tk := tick(t, m); m.Subject != "ticks.coinbase.ETH-USD" || tk.Bid != "3500.4" || tk.Ask != "3500.6" || m.Int(t, upstream.HeaderSeq) != 1 {
		t.Fatalf("ETH tick %s %v", m.Data, m.Header)
	}
	if s := c.Stats(); s.Published != 3 || s.Gaps != 0 || s.Malformed != 0 || s.Connects != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// A jump of sequence_num is counted, the connector reconnects and
// resubscribes, and the subjects' next ticks open a new epoch (Sh-Seq 1).
func TestSequenceGapGivesNewEpochAndResubscribes(t *testing.T) {
	fake, rec, c := setup(t, venue.Config{})
	conn := fake.Next(t, wait)
	subscribed(t, conn)
	f := &vt.CoinbaseFrames{}
	now := time.Now()
	conn.MustSend(t, f.Ticker(now, "BTC-USD", "1.5", "1.4", "1.6"))
	conn.MustSend(t, f.Ticker(now, "BTC-USD", "1.5", "1.4", "1.6"))
	first := rec.WaitN(t, 2)
	f.Seq += 5 // five messages lost
	conn.MustSend(t, f.Ticker(now, "BTC-USD", "1.7", "1.4", "1.8"))

	conn2 := fake.Next(t, wait)
	subscribed(t, conn2)
	f2 := &vt.CoinbaseFrames{}
	conn2.MustSend(t, f2.Ticker(now, "BTC-USD", "1.9", "1.8", "2.0"))
	msgs := rec.WaitN(t, 3)
	if len(msgs) != 3 {
		t.Fatalf("%d ticks: the frame after the gap must not be published from a broken book", len(msgs))
	}
	e1, e2 := first[1].Int(t, upstream.HeaderEpoch), msgs[2].Int(t, upstream.HeaderEpoch)
	if e2 <= e1 || msgs[2].Int(t, upstream.HeaderSeq) != 1 {
		t.Fatalf("after the gap: epoch %d (was %d), seq %d; want a greater epoch and seq 1", e2, e1, msgs[2].Int(t, upstream.HeaderSeq))
	}
	if s := c.Stats(); s.Gaps != 1 || s.Epochs != 1 || s.Connects != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// A venue that goes silent beyond the heartbeat window is stale: the
// connector drops it and connects again.
func TestSilentFeedIsStaleAndReconnects(t *testing.T) {
	fake, _, c := setup(t, venue.Config{HeartbeatWindow: time.Second})
	conn := fake.Next(t, wait)
	subscribed(t, conn)
	// Nothing is sent: the heartbeats stop.
	conn2 := fake.Next(t, wait)
	testsupport.WaitFor(t, "the second connection", wait, func() bool { return c.Stats().Connects == 2 })
	if s := c.Stats(); s.Stale != 1 {
		t.Fatalf("stats %+v", s)
	}
	// Heartbeats every 100 ms keep a connection alive for 3 windows.
	sent := make(chan error, 1)
	go func() {
		f := &vt.CoinbaseFrames{}
		for i := range 30 {
			if err := conn2.Send(f.Heartbeat(time.Now(), i)); err != nil {
				sent <- err
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		sent <- nil
	}()
	subscribed(t, conn2)
	if err := <-sent; err != nil {
		t.Fatalf("heartbeats: %v", err)
	}
	if s := c.Stats(); s.Connects != 2 || s.Stale != 1 {
		t.Fatalf("a connection with heartbeats was dropped: %+v", s)
	}
}

// A dropped connection is re-established and resubscribed; the ticks after
// it open a new epoch.
func TestDisconnectReconnectsAndResubscribes(t *testing.T) {
	fake, rec, _ := setup(t, venue.Config{})
	conn := fake.Next(t, wait)
	subscribed(t, conn)
	f := &vt.CoinbaseFrames{}
	conn.MustSend(t, f.Ticker(time.Now(), "ETH-USD", "10", "9", "11"))
	rec.WaitN(t, 1)
	conn.Close()
	conn2 := fake.Next(t, wait)
	subscribed(t, conn2)
	f = &vt.CoinbaseFrames{Seq: 100}
	conn2.MustSend(t, f.Ticker(time.Now(), "ETH-USD", "10", "9", "11"))
	msgs := rec.WaitN(t, 2)
	if msgs[1].Int(t, upstream.HeaderSeq) != 1 || msgs[1].Int(t, upstream.HeaderEpoch) <= msgs[0].Int(t, upstream.HeaderEpoch) {
		t.Fatalf("after the reconnect: %v", msgs[1].Header)
	}
}

// Malformed frames are dropped and counted; the connection stays up and
// the good frames after them are published.
func TestMalformedFramesAreCountedNotFatal(t *testing.T) {
	fake, rec, c := setup(t, venue.Config{})
	conn := fake.Next(t, wait)
	subscribed(t, conn)
	f := &vt.CoinbaseFrames{}
	for _, bad := range []string{`not json`, `{"channel":"ticker"}`, `[1,2]`,
		`{"channel":"ticker","timestamp":"yesterday","sequence_num":0,"events":[]}`} {
		conn.MustSend(t, bad)
	}
	conn.MustSend(t, f.Ticker(time.Now(), "BTC-USD", "-1", "1", "2")) // a negative price
	conn.MustSend(t, f.Ticker(time.Now(), "BTC-USD", "1.5", "1", "2"))
	msgs := rec.WaitN(t, 1)
	if tick(t, msgs[0]).Last != "1.5" {
		t.Fatalf("published %s", msgs[0].Data)
	}
	if s := c.Stats(); s.Malformed != 5 || s.Connects != 1 {
		t.Fatalf("stats %+v", s)
	}
}

// A refused subscription is logged with the venue's words, counted, and
// retried on a new connection after a backoff.
func TestRefusedSubscriptionIsLoggedAndRetried(t *testing.T) {
	logs := &testsupport.Buffer{}
	fake, _, c := setup(t, venue.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	conn := fake.Next(t, wait)
	subscribed(t, conn)
	conn.MustSend(t, vt.CoinbaseError("failure to subscribe: product FOO-BAR not found"))
	conn2 := fake.Next(t, wait)
	subscribed(t, conn2)
	if s := c.Stats(); s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
	if !strings.Contains(logs.String(), "product FOO-BAR not found") || !strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("log:\n%s", logs)
	}
}

// A frame over the read limit cannot be read: the connection ends and the
// connector connects again, rather than buffering without bound.
func TestOversizedFrameEndsTheConnection(t *testing.T) {
	fake, _, c := setup(t, venue.Config{ReadLimit: 1024})
	conn := fake.Next(t, wait)
	subscribed(t, conn)
	f := &vt.CoinbaseFrames{}
	conn.MustSend(t, f.Ticker(time.Now(), "BTC-USD", strings.Repeat("1", 2000), "1", "2"))
	conn2 := fake.Next(t, wait)
	subscribed(t, conn2)
	if s := c.Stats(); s.Disconnects != 1 || s.Published != 0 {
		t.Fatalf("stats %+v", s)
	}
}

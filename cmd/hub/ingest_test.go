package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamhub/streamhub/client"
	"github.com/streamhub/streamhub/internal/testsupport"
	"github.com/streamhub/streamhub/internal/upstream/venue/venuetest"
)

// fakeVenue runs a fake venue that serves every connection with serve (a
// well-behaved venue of venuetest, sending every 50 ms) until the test
// ends.
func fakeVenue(t *testing.T, serve func(context.Context, *venuetest.Conn, time.Duration) error) *venuetest.Server {
	t.Helper()
	fake := venuetest.NewServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case c := <-fake.Conns():
				go func() { _ = serve(ctx, c, 50*time.Millisecond); c.Close() }()
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return fake
}

// tickLine is a line of hub subscribe for a tick: subject and seq.
var tickLine = regexp.MustCompile(`(?m)^(ticks\.coinbase\.[A-Z-]+) seq=(\d+) \{.*"venue":"coinbase".*\}$`)

// The README's `hub ingest coinbase`, run as the real binary against a fake
// Coinbase (--url) and a real hub, twice for high availability: the first
// leads and its ticks reach a `hub subscribe` client through the hub; the
// standby publishes nothing meanwhile (the per-subject seq never repeats);
// when the leader is killed (SIGKILL: no release), the standby takes over
// within a few seconds and the client sees a new epoch (seq from 1 again).
func TestIngestCoinbaseThroughARealHubWithFailover(t *testing.T) {
	addr, natsAddr := freeAddr(t), freeAddr(t)
	dataDir := t.TempDir()
	base, natsURL := "http://"+addr, "nats://"+natsAddr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- runIO(ctx, []string{"serve", "--listen", addr, "--nats-listen", natsAddr, "--data-dir", dataDir,
			"--log-level", "warn"}, env(nil), io.Discard, io.Discard)
	}()
	defer func() {
		cancel()
		select {
		case <-served:
		case <-time.After(20 * time.Second):
			t.Error("serve did not return")
		}
	}()
	testsupport.WaitFor(t, "the hub to be ready", 30*time.Second, func() bool { return ready(base) })
	fake := fakeVenue(t, venuetest.ServeCoinbase)

	startIngest := func(metricsAddr string) (*testsupport.Buffer, func()) {
		logs := &testsupport.Buffer{}
		cmd := hubCmd(ctx, nil, "ingest", "coinbase", "--url", fake.URL("/"), "--symbols", "BTC-USD,ETH-USD",
			"--nats-url", natsURL, "--data-dir", dataDir, "--lease-ttl", "2s", "--metrics-listen", metricsAddr)
		cmd.Stderr = logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		kill := func() { _ = cmd.Process.Kill(); <-exited }
		t.Cleanup(kill)
		return logs, kill
	}
	leaderMetrics, standbyMetrics := freeAddr(t), freeAddr(t)
	leaderLogs, killLeader := startIngest(leaderMetrics)
	testsupport.WaitFor(t, "the first ingestor to lead", 30*time.Second, func() bool {
		return strings.Contains(leaderLogs.String(), "lease: acquired")
	})
	standbyLogs, _ := startIngest(standbyMetrics)
	testsupport.WaitFor(t, "the second ingestor to stand by", 30*time.Second, func() bool {
		return strings.Contains(standbyLogs.String(), "standing by")
	})

	key := ticksKey(t, natsURL, dataDir, "watcher")
	out := &testsupport.Buffer{}
	subDone := make(chan error, 1)
	go func() {
		subDone <- runIO(ctx, []string{"subscribe", "--url", base, "--key", key, "--encoding", "json", "ticks.coinbase.>"}, env(nil), out, io.Discard)
	}()
	count := func() int { return len(tickLine.FindAllString(out.String(), -1)) }
	testsupport.WaitFor(t, "20 ticks through the hub", 30*time.Second, func() bool { return count() >= 20 })

	before := out.String()
	last := map[string]int{}
	for _, m := range tickLine.FindAllStringSubmatch(before, -1) {
		seq, _ := strconv.Atoi(m[2])
		if seq <= last[m[1]] {
			t.Fatalf("%s seq=%d after seq=%d: two publishers, or disorder\n%s", m[1], seq, last[m[1]], before)
		}
		last[m[1]] = seq
	}
	if !strings.Contains(before, "ticks.coinbase.BTC-USD seq=") || !strings.Contains(before, "ticks.coinbase.ETH-USD seq=") {
		t.Fatalf("not both subjects:\n%s", before)
	}

	// The ingestors' metrics say who leads and what was published.
	metric := func(addr, name string) float64 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
		req.Close = true
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+`{venue="coinbase"}`) + ` (\S+)$`).FindSubmatch(body)
		if m == nil {
			return -1
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	if l, s := metric(leaderMetrics, "streamhub_ingest_leader"), metric(standbyMetrics, "streamhub_ingest_leader"); l != 1 || s != 0 {
		t.Fatalf("streamhub_ingest_leader: leader %v, standby %v", l, s)
	}
	if p := metric(leaderMetrics, "streamhub_ingest_published_total"); p < 20 {
		t.Fatalf("leader published_total %v", p)
	}
	if p := metric(standbyMetrics, "streamhub_ingest_published_total"); p != 0 {
		t.Fatalf("standby published_total %v, want 0", p)
	}

	killed := time.Now()
	killLeader()
	testsupport.WaitFor(t, "the standby to take over", 30*time.Second, func() bool {
		return strings.Contains(standbyLogs.String(), "lease: acquired")
	})
	t.Logf("failover after SIGKILL of the leader: %v (lease TTL 2s)", time.Since(killed))
	n := len(before)
	testsupport.WaitFor(t, "ticks of the new leader, from seq=1", 30*time.Second, func() bool {
		return regexp.MustCompile(`(?m)^ticks\.coinbase\.BTC-USD seq=1 `).MatchString(out.String()[n:])
	})
	select {
	case err := <-subDone:
		t.Fatalf("hub subscribe ended: %v", err)
	default:
	}
	if l := metric(standbyMetrics, "streamhub_ingest_leader"); l != 1 {
		t.Fatalf("the new leader's streamhub_ingest_leader is %v", l)
	}
}

// hub ingest's help lists every source; mistakes are usage errors.
func TestIngestHelpAndUsageErrors(t *testing.T) {
	t.Parallel()
	help := hub(t, nil, "ingest", "--help")
	for _, src := range []string{"coinbase", "binance", "kraken"} {
		if !regexp.MustCompile(`(?m)^  ` + src + ` `).MatchString(help.stdout) {
			t.Errorf("hub ingest --help does not list %s:\n%s", src, help.stdout)
		}
		if r := hub(t, nil, "ingest", src, "-h"); r.code != exitOK || !strings.Contains(r.stderr, "-symbols") {
			t.Errorf("hub ingest %s -h: exit %d\n%s", src, r.code, r.stderr)
		}
	}
	if !strings.Contains(hub(t, nil, "--help").stdout, "  ingest ") {
		t.Error("hub --help does not list ingest")
	}
	for _, tc := range []struct {
		args []string
		code int
		line string
	}{
		{[]string{"ingest"}, exitUsage, "hub: ingest needs a source: coinbase, binance, kraken"},
		{[]string{"ingest", "nyse"}, exitUsage, `hub: unknown ingest source "nyse"`},
		{[]string{"ingest", "binance", "--symbols", "BTCUSDT"}, exitUsage, `hub: ingest binance: --symbols: bad symbol: "BTCUSDT"`},
		{[]string{"ingest", "kraken", "--symbols", "BTC-USD,XBT-USD"}, exitUsage, "BTC-USD given twice"},
		{[]string{"ingest", "coinbase", "--nats-url", "nats://" + freeAddr(t)}, exitFailure, "hub: ingest coinbase: connect to nats://"},
	} {
		r := hub(t, nil, tc.args...)
		if r.code != tc.code {
			t.Errorf("hub %v: exit %d, want %d\n%s", tc.args, r.code, tc.code, r.stderr)
			continue
		}
		if line := oneLine(t, r); !strings.Contains(line, tc.line) {
			t.Errorf("hub %v: %q, want %q", tc.args, line, tc.line)
		}
	}
}

// The README's "Real data" commands, in its order, on their success path
// against one real hub: serve (no demo), ingest coinbase, binance and kraken
// (each pointed at its fake venue with --url, the only difference from the
// README), keys create, and subscribe, which sees ticks of all three venues
// with the README's symbols.
func TestREADMERealDataCommands(t *testing.T) {
	addr, natsAddr := freeAddr(t), freeAddr(t)
	dataDir := t.TempDir()
	base, natsURL := "http://"+addr, "nats://"+natsAddr
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	// runs runs a command in-process until the test ends; it must then end
	// with nil, as after Ctrl-C.
	runs := func(args ...string) *testsupport.Buffer {
		logs := &testsupport.Buffer{}
		wg.Go(func() {
			if err := runIO(ctx, args, env(nil), logs, logs); err != nil {
				t.Errorf("hub %s: %v\n%s", strings.Join(args, " "), err, logs)
			}
		})
		return logs
	}
	runs("serve", "--listen", addr, "--nats-listen", natsAddr, "--data-dir", dataDir, "--log-level", "warn")
	testsupport.WaitFor(t, "the hub to be ready", 30*time.Second, func() bool { return ready(base) })
	for _, v := range []struct {
		name, symbols string
		serve         func(context.Context, *venuetest.Conn, time.Duration) error
	}{
		{"coinbase", "BTC-USD,ETH-USD", venuetest.ServeCoinbase},
		{"binance", "BTC-USDT,ETH-USDT", venuetest.ServeBinance},
		{"kraken", "BTC-USD,ETH-USD", venuetest.ServeKraken},
	} {
		runs("ingest", v.name, "--symbols", v.symbols,
			"--url", fakeVenue(t, v.serve).URL("/"), "--nats-url", natsURL, "--data-dir", dataDir)
	}
	key := ticksKey(t, natsURL, dataDir, "watcher")
	out := runs("subscribe", "--url", base, "--key", key, "ticks.>")
	for _, subj := range []string{"ticks.coinbase.BTC-USD", "ticks.coinbase.ETH-USD", "ticks.binance.BTC-USDT",
		"ticks.binance.ETH-USDT", "ticks.kraken.BTC-USD", "ticks.kraken.ETH-USD"} {
		testsupport.WaitFor(t, subj+" in hub subscribe", 30*time.Second, func() bool {
			return strings.Contains(out.String(), subj+" seq=")
		})
	}
}

// A Coinbase sequence gap reaches the hub's clients in-band: a client of
// ticks.coinbase.BTC-USD sees the ticks after the gap under a new, greater
// epoch, from seq 1 (the Go client, over a real hub, fed by hub ingest
// running in-process).
func TestVenueGapReachesClientsAsNewEpoch(t *testing.T) {
	addr, natsAddr := freeAddr(t), freeAddr(t)
	dataDir := t.TempDir()
	natsURL := "nats://" + natsAddr
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() {
		_ = runIO(ctx, []string{"serve", "--listen", addr, "--nats-listen", natsAddr, "--data-dir", dataDir, "--log-level", "warn"},
			env(nil), io.Discard, io.Discard)
	})
	testsupport.WaitFor(t, "the hub to be ready", 30*time.Second, func() bool { return ready("http://" + addr) })
	fake := venuetest.NewServer(t)
	wg.Go(func() {
		_ = runIO(ctx, []string{"ingest", "coinbase", "--url", fake.URL("/"), "--symbols", "BTC-USD", "--nats-url", natsURL,
			"--data-dir", dataDir, "--lease=false", "--backoff-min", "20ms", "--backoff-max", "50ms"}, env(nil), io.Discard, io.Discard)
	})
	key := ticksKey(t, natsURL, dataDir, "agent")
	c, err := client.Dial(ctx, "ws://"+addr+"/v1/ws", key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sub, err := c.Subscribe(ctx, "ticks.coinbase.BTC-USD", client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// feed sends tickers on conn until the client receives an event that
	// satisfies ok, and returns it.
	feed := func(conn *venuetest.Conn, f *venuetest.CoinbaseFrames, ok func(client.Event) bool) client.Event {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			conn.MustSend(t, f.Ticker(time.Now(), "BTC-USD", "100.05", "100.00", "100.10"))
			select {
			case ev := <-sub.C():
				if ok(ev) {
					return ev
				}
			case <-time.After(100 * time.Millisecond):
			case <-deadline:
				t.Fatal("no such event within 30s")
			}
		}
	}
	conn := fake.Next(t, 10*time.Second)
	for range 3 {
		var s venuetest.CoinbaseSubscribe
		conn.ReadJSON(t, &s)
	}
	f := &venuetest.CoinbaseFrames{}
	before := feed(conn, f, func(client.Event) bool { return true })
	f.Seq += 3 // three Coinbase messages lost
	conn.MustSend(t, f.Ticker(time.Now(), "BTC-USD", "100.05", "100.00", "100.10"))
	conn2 := fake.Next(t, 10*time.Second)
	for range 3 {
		var s venuetest.CoinbaseSubscribe
		conn2.ReadJSON(t, &s)
	}
	after := feed(conn2, &venuetest.CoinbaseFrames{}, func(ev client.Event) bool { return ev.Epoch != before.Epoch })
	if after.Epoch <= before.Epoch || after.Seq != 1 {
		t.Fatalf("after the gap: epoch %d seq %d; before: epoch %d seq %d", after.Epoch, after.Seq, before.Epoch, before.Seq)
	}
}

// ticksKey creates an API key for ticks.> with hub keys create, through
// the hub's NATS, and returns it.
func ticksKey(t *testing.T, natsURL, dataDir, name string) string {
	t.Helper()
	r := hub(t, nil, "keys", "create", "--nats-url", natsURL, "--data-dir", dataDir, "--name", name, "--subscribe", "ticks.>")
	key := apiKey.FindString(r.stdout)
	if r.code != exitOK || key == "" {
		t.Fatalf("hub keys create: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	return key
}

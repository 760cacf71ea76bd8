package main

import (
	"context"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/testsupport"
	"github.com/streamhub/streamhub/internal/upstream/venue/venuetest"
)

// fakeCoinbase runs a fake Coinbase that serves every connection as a
// well-behaved venue would, with a heartbeat and a ticker per product every
// 50 ms, until the test ends.
func fakeCoinbase(t *testing.T) *venuetest.Server {
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
				go func() { _ = venuetest.ServeCoinbase(ctx, c, 50*time.Millisecond); c.Close() }()
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
	fake := fakeCoinbase(t)

	startIngest := func() (*testsupport.Buffer, func()) {
		logs := &testsupport.Buffer{}
		cmd := hubCmd(ctx, nil, "ingest", "coinbase", "--url", fake.URL("/"), "--symbols", "BTC-USD,ETH-USD",
			"--nats-url", natsURL, "--data-dir", dataDir, "--lease-ttl", "2s")
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
	leaderLogs, killLeader := startIngest()
	testsupport.WaitFor(t, "the first ingestor to lead", 30*time.Second, func() bool {
		return strings.Contains(leaderLogs.String(), "lease: acquired")
	})
	standbyLogs, _ := startIngest()
	testsupport.WaitFor(t, "the second ingestor to stand by", 30*time.Second, func() bool {
		return strings.Contains(standbyLogs.String(), "standing by")
	})

	r := hub(t, nil, "keys", "create", "--nats-url", natsURL, "--data-dir", dataDir, "--name", "watcher", "--subscribe", "ticks.>")
	key := apiKey.FindString(r.stdout)
	if r.code != exitOK || key == "" {
		t.Fatalf("hub keys create: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
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

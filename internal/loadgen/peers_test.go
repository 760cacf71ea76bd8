package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// peerOrSkip returns the peer's binary, or skips the test saying how to
// get it: CI does not install the peers.
func peerOrSkip(t *testing.T, target Target) string {
	t.Helper()
	exe, err := FindPeer(target, os.Getenv("BENCH_"+strings.ToUpper(target.String())))
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	return exe
}

// runPeer spawns a peer, drives it with the tiny workload and checks that
// nothing was lost and that its CPU and idle memory were measured.
func runPeer(t *testing.T, target Target, spawn func(context.Context, SpawnConfig) (*Broker, error)) {
	exe := peerOrSkip(t, target)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	b, err := spawn(ctx, SpawnConfig{Exe: exe})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	for name, cfg := range map[string]Config{
		"one subject each": tinyRun(target, b.WSURL, ""),
		"all subjects":     tinyRun(target, b.WSURL, ""),
	} {
		t.Run(name, func(t *testing.T) {
			cfg.PublishURL, cfg.HubPID = b.PublishURL, b.PID()
			want := uint64(50 * 5)
			if name == "all subjects" {
				cfg.Patterns = []string{PatternAll("")}
				want = 200 * 5
			}
			r := run(t, cfg)
			checkNoLoss(t, r, want)
			if r.Encoding != "json" || r.Name() != target.String() {
				t.Errorf("encoding %q, name %q", r.Encoding, r.Name())
			}
			// CPU is counted in 10 ms ticks: a tiny run may show none.
			if r.BrokerPID != b.PID() || r.BrokerInProcess || r.BrokerRSSIdle <= 0 || r.BrokerRSSBefore <= 0 {
				t.Errorf("broker pid %d (want %d), RSS before %d, idle %d: want measured", r.BrokerPID, b.PID(), r.BrokerRSSBefore, r.BrokerRSSIdle)
			}
			if r.Batches == 0 || r.Batches > r.Delivered {
				t.Errorf("%d frames for %d deliveries", r.Batches, r.Delivered)
			}
		})
	}
	dir := b.dataDir
	if err := b.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the peer's temporary directory %s is left: %v", dir, err)
	}
}

func TestRunBun(t *testing.T) { runPeer(t, TargetBun, SpawnBun) }

func TestRunCentrifugo(t *testing.T) { runPeer(t, TargetCentrifugo, SpawnCentrifugo) }

// The Bun peer refuses what is not a subscribe with close code 4400 and a
// reason, as its script says.
func TestBunPeerRefusesBadCommands(t *testing.T) {
	exe := peerOrSkip(t, TargetBun)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := SpawnBun(ctx, SpawnConfig{Exe: exe})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	for _, cmd := range []string{"not json", `{"op":"publish"}`, `{"op":"subscribe","subjects":[1]}`, `null`} {
		conn, _, err := websocket.Dial(ctx, b.WSURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Write(ctx, websocket.MessageText, []byte(cmd)); err != nil {
			t.Fatal(err)
		}
		_, _, err = conn.Read(ctx)
		if code := websocket.CloseStatus(err); code != 4400 {
			t.Errorf("%q: read returned %v, want close 4400", cmd, err)
		}
		_ = conn.CloseNow()
	}
}

func TestFindPeer(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	_, err := FindPeer(TargetBun, "")
	if !errors.Is(err, ErrPeerMissing) || !strings.Contains(err.Error(), "npm install @oven/bun-linux-x64") || strings.Contains(err.Error(), "\n") {
		t.Errorf("bun missing: %v; want ErrPeerMissing with the npm command, one line", err)
	}
	_, err = FindPeer(TargetCentrifugo, filepath.Join(dir, "nope"))
	if !errors.Is(err, ErrPeerMissing) || !strings.Contains(err.Error(), "go install github.com/centrifugal/centrifugo/v6@"+CentrifugoVersion) {
		t.Errorf("centrifugo at a wrong path: %v; want ErrPeerMissing with the go install command", err)
	}
	if _, err := FindPeer(TargetNATSWS, ""); err == nil || errors.Is(err, ErrPeerMissing) {
		t.Errorf("nats-ws has no binary of its own, yet FindPeer said %v", err)
	}
	fake := filepath.Join(dir, "bun")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := FindPeer(TargetBun, ""); err != nil || got != fake {
		t.Errorf("FindPeer(bun) on PATH = %q, %v; want %q", got, err, fake)
	}
	if got, err := FindPeer(TargetBun, fake); err != nil || got != fake {
		t.Errorf("FindPeer(bun, %q) = %q, %v", fake, got, err)
	}
}

func TestCentrifugoConfig(t *testing.T) {
	b, err := CentrifugoConfig(8123)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		HTTPServer struct{ Address, Port string } `json:"http_server"`
		Client     struct{ Insecure bool }        `json:"client"`
		HTTPAPI    struct{ Insecure bool }        `json:"http_api"`
		Health     struct{ Enabled bool }         `json:"health"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.HTTPServer.Address != "127.0.0.1" || c.HTTPServer.Port != "8123" || !c.Client.Insecure || !c.HTTPAPI.Insecure || !c.Health.Enabled {
		t.Errorf("config %s", b)
	}
	if _, err := CentrifugoConfig(0); err == nil {
		t.Error("port 0 accepted")
	}
}

// fakeCentrifugoAPI answers POST /api/batch as Centrifugo's HTTP server
// API documents it: {"commands":[{"publish":{"channel","data"}}…]} in,
// {"replies":[…]} out, one reply per command; a channel named "refused"
// gets an error reply.
func fakeCentrifugoAPI(t *testing.T, got chan<- []json.RawMessage) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/batch" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var req struct {
			Commands []struct {
				Publish *struct {
					Channel string          `json:"channel"`
					Data    json.RawMessage `json:"data"`
				} `json:"publish"`
			} `json:"commands"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var replies []string
		var data []json.RawMessage
		for _, c := range req.Commands {
			if c.Publish == nil || c.Publish.Channel == "refused" {
				replies = append(replies, `{"error":{"code":102,"message":"unknown channel"}}`)
				continue
			}
			replies = append(replies, `{"publish":{}}`)
			data = append(data, json.RawMessage(c.Publish.Channel+" "+string(c.Publish.Data)))
		}
		got <- data
		_, _ = io.WriteString(w, `{"replies":[`+strings.Join(replies, ",")+`]}`)
	}))
}

func TestCentrifugoOutletBatchesABurst(t *testing.T) {
	got := make(chan []json.RawMessage, 4)
	srv := fakeCentrifugoAPI(t, got)
	defer srv.Close()
	o, err := newCentrifugoOutlet(srv.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	defer o.close()
	ctx := context.Background()
	if err := o.burst(ctx); err != nil {
		t.Fatalf("an empty burst: %v", err)
	}
	select {
	case <-got:
		t.Fatal("an empty burst sent a request")
	default:
	}
	p1, p2 := appendPayload(nil, 10, 1, 100), appendPayload(nil, 20, 2, 100)
	for _, p := range [][]byte{p1, p2} {
		if err := o.publish(ctx, "ticks.bench.S0", p); err != nil {
			t.Fatal(err)
		}
	}
	if err := o.flush(ctx); err != nil {
		t.Fatal(err)
	}
	data := <-got
	if len(data) != 2 || string(data[0]) != "ticks.bench.S0 "+string(p1) || string(data[1]) != "ticks.bench.S0 "+string(p2) {
		t.Errorf("one request with both publications, payloads unchanged; got %s", data)
	}
	if err := o.publish(ctx, "refused", p1); err != nil {
		t.Fatal(err)
	}
	if err := o.burst(ctx); err == nil || !strings.Contains(err.Error(), "102 unknown channel") {
		t.Errorf("an error reply: %v", err)
	}
	<-got
	if _, err := newCentrifugoOutlet("http://10.1.2.3/api"); !errors.Is(err, ErrNotLoopback) {
		t.Errorf("remote API accepted: %v", err)
	}
}

func TestParsePeerFrames(t *testing.T) {
	p := appendPayload(nil, 77, 5, 80)
	for _, tc := range []struct {
		line          string
		channel, data string
		ok            bool
	}{
		{`{"push":{"channel":"ticks.bench.S1","pub":{"data":` + string(p) + `}}}`, "ticks.bench.S1", string(p) + `}}}`, true},
		{`{"push":{"channel":"a","pub":{"data":{"t":1},"offset":3}}}`, "a", `{"t":1},"offset":3}}}`, true},
		{`{"push":{"channel":"a\"b","pub":{"data":{}}}}`, "", "", false},
		{`{"push":{"channel":"a","join":{"info":{}}}}`, "", "", false},
		{`{"id":1,"connect":{}}`, "", "", false},
		{`{}`, "", "", false},
		{``, "", "", false},
	} {
		ch, data, ok := parseCentrifugoPush([]byte(tc.line))
		if ok != tc.ok || string(ch) != tc.channel || string(data) != tc.data {
			t.Errorf("parseCentrifugoPush(%s) = %q, %q, %v", tc.line, ch, data, ok)
		}
	}
	if s, d, ok := parseBunFrame([]byte("ticks.bench.S0\n" + string(p))); !ok || string(s) != "ticks.bench.S0" || !bytes.Equal(d, p) {
		t.Errorf("parseBunFrame = %q, %q, %v", s, d, ok)
	}
	for _, bad := range []string{"", "\n{}", "no newline"} {
		if _, _, ok := parseBunFrame([]byte(bad)); ok {
			t.Errorf("parseBunFrame(%q) accepted", bad)
		}
	}
}

// FuzzPeerFrame feeds frames a peer could send to the clients' parsers
// and recording: no panic, and every line (every frame, for Bun) counts
// once, as a delivery or warm-up, as bad, or, for Centrifugo, as a ping.
func FuzzPeerFrame(f *testing.F) {
	p := appendPayload(nil, 77, 5, 80)
	f.Add([]byte(`{"push":{"channel":"ticks.bench.S0","pub":{"data":` + string(p) + `}}}` + "\n{}"))
	f.Add([]byte("ticks.bench.S0\n" + string(p)))
	f.Add([]byte(`{"push":{"channel":"x","pub":{"data":{"t":-1,"n":99999999999999999999}}}}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		for _, target := range []Target{TargetBun, TargetCentrifugo} {
			pings := uint64(0)
			c := &peerClient{target: target, index: map[string]int{"ticks.bench.S0": 0}}
			c.rec = newRecorder([]int{0}, 1, new(atomic.Uint64), new(atomic.Int64))
			c.pong = func(context.Context) error { pings++; return nil }
			c.handle(context.Background(), frame, 1)
			want := uint64(1)
			if target == TargetCentrifugo {
				want = uint64(bytes.Count(frame, []byte("\n")) + 1)
			}
			if got := c.rec.delivered + c.rec.warmups + c.rec.bad + pings; got != want {
				t.Errorf("%v: frame %q counted %d times, want %d", target, frame, got, want)
			}
			if c.rec.progress.Load() != c.rec.delivered {
				t.Errorf("%v: progress %d for %d delivered", target, c.rec.progress.Load(), c.rec.delivered)
			}
		}
	})
}

func TestSourceAddresses(t *testing.T) {
	if SourceAddrs(1, PerSourceAddr) != 1 || SourceAddrs(PerSourceAddr, PerSourceAddr) != 1 || SourceAddrs(PerSourceAddr+1, PerSourceAddr) != 2 || SourceAddrs(50_000, PerSourceAddr) != 3 {
		t.Error("SourceAddrs does not round up")
	}
	if sourceIP(5, 10_000, PerSourceAddr) != nil {
		t.Error("10,000 clients should dial from the kernel's choice")
	}
	count := map[string]int{}
	for i := range 50_000 {
		count[sourceIP(i, 50_000, PerSourceAddr).String()]++
	}
	if len(count) != 3 || count["127.0.0.1"] > PerSourceAddr || count["127.0.0.3"] > PerSourceAddr {
		t.Errorf("50,000 clients spread as %v", count)
	}
	// A connection from 127.0.0.2 arrives from 127.0.0.2.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := sourceDialer(net.IPv4(127, 0, 0, 2), time.Second).Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ip := s.RemoteAddr().(*net.TCPAddr).IP.String(); ip != "127.0.0.2" {
		t.Errorf("the server saw the client at %s", ip)
	}
}

func TestRaiseFileLimit(t *testing.T) {
	soft, err := RaiseFileLimit(16)
	if err != nil || soft < 16 {
		t.Fatalf("RaiseFileLimit(16) = %d, %v", soft, err)
	}
	again, err := RaiseFileLimit(0)
	if err != nil || again != soft {
		t.Errorf("a second call = %d, %v; want %d", again, err, soft)
	}
	if _, err := RaiseFileLimit(1 << 40); err == nil || !strings.Contains(err.Error(), "ulimit -Hn") || strings.Contains(err.Error(), "\n") {
		t.Errorf("an impossible need: %v; want one line saying how to raise the limit", err)
	}
}

func TestProcessRSS(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	n, err := ProcessRSS(os.Getpid())
	if err != nil || n < 1<<20 {
		t.Fatalf("ProcessRSS(self) = %d, %v", n, err)
	}
	if n, err := parseRSS([]byte("Name:\tx\nVmRSS:\t  1234 kB\nThreads: 3\n")); err != nil || n != 1234<<10 {
		t.Errorf("parseRSS = %d, %v", n, err)
	}
	for _, bad := range []string{"", "VmRSS: 12 MB\n", "VmRSS: x kB\n", "VmRSS: -5 kB\n"} {
		if _, err := parseRSS([]byte(bad)); err == nil {
			t.Errorf("parseRSS(%q) accepted", bad)
		}
	}
}

// Past ClientsPerSourceAddr, clients reach the broker from 127.0.0.2, …:
// seen from nats-server's own connection list, during a real run.
func TestRunSpreadsClientsOverSourceAddresses(t *testing.T) {
	n, err := StartNATSWS(NATSWSConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	cfg := tinyRun(TargetNATSWS, n.WSURL(), n.ClientURL())
	cfg.ClientsPerSourceAddr = 2 // 5 clients: 127.0.0.1, .2 and .3
	seen := map[string]bool{}
	done := make(chan Result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		r, err := Run(ctx, cfg)
		if err != nil {
			t.Errorf("run: %v", err)
		}
		done <- r
	}()
	testsupport.WaitFor(t, "clients from three loopback addresses", 30*time.Second, func() bool {
		cz, err := n.srv.Connz(&server.ConnzOptions{})
		if err != nil {
			return false
		}
		for _, c := range cz.Conns {
			if c.Name != "streamhub-bench-publisher" {
				seen[c.IP] = true
			}
		}
		return seen["127.0.0.1"] && seen["127.0.0.2"] && seen["127.0.0.3"]
	})
	r := <-done
	checkNoLoss(t, r, 50*5)
	if len(seen) != 3 {
		t.Errorf("clients came from %v, want 127.0.0.1–3", seen)
	}
}

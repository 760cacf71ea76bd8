package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/upstream/evm/evmtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(execMainEnv) == "1" {
		main() // this binary is the hub under test: see hubCmd
		return
	}
	goleak.VerifyTestMain(m, evmtest.IgnoreGoroutines()...)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// The serve command, configured through the environment as a container
// would be, serves demo ticks and stops cleanly when its context ends.
func TestServeFromEnvironmentServesTicksAndStops(t *testing.T) {
	addr := freeAddr(t)
	getenv := env(map[string]string{
		"STREAMHUB_LISTEN":      addr,
		"STREAMHUB_NATS_LISTEN": "127.0.0.1:-1",
		"STREAMHUB_DATA_DIR":    t.TempDir(),
		"STREAMHUB_LOG_LEVEL":   "warn",
		"STREAMHUB_DEMO":        "true",
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"serve"}, getenv) }()

	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("hub not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	// The quickstart path: a demo token, sent in-band as a browser would.
	resp, err := http.Post("http://"+addr+"/v1/demo/token", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != 200 {
		t.Fatalf("demo token: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	conn, _, err := websocket.Dial(dctx, "ws://"+addr+"/v1/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	authCmd, _ := protocol.EncodeCommand(0, protocol.Command{Op: protocol.OpAuth, Token: tok.Token, ID: 1, HasID: true})
	if err := conn.Write(dctx, websocket.MessageText, authCmd); err != nil {
		t.Fatal(err)
	}
	sub, _ := protocol.EncodeCommand(0, protocol.Command{Op: protocol.OpSubscribe, Subjects: []string{"ticks.>"}})
	if err := conn.Write(dctx, websocket.MessageText, sub); err != nil {
		t.Fatal(err)
	}
	for {
		_, frame, err := conn.Read(dctx)
		if err != nil {
			t.Fatalf("no tick: %v", err)
		}
		if m, _ := protocol.DecodeServer(0, frame); m.Op == protocol.OpBatch && strings.HasPrefix(m.Events[0].Subject, "ticks.") {
			break
		}
	}

	// The terminal's way in: hub subscribe with a demo token.
	var out bytes.Buffer
	sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer scancel()
	if err := runIO(sctx, []string{"subscribe", "--url", "http://" + addr, "--count", "3", "--snapshot", "ticks.*.BTC-USD"}, env(nil), &out, &out); err != nil {
		t.Fatalf("hub subscribe: %v\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ticks.") || !strings.Contains(lines[0], "BTC-USD seq=") || !strings.Contains(out.String(), `"last":"`) {
		t.Fatalf("hub subscribe printed:\n%s", out.String())
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after its context ended", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	// Batches sent before the shutdown may come first; then the close.
	for {
		_, frame, err := conn.Read(dctx)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusCode(protocol.CloseShutdown) {
				t.Fatalf("client saw %v, want close %d", err, protocol.CloseShutdown)
			}
			break
		}
		t.Logf("frame %.80s", frame)
	}
}

func TestServeRefusesBadConfiguration(t *testing.T) {
	var stderr bytes.Buffer
	tests := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"serve", "--listen", "nowhere"}, nil, "listen address"},
		{[]string{"serve"}, map[string]string{"STREAMHUB_DEMO": "perhaps"}, "STREAMHUB_DEMO"},
		{[]string{"serve", "--log-level", "loud"}, nil, "log-level"},
		{[]string{"serve", "extra"}, nil, "unexpected arguments"},
		{[]string{"serve", "--trusted-proxies", "10.0.0.0/33"}, nil, "trusted-proxies"},
		{[]string{"serve"}, map[string]string{"STREAMHUB_JOBS_RETENTION": "a while"}, "STREAMHUB_JOBS_RETENTION"},
		{[]string{"serve", "--stream-replicas", "7"}, nil, "stream replicas 7: want 1 to 5"},
		{[]string{"serve"}, map[string]string{"STREAMHUB_NATS_PING_INTERVAL": "often"}, "STREAMHUB_NATS_PING_INTERVAL"},
		{[]string{"serve", "--nats-max-pings-out", "-1"}, nil, "must not be negative"},
		{[]string{"frobnicate"}, nil, "unknown command"},
		{[]string{"publish", "ticks..x", "{}"}, nil, "invalid subject"},
	}
	for _, tt := range tests {
		err := runIO(context.Background(), tt.args, env(tt.env), &stderr, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v %v: got %v, want an error mentioning %q", tt.args, tt.env, err, tt.want)
		}
	}
}

func TestFlagsWinOverEnvironment(t *testing.T) {
	if got := envName("nats-url"); got != "STREAMHUB_NATS_URL" {
		t.Fatalf("envName = %q", got)
	}
}

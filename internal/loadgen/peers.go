package loadgen

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrPeerMissing marks a peer broker whose binary was not found; its
// message says how to get it.
var ErrPeerMissing = errors.New("loadgen: peer broker not found")

// CentrifugoVersion is the Centrifugo release the load tool is written
// against (its v6 configuration file and JSON client protocol).
const CentrifugoVersion = "v6.9.1"

// peerHints says, per peer, what to run to get its binary.
var peerHints = map[Target]string{
	TargetBun:        "npm install @oven/bun-linux-x64 (the binary is node_modules/@oven/bun-linux-x64/bin/bun)",
	TargetCentrifugo: "go install github.com/centrifugal/centrifugo/v6@" + CentrifugoVersion,
}

// FindPeer returns the binary of a peer target (bun or centrifugo): path
// if it is not empty (it must then exist), else the command of that name
// on PATH, else, for centrifugo, $GOPATH/bin/centrifugo, where go install
// puts it. An error wraps ErrPeerMissing and says in one line how to get
// the binary. Safe for concurrent use.
func FindPeer(t Target, path string) (string, error) {
	hint, ok := peerHints[t]
	if !ok {
		return "", fmt.Errorf("loadgen: %v is not a peer with a binary of its own", t)
	}
	if path != "" {
		if st, err := os.Stat(path); err != nil || st.IsDir() {
			return "", fmt.Errorf("%w: %s: %s is not a file; get it with: %s", ErrPeerMissing, t, path, hint)
		}
		return path, nil
	}
	name := t.String()
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if t == TargetCentrifugo && build.Default.GOPATH != "" {
		p := filepath.Join(filepath.SplitList(build.Default.GOPATH)[0], "bin", name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %s is not on PATH; get it with: %s, then put it on PATH or pass --%s PATH", ErrPeerMissing, name, hint, name)
}

//go:embed bunpeer.js
var bunPeerScript []byte

// SpawnBun starts "BUN bunpeer.js PORT" (cfg.Exe is Bun's binary, see
// FindPeer; the script is written to a temporary directory that Stop
// removes) on a free loopback port and waits until GET /ready answers 200.
// Clients connect to ws://127.0.0.1:PORT/ws, the publisher to
// ws://127.0.0.1:PORT/pub (Broker.PublishURL).
func SpawnBun(ctx context.Context, cfg SpawnConfig) (*Broker, error) {
	if cfg.Exe == "" {
		return nil, fmt.Errorf("loadgen: SpawnBun needs Bun's binary (see FindPeer)")
	}
	dir, err := os.MkdirTemp("", "streamhub-bench-bun-")
	if err != nil {
		return nil, fmt.Errorf("loadgen: bun peer dir: %w", err)
	}
	script := filepath.Join(dir, "bunpeer.js")
	if err := os.WriteFile(script, bunPeerScript, 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("loadgen: bun peer script: %w", err)
	}
	return spawnPeer(ctx, cfg, TargetBun, dir, []string{script, "{ws-port}"},
		func(hostport string) (ws, pub, ready string) {
			return "ws://" + hostport + "/ws", "ws://" + hostport + "/pub", "http://" + hostport + "/ready"
		})
}

// SpawnCentrifugo starts "CENTRIFUGO --config FILE" (cfg.Exe is its
// binary, see FindPeer) with a generated configuration (see
// CentrifugoConfig) on a free loopback port, and waits until GET /health
// answers 200. Clients connect to ws://127.0.0.1:PORT/connection/websocket,
// the publisher to its HTTP API, http://127.0.0.1:PORT/api
// (Broker.PublishURL).
func SpawnCentrifugo(ctx context.Context, cfg SpawnConfig) (*Broker, error) {
	if cfg.Exe == "" {
		return nil, fmt.Errorf("loadgen: SpawnCentrifugo needs Centrifugo's binary (see FindPeer)")
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "streamhub-bench-centrifugo-")
	if err != nil {
		return nil, fmt.Errorf("loadgen: centrifugo dir: %w", err)
	}
	conf, err := CentrifugoConfig(ports[0])
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "config.json"), conf, 0o600)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("loadgen: centrifugo config: %w", err)
	}
	cfg.port = ports[0]
	return spawnPeer(ctx, cfg, TargetCentrifugo, dir, []string{"--config", filepath.Join(dir, "config.json")},
		func(hostport string) (ws, pub, ready string) {
			return "ws://" + hostport + "/connection/websocket", "http://" + hostport + "/api", "http://" + hostport + "/health"
		})
}

// CentrifugoConfig returns the configuration file SpawnCentrifugo gives
// Centrifugo v6: HTTP and WebSocket on 127.0.0.1:port, clients without
// tokens allowed to subscribe to any channel (client.insecure), the HTTP
// server API without a key (http_api.insecure), the health endpoint on,
// logs at error level. Everything else is Centrifugo's default (no
// history, no presence; a client whose queue passes 1 MiB is
// disconnected), as a user would run it. "insecure" is safe here only
// because the port is on loopback and lives for one run.
func CentrifugoConfig(port int) ([]byte, error) {
	if port <= 0 || port > 65535 {
		return nil, fmt.Errorf("loadgen: centrifugo port %d", port)
	}
	conf := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": strconv.Itoa(port)},
		"client":      map[string]any{"insecure": true, "allowed_origins": []string{"*"}},
		"http_api":    map[string]any{"insecure": true},
		"health":      map[string]any{"enabled": true},
		"log":         map[string]any{"level": "error"},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("loadgen: centrifugo config: %w", err)
	}
	return b, nil
}

// spawnPeer starts a peer binary on one free loopback port (cfg.port, or
// a new one), and waits for its ready URL; dir is removed by Stop.
func spawnPeer(ctx context.Context, cfg SpawnConfig, t Target, dir string, args []string,
	urls func(hostport string) (ws, pub, ready string)) (*Broker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	port := cfg.port
	if port == 0 {
		ports, err := freePorts(1)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, err
		}
		port = ports[0]
	}
	hostport := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ws, pub, readyURL := urls(hostport)
	if cfg.Args != nil {
		args = cfg.Args
	}
	b := &Broker{Target: t, WSURL: ws, PublishURL: pub, dataDir: dir}
	repl := strings.NewReplacer("{listen}", hostport, "{ws-port}", strconv.Itoa(port), "{port}", strconv.Itoa(port), "{data-dir}", dir)
	ready := func(ctx context.Context) error { return httpReady(ctx, readyURL) }
	if err := b.start(ctx, cfg, repl, args, ready); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return b, nil
}

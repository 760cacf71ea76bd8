package bus

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestStartEmbeddedServesClientsAndJetStream(t *testing.T) {
	var logs logBuffer
	e, err := StartEmbedded(EmbeddedConfig{Port: -1, StoreDir: t.TempDir(), Logger: logs.logger(slog.LevelDebug)})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	defer e.Shutdown()

	nc, err := nats.Connect(e.ClientURL(), e.Credentials().Option())
	if err != nil {
		t.Fatalf("connect to %s: %v", e.ClientURL(), err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		t.Fatalf("JetStream account info: %v", err)
	}
	if !logs.contains("component=nats-server") || !logs.contains("Server is ready") {
		t.Errorf("server logs were not routed to slog at debug level")
	}

	e.Shutdown()
	e.Shutdown() // idempotent: must neither panic nor block
	if e.Server().Running() {
		t.Fatalf("server still running after Shutdown")
	}
	if _, err := nats.Connect(e.ClientURL(), nats.Timeout(2*time.Second)); err == nil {
		t.Fatalf("connect succeeded after Shutdown")
	}
}

func TestStartEmbeddedRefusesRemoteHost(t *testing.T) {
	for _, host := range []string{"0.0.0.0", "192.0.2.1", "::", "example.com"} {
		_, err := StartEmbedded(EmbeddedConfig{Host: host, Port: -1, StoreDir: t.TempDir()})
		if !errors.Is(err, ErrRemoteHost) {
			t.Errorf("host %q: err = %v, want ErrRemoteHost", host, err)
		}
	}
	for host, want := range map[string]bool{"127.0.0.1": true, "127.0.0.2": true, "::1": true, "localhost": true, "10.0.0.1": false, "": false} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestStartEmbeddedFailsFastWhenPortTaken(t *testing.T) {
	first := startServer(t, -1, t.TempDir())
	_, err := StartEmbedded(EmbeddedConfig{Port: serverPort(t, first), StoreDir: t.TempDir()})
	if err == nil {
		t.Fatalf("second server on the same port started")
	}
	// The first server is unaffected.
	nc := publisher(t, first)
	if !nc.IsConnected() {
		t.Fatalf("first server lost its clients")
	}
}

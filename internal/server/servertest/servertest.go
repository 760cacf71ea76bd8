// Package servertest starts whole hubs in-process for the tests of the
// packages around the hub (the Go client, the load tool). Only tests import
// it. The server package's own tests keep their harness, which reaches into
// the hub's internals.
package servertest

import (
	"context"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/server"
)

// Start starts a hub in-process: an embedded nats-server on a random
// loopback port, the HTTP listener on another, a fresh data directory, and
// no authentication (tests about auth turn it back on in mutate), unless
// mutate changes that configuration first. The hub is shut down when the
// test ends.
func Start(t testing.TB, mutate func(*server.Config)) *server.Server {
	t.Helper()
	cfg := server.Config{Listen: "127.0.0.1:0", NATSListen: "127.0.0.1:-1", DataDir: t.TempDir(), InsecureNoAuth: true}
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := server.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start hub: %v", err)
	}
	t.Cleanup(func() { Shutdown(t, s) })
	return s
}

// Shutdown shuts s down in order, failing the test if that fails; Start's
// cleanup calls it, and a test may call it earlier to stop a hub on purpose.
func Shutdown(t testing.TB, s *server.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

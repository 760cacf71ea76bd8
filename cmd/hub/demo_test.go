package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// --demo is refused, with one line and before anything starts, where its
// fake feeds or its open token endpoint would reach others.
func TestServeRefusesDemoBeyondLoopback(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--demo", "--listen", "0.0.0.0:0", "--nats-listen", "127.0.0.1:-1", "--data-dir", t.TempDir()},
		{"serve", "--demo", "--listen", "127.0.0.1:0", "--nats-url", "nats://127.0.0.1:1", "--data-dir", t.TempDir()},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := run(ctx, args, env(nil))
		cancel()
		if err == nil || !strings.Contains(err.Error(), "demo mode runs only") || strings.Contains(err.Error(), "\n") {
			t.Errorf("hub %s: %v, want one line refusing demo mode", strings.Join(args, " "), err)
		}
	}
}

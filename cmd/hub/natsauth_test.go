package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// The embedded NATS admits only the hub's own credentials, and the
// README's key and publish commands find them in the default data
// directory (./data) beside a running hub, without further flags.
func TestREADMECommandsUseTheEmbeddedNATSCredentials(t *testing.T) {
	t.Chdir(t.TempDir()) // the hub's default --data-dir, ./data, is here
	addr, natsAddr := freeAddr(t), freeAddr(t)
	natsURL := "nats://" + natsAddr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--listen", addr, "--nats-listen", natsAddr, "--log-level", "warn"}, env(nil))
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not return after cancel")
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub not ready: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Any other local process is refused.
	if nc, err := nats.Connect(natsURL, nats.Timeout(2*time.Second), nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("an unauthenticated NATS client was admitted by the embedded server")
	}

	cmd := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer ccancel()
		if err := runIO(cctx, args, env(nil), &out, &out); err != nil {
			t.Fatalf("hub %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	created := cmd("keys", "create", "--nats-url", natsURL, "--name", "trader", "--subscribe", "ticks.>", "--expires", "720h")
	m := regexp.MustCompile(`Created key ([0-9A-Za-z]{12}) `).FindStringSubmatch(created)
	if m == nil {
		t.Fatalf("keys create printed:\n%s", created)
	}
	if list := cmd("keys", "list", "--nats-url", natsURL); !strings.Contains(list, m[1]) || !strings.Contains(list, "trader") {
		t.Fatalf("keys list printed:\n%s", list)
	}
	if revoked := cmd("keys", "revoke", "--nats-url", natsURL, m[1]); !strings.Contains(revoked, "Revoked key "+m[1]) {
		t.Fatalf("keys revoke printed:\n%s", revoked)
	}
	if out := cmd("publish", "--nats-url", natsURL, "--critical", "jobs.acme.j_hello", `{"tenant":"acme","job_id":"j_hello","state":"done","percent":100}`); !strings.Contains(out, "published") {
		t.Fatalf("publish printed:\n%s", out)
	}
}

package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// Two hub processes on one nats-server share a key's connection limit; when
// one is killed with SIGKILL (no orderly withdrawal), the slots its
// connections held are free on the other within --conn-lease-ttl.
func TestKilledHubsLeasesExpireWithinTheTTL(t *testing.T) {
	const ttl = 2 * time.Second
	natsURL := bustest.StartNATS(t).ClientURL()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := func() (base string, kill func()) {
		addr := freeAddr(t)
		cmd := hubCmd(ctx, nil, "serve", "--listen", addr, "--nats-url", natsURL, "--conn-lease-ttl", ttl.String(), "--log-level", "warn")
		var stderr testsupport.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
		testsupport.WaitFor(t, "hub "+addr+" to be ready", 30*time.Second, func() bool { return ready("http://" + addr) })
		return addr, func() { _ = cmd.Process.Kill(); <-exited }
	}
	a, _ := start()
	b, killB := start()

	created := hub(t, nil, "keys", "create", "--nats-url", natsURL, "--name", "agent", "--subscribe", "ticks.>", "--max-conns", "2")
	key := apiKey.FindString(created.stdout)
	if key == "" {
		t.Fatalf("keys create: %+v", created)
	}
	dial := func(addr string) (*websocket.Conn, int) {
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		defer dcancel()
		c, resp, err := websocket.Dial(dctx, "ws://"+addr+"/v1/ws", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + key}}})
		if err != nil {
			if resp == nil {
				t.Fatalf("dial %s: %v", addr, err)
			}
			return nil, resp.StatusCode
		}
		t.Cleanup(func() { _ = c.CloseNow() })
		return c, http.StatusSwitchingProtocols
	}
	// B takes both of the key's slots (once it has the new key from the
	// KV watch); A, once it has the key too, refuses a third.
	testsupport.WaitFor(t, "hub B to admit the new key", 10*time.Second, func() bool {
		_, status := dial(b)
		return status == http.StatusSwitchingProtocols
	})
	if _, status := dial(b); status != http.StatusSwitchingProtocols {
		t.Fatalf("second connection on B: %d", status)
	}
	testsupport.WaitFor(t, "A to refuse a third connection with 429", 10*time.Second, func() bool {
		c, status := dial(a)
		if c != nil {
			t.Fatal("A admitted a third connection of a key limited to 2")
		}
		return status == http.StatusTooManyRequests
	})

	killed := time.Now()
	killB()
	testsupport.WaitFor(t, "A to admit after B was killed", 10*ttl, func() bool {
		c, status := dial(a)
		if c != nil {
			_ = c.CloseNow()
		}
		return status == http.StatusSwitchingProtocols
	})
	t.Logf("a killed hub's leases freed %v after SIGKILL (TTL %v)", time.Since(killed), ttl)
	if waited := time.Since(killed); waited > ttl+3*time.Second {
		t.Errorf("freed after %v, want within the TTL %v", waited, ttl)
	}
}

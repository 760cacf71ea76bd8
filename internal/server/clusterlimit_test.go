package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// Two hubs on one real nats-server enforce a key's connection limit
// together, as seen by real WebSocket clients: the (limit+1)th connection,
// wherever it lands, is refused with 429 and the documented reason; a slot
// given back on one hub is usable on the other; and the slots of a hub
// that dies without giving them back (its NATS connection cut, so it can
// neither withdraw nor renew) are free again within the lease TTL.
func TestKeyConnectionLimitHoldsAcrossHubs(t *testing.T) {
	const ttl = 2 * time.Second
	ns := bustest.StartNATS(t)
	env := newAuthEnv(t)
	shared := func(c *Config) { c.NATSURL, c.ConnLeaseTTL = ns.ClientURL(), ttl }
	a, _ := env.hub(t, shared)
	b, _ := env.hub(t, shared)
	secret, rec := env.key(t, a, auth.CreateRequest{Subscribe: []string{"ticks.>"}, Limits: auth.Limits{MaxConns: 3}})
	testsupport.WaitFor(t, "hub B to see the key", 10*time.Second, func() bool { _, ok := b.auth.store.Get(rec.ID); return ok })

	onA1, onB1 := dialKey(t, a, secret), dialKey(t, b, secret)
	onB2 := dialKey(t, b, secret)
	for name, s := range map[string]*Server{"A": a, "B": b} {
		status, body := upgradeStatus(t, s, authHeader(secret))
		if status != http.StatusTooManyRequests || !strings.Contains(body, "maximum of 3 connections across the hubs") {
			t.Fatalf("4th connection on hub %s: %d %q, want 429 naming the cluster-wide limit", name, status, body)
		}
	}
	onA1.alive()

	// A slot given back on A is taken on B.
	_ = onA1.conn.CloseNow()
	testsupport.WaitFor(t, "the slot to be free", 10*time.Second, func() bool {
		status, _ := upgradeStatus(t, b, authHeader(secret))
		return status == http.StatusSwitchingProtocols
	})

	// Hub B dies as far as the cluster can tell: its NATS connection is
	// cut. Its leases linger at most the TTL, then A admits.
	testsupport.WaitFor(t, "B's probe to be released", 10*time.Second, func() bool { return b.auth.limiter.Conns(rec.ID) == 2 })
	onB3 := dialKey(t, b, secret)
	testsupport.WaitFor(t, "A to hold none", 10*time.Second, func() bool { return a.auth.limiter.Conns(rec.ID) == 0 })
	died := time.Now()
	b.conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if n, err := a.auth.leases.Count(ctx, rec.ID); err != nil || n != 3 {
		t.Fatalf("cluster count right after B died: %d %v, want B's 3", n, err)
	}
	if status, _ := upgradeStatus(t, a, authHeader(secret)); status != http.StatusTooManyRequests {
		t.Fatalf("on A right after B died: %d, want 429 (B's leases still count)", status)
	}
	var held []*wsClient
	testsupport.WaitFor(t, "B's leases to expire", 5*ttl, func() bool {
		status, _ := upgradeStatus(t, a, authHeader(secret))
		return status == http.StatusSwitchingProtocols
	})
	// The bound is the TTL; the slack is for a loaded machine's probes.
	waited := time.Since(died)
	t.Logf("B's leases lingered %v after it died (TTL %v)", waited, ttl)
	if waited > ttl+3*time.Second {
		t.Errorf("B's leases lingered %v, want within the TTL %v", waited, ttl)
	}
	testsupport.WaitFor(t, "A's probe to be released", 10*time.Second, func() bool { return a.auth.limiter.Conns(rec.ID) == 0 })
	for range 3 {
		held = append(held, dialKey(t, a, secret))
	}
	if status, _ := upgradeStatus(t, a, authHeader(secret)); status != http.StatusTooManyRequests {
		t.Fatalf("4th on A after B died: %d, want 429", status)
	}
	_, _, _, _ = onB1, onB2, onB3, held
	cancel()
}

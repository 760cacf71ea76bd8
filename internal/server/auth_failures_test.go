package server

import (
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// Every way of failing gets its documented answer.
func TestAuthFailuresGetTheirAnswers(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	s, _ := e.hub(t, nil)
	otherHub, _ := e.hub(t, nil) // its own NATS server, so its own bucket
	scopes := []string{"ticks.>"}

	t.Run("bad checksum", func(t *testing.T) {
		t.Parallel()
		secret, _ := e.key(t, s, auth.CreateRequest{Subscribe: scopes})
		before := failures(s, "malformed")
		for _, i := range []int{len(secret) - 1, len(secret) - 10, 10} {
			flipped := []byte(secret)
			flipped[i] = map[bool]byte{true: 'B', false: 'A'}[flipped[i] == 'A']
			bad := e.remember(string(flipped))
			if code, body := upgradeStatus(t, s, authHeader(bad)); code != http.StatusUnauthorized || strings.Contains(body, bad[8:]) {
				t.Fatalf("char %d flipped: %d %q, want 401 without the key", i, code, body)
			}
		}
		if got := failures(s, "malformed") - before; got != 3 {
			t.Fatalf("%d failures counted as malformed, want 3 (rejected before the store)", got)
		}
		dialKey(t, s, secret).alive() // the real key still works
	})

	t.Run("unknown key", func(t *testing.T) {
		t.Parallel()
		foreign, _ := e.key(t, otherHub, auth.CreateRequest{Subscribe: scopes})
		before := failures(s, "unknown")
		if code, _ := upgradeStatus(t, s, authHeader(foreign)); code != http.StatusUnauthorized {
			t.Fatalf("unknown key: %d, want 401", code)
		}
		if failures(s, "unknown") == before {
			t.Fatal("not audited as unknown")
		}
	})

	t.Run("expired key", func(t *testing.T) {
		t.Parallel()
		secret, rec := e.key(t, s, auth.CreateRequest{Subscribe: scopes, TTL: time.Second})
		live := dialKey(t, s, secret) // connected before the expiry
		ev := awaitClose(t, watchClose(live, 10*time.Second), protocol.CloseKeyExpired)
		if ev.at.Before(rec.Expires) {
			t.Fatalf("closed %v before the expiry", rec.Expires.Sub(ev.at))
		}
		if code, body := upgradeStatus(t, s, authHeader(secret)); code != http.StatusUnauthorized || !strings.Contains(body, "expired") {
			t.Fatalf("expired key: %d %q, want 401 expired", code, body)
		}
	})

	t.Run("revoked key", func(t *testing.T) {
		t.Parallel()
		secret, rec := e.key(t, s, auth.CreateRequest{Subscribe: scopes})
		revoke(t, s, rec.ID)
		if code, body := upgradeStatus(t, s, authHeader(secret)); code != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
			t.Fatalf("revoked key: %d %q, want 401 revoked", code, body)
		}
		if status, _ := postAPI(t, s, "/v1/tokens", secret, ""); status != http.StatusUnauthorized {
			t.Fatalf("token for a revoked key: %d, want 401", status)
		}
	})

	t.Run("address outside the key's networks", func(t *testing.T) {
		t.Parallel()
		secret, _ := e.key(t, s, auth.CreateRequest{Subscribe: scopes, CIDRs: []string{"10.0.0.0/8"}})
		if code, _ := upgradeStatus(t, s, authHeader(secret)); code != http.StatusForbidden {
			t.Fatalf("from 127.0.0.1: %d, want 403", code)
		}
		// X-Forwarded-For is not believed from an untrusted peer.
		h := authHeader(secret)
		h.Set("X-Forwarded-For", "10.1.2.3")
		if code, _ := upgradeStatus(t, s, h); code != http.StatusForbidden {
			t.Fatalf("with a forged X-Forwarded-For: %d, want 403", code)
		}
		if status, _ := postAPI(t, s, "/v1/tokens", secret, ""); status != http.StatusForbidden {
			t.Fatalf("token from outside the networks: %d, want 403", status)
		}
	})

	t.Run("foreign origin", func(t *testing.T) {
		t.Parallel()
		// One connection allowed: refused upgrades must not keep its slot.
		secret, _ := e.key(t, s, auth.CreateRequest{Subscribe: scopes, Limits: auth.Limits{MaxConns: 1}})
		for range 3 {
			h := authHeader(secret)
			h.Set("Origin", "https://evil.example")
			if code, _ := upgradeStatus(t, s, h); code != http.StatusForbidden {
				t.Fatalf("foreign origin: %d, want 403", code)
			}
		}
		h := authHeader(secret)
		h.Set("Origin", "http://"+s.Addr()) // the hub's own page
		if code, body := upgradeStatus(t, s, h); code != http.StatusSwitchingProtocols {
			t.Fatalf("own origin after refused upgrades: %d %q", code, body)
		}
	})

	t.Run("browser that never authenticates", func(t *testing.T) {
		t.Parallel()
		c := dialBrowser(t, s)
		opened := time.Now()
		ev := awaitClose(t, watchClose(c, 15*time.Second), protocol.CloseAuthTimeout)
		if d := ev.at.Sub(opened); d < 4500*time.Millisecond || d > 10*time.Second {
			t.Fatalf("closed after %v, want about 5 s", d)
		}
	})

	t.Run("browser that subscribes first", func(t *testing.T) {
		t.Parallel()
		secret, _ := e.key(t, s, auth.CreateRequest{Subscribe: scopes})
		c := dialBrowser(t, s)
		c.expectError(protocol.Command{Op: protocol.OpSubscribe, Subjects: []string{"ticks.>"}}, protocol.CodeAuthRequired)
		// Still waiting for its auth: a valid token lets it in.
		tok := e.token(t, s, secret, "")
		if m := c.command(protocol.Command{Op: protocol.OpAuth, Token: tok.Token}); m.Op != protocol.OpOK {
			t.Fatalf("auth after a refused command: %+v", m)
		}
		c.subscribe(protocol.Command{}, "ticks.>")
	})

	t.Run("browser with an invalid token", func(t *testing.T) {
		t.Parallel()
		secret, _ := e.key(t, s, auth.CreateRequest{Subscribe: scopes})
		tok := e.token(t, s, secret, "")
		tampered := e.remember(tok.Token[:len(tok.Token)-4] + "AAAA")
		c := dialBrowser(t, s)
		c.expectError(protocol.Command{Op: protocol.OpAuth, Token: tampered}, protocol.CodeAuthRequired)
		awaitClose(t, watchClose(c, 10*time.Second), protocol.CloseAuthFailed)
	})

	t.Run("over the connection limit", func(t *testing.T) {
		t.Parallel()
		secret, rec := e.key(t, s, auth.CreateRequest{Subscribe: scopes, Limits: auth.Limits{MaxConns: 2}})
		first := dialKey(t, s, secret)
		dialKey(t, s, secret)
		if code, _ := upgradeStatus(t, s, authHeader(secret)); code != http.StatusTooManyRequests {
			t.Fatalf("third connection: %d, want 429", code)
		}
		// Tokens of the key count too.
		tok := e.token(t, s, secret, "")
		c := dialBrowser(t, s)
		c.expectError(protocol.Command{Op: protocol.OpAuth, Token: tok.Token}, protocol.CodeAuthRequired)
		awaitClose(t, watchClose(c, 10*time.Second), protocol.CloseLimitExceeded)
		// A closed connection gives its slot back.
		_ = first.conn.CloseNow()
		testsupport.WaitFor(t, "the slot released", 5*time.Second, func() bool { return s.auth.limiter.Conns(rec.ID) == 1 })
		dialKey(t, s, secret).alive()
	})

	t.Run("over the command rate", func(t *testing.T) {
		t.Parallel()
		secret, _ := e.key(t, s, auth.CreateRequest{Subscribe: scopes, Limits: auth.Limits{CommandsPerSec: 1, CommandsBurst: 2}})
		c := dialKey(t, s, secret)
		ids := make([]uint64, 10)
		for i := range ids {
			ids[i] = c.send(protocol.Command{Op: protocol.OpPing})
		}
		pongs, limited := 0, 0
		for _, id := range ids {
			switch m := c.answer(id); {
			case m.Op == protocol.OpPong:
				pongs++
			case m.Op == protocol.OpError && m.Code == protocol.CodeRateLimited:
				limited++
			default:
				t.Fatalf("ping %d: %+v", id, m)
			}
		}
		if pongs < 2 || limited < 5 || pongs+limited != 10 {
			t.Fatalf("%d pongs and %d rate_limited of 10 pings, want the burst (2, maybe 3) answered and the rest limited", pongs, limited)
		}
		// The connection stays open; once the bucket refills it is answered.
		deadline := time.Now().Add(5 * time.Second)
		for {
			if m := c.command(protocol.Command{Op: protocol.OpPing}); m.Op == protocol.OpPong {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("never answered again after being rate limited")
			}
			time.Sleep(250 * time.Millisecond) // one command per tick, below the 1/s rate on average
		}
	})
}

// Authentication outcomes and key lifecycle events are counted in /metrics.
func TestAuthIsCountedInMetrics(t *testing.T) {
	env := newAuthEnv(t)
	s, _ := env.hub(t, nil)
	secret, _ := env.key(t, s, auth.CreateRequest{Name: "metered", Subscribe: []string{"ticks.>"}})
	dialKey(t, s, secret)
	if code, _ := upgradeStatus(t, s, authHeader("sh_live_nonsense")); code != http.StatusUnauthorized {
		t.Fatalf("malformed key: %d", code)
	}
	resp, err := http.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`streamhub_auth_failures_total{reason="malformed"} 1`,
		`streamhub_auth_success_total{credential="key"} 1`,
		`streamhub_key_events_total{event="created"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Behind a trusted proxy, the key's networks are checked against the
// client address the proxy reports.
func TestTrustedProxyForwardsTheClientAddress(t *testing.T) {
	e := newAuthEnv(t)
	s, _ := e.hub(t, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} })
	secret, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}, CIDRs: []string{"10.0.0.0/8"}})
	h := authHeader(secret)
	h.Set("X-Forwarded-For", "10.1.2.3")
	if code, body := upgradeStatus(t, s, h); code != http.StatusSwitchingProtocols {
		t.Fatalf("client 10.1.2.3 via a trusted proxy: %d %s", code, body)
	}
	h.Set("X-Forwarded-For", "192.0.2.7")
	if code, _ := upgradeStatus(t, s, h); code != http.StatusForbidden {
		t.Fatalf("client 192.0.2.7 via a trusted proxy: %d, want 403", code)
	}
}

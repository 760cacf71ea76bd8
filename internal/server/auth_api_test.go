package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// Browser tokens: issued for a key, never wider than it, sent in-band,
// refreshed in-band, warned about before they expire, ended with the key.
func TestAuthBrowserTokens(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	s, _ := e.hub(t, nil)
	secret, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.coinbase.*", "jobs.acme.>"}})
	nc := natsPublisher(t, s)

	t.Run("issued with the key's scopes by default", func(t *testing.T) {
		t.Parallel()
		issued := time.Now()
		tr := e.token(t, s, secret, "")
		exp := time.UnixMilli(tr.ExpiresAt)
		if exp.Before(issued.Add(4*time.Minute)) || exp.After(issued.Add(5*time.Minute+time.Second)) {
			t.Fatalf("expires_at %v after issue, want the 5 min default", exp.Sub(issued))
		}
		if strings.Join(tr.Subscribe, " ") != "ticks.coinbase.* jobs.acme.>" {
			t.Fatalf("subscribe %v", tr.Subscribe)
		}
		long := e.token(t, s, secret, `{"ttl_seconds":86400}`)
		if d := time.UnixMilli(long.ExpiresAt).Sub(issued); d > auth.MaxTokenTTL+time.Second {
			t.Fatalf("a day was asked, %v granted: want at most 15 min", d)
		}
		if status, _ := postAPI(t, s, "/v1/tokens", "", ""); status != http.StatusUnauthorized {
			t.Fatalf("without a key: %d, want 401", status)
		}
	})

	t.Run("narrower scopes are honoured", func(t *testing.T) {
		t.Parallel()
		tr := e.token(t, s, secret, `{"subscribe":["ticks.coinbase.BTC-USD"]}`)
		c := dialToken(t, s, tr.Token)
		c.expectError(protocol.Command{Op: protocol.OpSubscribe, Subjects: []string{"ticks.coinbase.*"}}, protocol.CodeForbidden)
		c.expectError(protocol.Command{Op: protocol.OpSubscribe, Subjects: []string{"jobs.acme.>"}}, protocol.CodeForbidden)
		c.subscribe(protocol.Command{}, "ticks.coinbase.BTC-USD")
		waitPatterns(t, s, "ticks.coinbase.BTC-USD")
		if err := nc.Publish("ticks.coinbase.BTC-USD", []byte(`{"last":"97000.5"}`)); err != nil {
			t.Fatal(err)
		}
		evs := c.events(5*time.Second, func(e []protocol.EventFrame) bool { return len(e) > 0 })
		if evs[0].Subject != "ticks.coinbase.BTC-USD" || dataField(t, evs[0], c.enc, "last") != "97000.5" {
			t.Fatalf("event %+v", evs[0])
		}
	})

	t.Run("wider than the key is refused", func(t *testing.T) {
		t.Parallel()
		for _, body := range []string{`{"subscribe":["ticks.>"]}`, `{"subscribe":["ticks.coinbase.BTC-USD","jobs.globex.>"]}`, `{"subscribe":[">"]}`} {
			if status, raw := postAPI(t, s, "/v1/tokens", secret, body); status != http.StatusForbidden {
				t.Fatalf("%s: %d %s, want 403", body, status, raw)
			}
		}
		for _, body := range []string{`{"subscribe":"ticks.>"}`, `{"ttl_seconds":"60"}`, `not json`, `{} {}`} {
			if status, raw := postAPI(t, s, "/v1/tokens", secret, body); status != http.StatusBadRequest {
				t.Fatalf("%s: %d %s, want 400", body, status, raw)
			}
		}
		// A pattern that is not valid is refused whatever the scope.
		if status, raw := postAPI(t, s, "/v1/tokens", secret, `{"subscribe":["ticks..x"]}`); status != http.StatusBadRequest && status != http.StatusForbidden {
			t.Fatalf("invalid pattern: %d %s, want 400 or 403", status, raw)
		}
	})

	t.Run("refresh in-band", func(t *testing.T) {
		t.Parallel()
		// One connection allowed: refreshing must not need a second slot.
		own, ownRec := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}, Limits: auth.Limits{MaxConns: 1}})
		first := e.token(t, s, own, `{"ttl_seconds":2}`)
		c := dialToken(t, s, first.Token)
		if m := c.next(5 * time.Second); m.Op != protocol.OpNotice || m.Code != protocol.NoticeTokenExpiring {
			t.Fatalf("a 2 s token got %+v, want notice token_expiring", m)
		}
		fresh := e.token(t, s, own, "")
		if m := c.command(protocol.Command{Op: protocol.OpRefresh, Token: fresh.Token}); m.Op != protocol.OpOK {
			t.Fatalf("refresh with a new token of the same key: %s %s %s", m.Op, m.Code, m.Message)
		}
		// A token of another key, or no valid token, does not refresh.
		c.expectError(protocol.Command{Op: protocol.OpRefresh, Token: e.token(t, s, secret, "").Token}, protocol.CodeForbidden)
		c.expectError(protocol.Command{Op: protocol.OpRefresh, Token: e.remember(fresh.Token + "x")}, protocol.CodeAuthRequired)
		if n := s.auth.limiter.Conns(ownRec.ID); n != 1 {
			t.Fatalf("the key holds %d connection slots after the refreshes, want 1", n)
		}
		// The refreshed connection outlives its first token.
		testsupport.WaitFor(t, "the first token's expiry", 5*time.Second, func() bool {
			return time.Now().After(time.UnixMilli(first.ExpiresAt).Add(300 * time.Millisecond))
		})
		c.alive()
		c.subscribe(protocol.Command{}, "ticks.>")
		_ = c.conn.CloseNow()
		testsupport.WaitFor(t, "the slot released", 5*time.Second, func() bool { return s.auth.limiter.Conns(ownRec.ID) == 0 })
	})

	t.Run("expiring token gets a notice, then 4004", func(t *testing.T) {
		t.Parallel()
		tr := e.token(t, s, secret, `{"ttl_seconds":2}`)
		c := dialToken(t, s, tr.Token)
		m := c.next(5 * time.Second)
		if m.Op != protocol.OpNotice || m.Code != protocol.NoticeTokenExpiring || m.TS != tr.ExpiresAt {
			t.Fatalf("got %+v, want notice token_expiring for %d", m, tr.ExpiresAt)
		}
		ev := awaitClose(t, watchClose(c, 10*time.Second), protocol.CloseTokenExpired)
		if ev.at.Before(time.UnixMilli(tr.ExpiresAt)) {
			t.Fatalf("closed %v before the token's expiry", time.UnixMilli(tr.ExpiresAt).Sub(ev.at))
		}
	})

	t.Run("revoking the key ends its tokens", func(t *testing.T) {
		t.Parallel()
		doomed, doomedRec := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}})
		tok := e.token(t, s, doomed, "")
		c := dialToken(t, s, tok.Token)
		c.subscribe(protocol.Command{}, "ticks.>")
		w := watchClose(c, 10*time.Second)
		start := time.Now()
		revoke(t, s, doomedRec.ID)
		if ev := awaitClose(t, w, protocol.CloseKeyRevoked); ev.at.Sub(start) >= time.Second {
			t.Fatalf("closed %v after the revocation, want < 1 s", ev.at.Sub(start))
		}
		// The token no longer authenticates, with the terminal code.
		late := dialBrowser(t, s)
		late.expectError(protocol.Command{Op: protocol.OpAuth, Token: tok.Token}, protocol.CodeAuthRequired)
		awaitClose(t, watchClose(late, 10*time.Second), protocol.CloseKeyRevoked)
	})

	t.Run("demo tokens only in demo mode", func(t *testing.T) {
		t.Parallel()
		if status, raw := postAPI(t, s, "/v1/demo/token", "", ""); status != http.StatusNotFound {
			t.Fatalf("POST /v1/demo/token without demo mode: %d %s, want 404", status, raw)
		}
		if status, raw := postAPI(t, startHub(t, nil), "/v1/demo/token", "", ""); status != http.StatusNotFound {
			t.Fatalf("POST /v1/demo/token on a hub without auth: %d %s, want 404", status, raw)
		}
		demo, _ := e.hub(t, fastDemo)
		status, raw := postAPI(t, demo, "/v1/demo/token", "", "")
		var tr tokenResponse
		if status != http.StatusOK || json.Unmarshal(raw, &tr) != nil || tr.Token == "" {
			t.Fatalf("POST /v1/demo/token in demo mode: %d %s", status, raw)
		}
		e.remember(tr.Token)
		c := dialToken(t, demo, tr.Token)
		c.expectError(protocol.Command{Op: protocol.OpSubscribe, Subjects: []string{">"}}, protocol.CodeForbidden)
		c.subscribe(protocol.Command{}, "ticks.>")
		c.events(5*time.Second, func(e []protocol.EventFrame) bool { return len(e) > 0 })
	})
}

// POST /v1/publish: inside the key's publish scope only, all or nothing,
// with its body validated and bounded.
func TestAuthHTTPPublish(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	s, _ := e.hub(t, nil)
	pub, _ := e.key(t, s, auth.CreateRequest{Publish: []string{"jobs.acme.>"}})
	readOnly, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"jobs.>"}})
	slow, _ := e.key(t, s, auth.CreateRequest{Publish: []string{"jobs.acme.>"}, Limits: auth.Limits{PublishPerSec: 1, PublishBurst: 2}})

	sub := dialKey(t, s, readOnly)
	sub.subscribe(protocol.Command{Policy: protocol.DropOldest}, "jobs.>")
	waitPatterns(t, s, "jobs.>")
	publish := func(key, body string) (int, string) {
		t.Helper()
		status, raw := postAPI(t, s, "/v1/publish", key, body)
		return status, string(raw)
	}
	// next returns the next n events the subscriber receives.
	next := func(n int) []protocol.EventFrame {
		t.Helper()
		evs := sub.events(5*time.Second, func(e []protocol.EventFrame) bool { return len(e) >= n })
		if len(evs) != n {
			t.Fatalf("got %d events, want %d: %v", len(evs), n, subjectsOf(evs))
		}
		return evs
	}

	if status, body := publish(pub, `{"subject":"jobs.acme.j1","data":{"state":"running","percent":10}}`); status != http.StatusOK || !strings.Contains(body, `"published":1`) {
		t.Fatalf("one message: %d %s", status, body)
	}
	if ev := next(1)[0]; ev.Subject != "jobs.acme.j1" || dataField(t, ev, sub.enc, "percent") != "10" {
		t.Fatalf("event %+v", ev)
	}
	batch := `{"messages":[
		{"subject":"jobs.acme.j1","data":{"percent":20}},
		{"subject":"jobs.acme.j2","data":{"percent":30}},
		{"subject":"jobs.acme.j1","data":{"state":"done","percent":100},"critical":true}]}`
	if status, body := publish(pub, batch); status != http.StatusOK || !strings.Contains(body, `"published":3`) {
		t.Fatalf("batch of 3: %d %s", status, body)
	}
	evs := next(3)
	if got := dataField(t, evs[0], sub.enc, "percent") + " " + dataField(t, evs[1], sub.enc, "percent") + " " + dataField(t, evs[2], sub.enc, "percent"); got != "20 30 100" || !evs[2].Critical {
		t.Fatalf("batch arrived as %s (critical %v)", got, evs[2].Critical)
	}

	// Refusals publish nothing, not even the valid part of a batch.
	for _, tc := range []struct {
		name, key, body string
		status          int
	}{
		{"outside the scope", pub, `{"subject":"jobs.globex.j1","data":{"x":1}}`, http.StatusForbidden},
		{"batch partly outside", pub, `{"messages":[{"subject":"jobs.acme.j3","data":{"x":1}},{"subject":"jobs.acmecorp.j1","data":{"x":1}}]}`, http.StatusForbidden},
		{"wildcard subject", pub, `{"subject":"jobs.acme.*","data":{"x":1}}`, http.StatusBadRequest},
		{"key without publish scope", readOnly, `{"subject":"jobs.acme.j3","data":{"x":1}}`, http.StatusForbidden},
		{"invalid JSON", pub, `{"subject":"jobs.acme.j3","data":{"x":1}`, http.StatusBadRequest},
		{"data not an object", pub, `{"subject":"jobs.acme.j3","data":[1,2]}`, http.StatusBadRequest},
		{"data a string", pub, `{"subject":"jobs.acme.j3","data":"x"}`, http.StatusBadRequest},
		{"data missing", pub, `{"subject":"jobs.acme.j3"}`, http.StatusBadRequest},
		{"unknown field", pub, `{"subject":"jobs.acme.j3","data":{"x":1},"extra":1}`, http.StatusBadRequest},
		{"empty batch", pub, `{"messages":[]}`, http.StatusBadRequest},
		{"no key", "", `{"subject":"jobs.acme.j3","data":{"x":1}}`, http.StatusUnauthorized},
		{"batch over the key's publish burst", slow, `{"messages":[{"subject":"jobs.acme.j3","data":{"x":1}},{"subject":"jobs.acme.j3","data":{"x":2}},{"subject":"jobs.acme.j3","data":{"x":3}}]}`, http.StatusTooManyRequests},
	} {
		if status, body := publish(tc.key, tc.body); status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.status)
		}
	}
	big := `{"subject":"jobs.acme.j3","data":{"blob":"` + strings.Repeat("x", 1<<20) + `"}}`
	if status, body := publish(pub, big); status != http.StatusRequestEntityTooLarge {
		t.Errorf("body over 1 MiB: %d %.100s, want 413", status, body)
	}
	// The next event is the marker published after the refusals: none of
	// them published anything.
	if status, body := publish(pub, `{"subject":"jobs.acme.marker","data":{"x":1}}`); status != http.StatusOK {
		t.Fatalf("marker: %d %s", status, body)
	}
	if ev := next(1)[0]; ev.Subject != "jobs.acme.marker" {
		t.Fatalf("a refused publish reached the subscriber: %s %s", ev.Subject, ev.Data)
	}
}

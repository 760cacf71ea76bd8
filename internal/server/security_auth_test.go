package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// An Authorization header the hub cannot use is a failed authentication
// (401 before the upgrade), not an anonymous browser connection.
func TestUnrecognisedAuthorizationGets401(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	s, _ := e.hub(t, nil)
	secret, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}})
	for name, value := range map[string]string{
		"basic":                "Basic dXNlcjpwYXNzd29yZA==",
		"bare key":             secret,
		"bearer without a key": "Bearer",
		"empty":                "",
		"other scheme":         "Token " + secret,
	} {
		code, body := upgradeStatus(t, s, http.Header{"Authorization": {value}})
		if code != http.StatusUnauthorized || !strings.Contains(body, "Bearer") {
			t.Errorf("%s: %d %q, want 401 naming Bearer", name, code, body)
		}
	}
	dialBrowser(t, s)             // no header at all: a browser, which authenticates in-band
	dialKey(t, s, secret).alive() // the well-formed header still works
}

// auth is accepted once, only after a hello with auth_required; it never
// replaces an identity. refresh is only for browser tokens.
func TestAuthIsAcceptedOnce(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	s, _ := e.hub(t, nil)
	secret, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}})

	t.Run("a second auth on a browser connection", func(t *testing.T) {
		t.Parallel()
		narrow := e.token(t, s, secret, `{"subscribe":["ticks.coinbase.*"]}`)
		wide := e.token(t, s, secret, "")
		c := dialToken(t, s, narrow.Token)
		c.expectError(protocol.Command{Op: protocol.OpAuth, Token: wide.Token}, protocol.CodeBadRequest)
		// The identity is still the first token's.
		c.expectError(protocol.Command{Op: protocol.OpSubscribe, Subjects: []string{"ticks.binance.*"}}, protocol.CodeForbidden)
		c.subscribe(protocol.Command{}, "ticks.coinbase.*")
	})

	t.Run("auth and refresh on a key connection", func(t *testing.T) {
		t.Parallel()
		short := e.token(t, s, secret, `{"ttl_seconds":1}`)
		c := dialKey(t, s, secret)
		c.expectError(protocol.Command{Op: protocol.OpAuth, Token: short.Token}, protocol.CodeBadRequest)
		c.expectError(protocol.Command{Op: protocol.OpRefresh, Token: short.Token}, protocol.CodeBadRequest)
		// The key never expires: the connection outlives the token it sent.
		testsupport.WaitFor(t, "the token's expiry", 5*time.Second, func() bool {
			return time.Now().After(time.UnixMilli(short.ExpiresAt).Add(500 * time.Millisecond))
		})
		c.alive()
		c.subscribe(protocol.Command{}, "ticks.>")
	})
}

// A refresh with a narrower token ends the subscriptions it no longer
// allows, names them in a forbidden error, and nothing more arrives on them.
func TestRefreshWithNarrowerTokenDropsSubscriptions(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	s, _ := e.hub(t, nil)
	secret, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}})
	nc := natsPublisher(t, s)

	c := dialToken(t, s, e.token(t, s, secret, "").Token)
	c.subscribe(protocol.Command{}, "ticks.coinbase.*", "ticks.binance.BTC-USD", "ticks.>")
	narrow := e.token(t, s, secret, `{"subscribe":["ticks.coinbase.*"]}`)
	m := c.command(protocol.Command{Op: protocol.OpRefresh, Token: narrow.Token})
	if m.Op != protocol.OpError || m.Code != protocol.CodeForbidden ||
		!strings.Contains(m.Message, `"ticks.>"`) || !strings.Contains(m.Message, `"ticks.binance.BTC-USD"`) ||
		strings.Contains(m.Message, `"ticks.coinbase.*"`) {
		t.Fatalf("refresh with a narrower token: %s %s %q, want forbidden naming the two dropped patterns", m.Op, m.Code, m.Message)
	}
	waitPatterns(t, s, "ticks.coinbase.*")
	testsupport.WaitFor(t, "the dropped patterns gone from NATS", 5*time.Second, func() bool { return len(s.Router().Patterns()) == 1 })
	for i := range 5 {
		for _, subj := range []string{"ticks.binance.BTC-USD", "ticks.kraken.ETH-USD", "ticks.coinbase.BTC-USD"} {
			if err := nc.Publish(subj, []byte(fmt.Sprintf(`{"n":%d}`, i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	evs := c.events(5*time.Second, func(evs []protocol.EventFrame) bool { return subjectsOf(evs)["ticks.coinbase.BTC-USD"] > 0 })
	if !allHavePrefix(evs, "ticks.coinbase.") {
		t.Fatalf("out-of-scope events after the refresh: %v", subjectsOf(evs))
	}
	// The new scope is the connection's: the dropped patterns stay refused,
	// and a refresh that narrows nothing is simply ok.
	c.expectError(protocol.Command{Op: protocol.OpSubscribe, Subjects: []string{"ticks.>"}}, protocol.CodeForbidden)
	if m := c.command(protocol.Command{Op: protocol.OpRefresh, Token: narrow.Token}); m.Op != protocol.OpOK {
		t.Fatalf("second refresh: %s %s %q, want ok", m.Op, m.Code, m.Message)
	}
}

package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/streamhub/streamhub/internal/bus/bustest"
)

func tokenFixture(t *testing.T) (*Store, *TokenIssuer, *KeyRecord) {
	t.Helper()
	s := openStore(t, bustest.StartNATS(t).ClientURL(), StoreConfig{})
	req := basicRequest()
	req.Subscribe = []string{"ticks.coinbase.*", "jobs.acme.>"}
	key, _, err := s.Create(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.Authenticate(key.Reveal(), netip.Addr{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s, NewTokenIssuer(s, TokenConfig{}), rec
}

func TestTokenIssueVerify(t *testing.T) {
	s, ti, rec := tokenFixture(t)
	tok, c, err := ti.Issue(rec, TokenRequest{Subscribe: []string{"ticks.coinbase.BTC-USD"}})
	if err != nil {
		t.Fatal(err)
	}
	if c.Type != TokenType || c.KeyID != rec.ID || c.ID == "" || len(c.Subscribe) != 1 {
		t.Fatalf("claims %+v", c)
	}
	if ttl := c.ExpiresAt.Sub(c.IssuedAt.Time); ttl != DefaultTokenTTL {
		t.Fatalf("default TTL %v", ttl)
	}
	got, err := ti.Verify(tok, time.Now())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got.KeyID != rec.ID || got.Subscribe[0] != "ticks.coinbase.BTC-USD" || got.ID != c.ID {
		t.Fatalf("verified claims %+v", got)
	}
	// The whole key scope by default; TTL capped at 15 min.
	_, c2, err := ti.Issue(rec, TokenRequest{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if len(c2.Subscribe) != 2 || c2.ExpiresAt.Sub(c2.IssuedAt.Time) != MaxTokenTTL {
		t.Fatalf("defaults: %+v", c2)
	}
	if _, c3, _ := ti.Issue(rec, TokenRequest{TTL: time.Minute}); c3.ExpiresAt.Sub(c3.IssuedAt.Time) != time.Minute {
		t.Fatal("requested TTL not honoured")
	}
	if s.Counters().TokensIssued.Load() != 3 || s.Counters().TokensOK.Load() != 1 {
		t.Fatalf("token counters %+v", s.Counters().Snapshot())
	}
}

func TestTokenScopeNarrowingRefused(t *testing.T) {
	_, ti, rec := tokenFixture(t)
	for _, p := range []string{"ticks.>", "ticks.*.BTC-USD", ">", "jobs.globex.j1", "ticks.coin*", ""} {
		if _, _, err := ti.Issue(rec, TokenRequest{Subscribe: []string{"jobs.acme.j1", p}}); !errors.Is(err, ErrScope) {
			t.Errorf("Issue with %q: %v, want ErrScope", p, err)
		}
	}
	if _, _, err := ti.Issue(rec, TokenRequest{Subscribe: []string{"jobs.acme.j1", "ticks.coinbase.ETH-USD"}}); err != nil {
		t.Fatalf("narrower scopes refused: %v", err)
	}
}

func TestTokenExpiry(t *testing.T) {
	_, ti, rec := tokenFixture(t)
	tok, c, err := ti.Issue(rec, TokenRequest{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	exp := c.ExpiresAt.Time
	if _, err := ti.Verify(tok, exp.Add(DefaultTokenLeeway-time.Second)); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	_, err = ti.Verify(tok, exp.Add(DefaultTokenLeeway+time.Second))
	if !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("expired token: %v", err)
	}
	// Issued in the future (a clock far behind).
	if _, err := ti.Verify(tok, time.Now().Add(-time.Hour)); !errors.Is(err, ErrTokenInvalid) {
		t.Fatalf("token used before issued: %v", err)
	}
}

func TestTokenTamperedAndForeign(t *testing.T) {
	_, ti, rec := tokenFixture(t)
	tok, _, err := ti.Issue(rec, TokenRequest{Subscribe: []string{"ticks.coinbase.BTC-USD"}})
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	widened := strings.Replace(string(payload), `"ticks.coinbase.BTC-USD"`, `"\u003e"`, 1)
	now := time.Now()
	secret := ti.s.signingSecret()
	claims := func(typ string, scope ...string) Claims {
		return Claims{Type: typ, KeyID: rec.ID, Subscribe: scope, RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
		}}
	}
	sign := func(m jwt.SigningMethod, key any, c Claims) string {
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	noExp := claims(TokenType, "ticks.coinbase.BTC-USD")
	noExp.ExpiresAt = nil
	for name, bad := range map[string]string{
		"empty":            "",
		"garbage":          "not.a.token",
		"widened payload":  parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(widened)) + "." + parts[2],
		"bad signature":    parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"no signature":     parts[0] + "." + parts[1] + ".",
		"alg none":         sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(TokenType, "ticks.coinbase.BTC-USD")),
		"HS512 same key":   sign(jwt.SigningMethodHS512, secret, claims(TokenType, "ticks.coinbase.BTC-USD")),
		"other secret":     sign(jwt.SigningMethodHS256, []byte("0123456789abcdef0123456789abcdef"), claims(TokenType, "ticks.>")),
		"wrong typ":        sign(jwt.SigningMethodHS256, secret, claims("streamhub-other", "ticks.coinbase.BTC-USD")),
		"no scope":         sign(jwt.SigningMethodHS256, secret, claims(TokenType)),
		"scope beyond key": sign(jwt.SigningMethodHS256, secret, claims(TokenType, "ticks.>")),
		"no exp":           sign(jwt.SigningMethodHS256, secret, noExp),
		"oversized":        strings.Repeat("a", MaxTokenBytes+1),
	} {
		_, err := ti.Verify(bad, now)
		if !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("%s: Verify = %v, want ErrTokenInvalid", name, err)
			continue
		}
		if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("%s: error quotes the token", name)
		}
	}
}

// Revoking (or expiring) the key ends its tokens, with the key's reason.
func TestTokenFollowsKey(t *testing.T) {
	s, ti, rec := tokenFixture(t)
	tok, _, err := ti.Issue(rec, TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(context.Background(), rec.ID); err != nil {
		t.Fatal(err)
	}
	_, err = ti.Verify(tok, time.Now())
	if !errors.Is(err, ErrTokenInvalid) || !errors.Is(err, ErrRevoked) {
		t.Fatalf("token of a revoked key: %v", err)
	}
	// rec is the caller's copy from before the revocation: Issue checks the
	// store, not the copy.
	if _, _, err := ti.Issue(rec, TokenRequest{}); !errors.Is(err, ErrRevoked) {
		t.Fatalf("Issue from a stale record of a revoked key: %v", err)
	}

	// A key expiring in 2 s caps its tokens' expiry.
	req := basicRequest()
	req.TTL = 2 * time.Second
	key, _, err := s.Create(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := s.Authenticate(key.Reveal(), netip.Addr{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok3, c3, err := ti.Issue(r2, TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if c3.ExpiresAt.After(r2.Expires) {
		t.Fatal("token outlives its key")
	}
	if _, err := ti.Verify(tok3, r2.Expires.Add(time.Second)); !errors.Is(err, ErrExpired) && !errors.Is(err, ErrTokenExpired) {
		t.Fatalf("token after key expiry: %v", err)
	}
}

package auth

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Browser token defaults.
const (
	DefaultTokenTTL    = 5 * time.Minute
	MaxTokenTTL        = 15 * time.Minute
	DefaultTokenLeeway = 5 * time.Second
	// TokenType is the "typ" claim of every browser token.
	TokenType = "streamhub-browser"
	// MaxTokenBytes is the longest token Verify parses.
	MaxTokenBytes = 8192
)

// TokenConfig configures a [TokenIssuer]. The zero value is valid.
type TokenConfig struct {
	// DefaultTTL is the lifetime of a token requested without one; 0 means
	// DefaultTokenTTL.
	DefaultTTL time.Duration
	// MaxTTL caps every token's lifetime; 0 or anything above MaxTokenTTL
	// means MaxTokenTTL.
	MaxTTL time.Duration
	// Leeway is the clock skew tolerated on exp and iat; 0 means
	// DefaultTokenLeeway.
	Leeway time.Duration
}

// TokenRequest asks for a browser token. Subscribe lists the patterns the
// browser may subscribe to; each must be within the key's subscribe scope.
// Empty means the key's whole subscribe scope. TTL 0 means the default; a
// TTL above the maximum is capped. Unaudited counts the token but writes
// no token_issued line: for a caller that logs issues in aggregate (the
// hub's demo token endpoint).
type TokenRequest struct {
	Subscribe []string
	TTL       time.Duration
	Unaudited bool
}

// Claims are a browser token's claims. KeyID names the key the token was
// issued from, so revoking or expiring that key also ends its tokens.
type Claims struct {
	// Type is always TokenType.
	Type      string   `json:"typ"`
	KeyID     string   `json:"key"`
	Subscribe []string `json:"scope"`
	jwt.RegisteredClaims
}

// TokenIssuer issues and verifies browser tokens: JWTs signed with HS256
// under the bucket's signing secret, so every hub instance on the bucket
// verifies every other's tokens. It is safe for concurrent use.
type TokenIssuer struct {
	s   *Store
	cfg TokenConfig
}

// NewTokenIssuer returns an issuer that signs with s's signing secret and
// checks tokens' keys against s.
func NewTokenIssuer(s *Store, cfg TokenConfig) *TokenIssuer {
	if cfg.DefaultTTL <= 0 {
		cfg.DefaultTTL = DefaultTokenTTL
	}
	if cfg.MaxTTL <= 0 || cfg.MaxTTL > MaxTokenTTL {
		cfg.MaxTTL = MaxTokenTTL
	}
	cfg.DefaultTTL = min(cfg.DefaultTTL, cfg.MaxTTL)
	if cfg.Leeway <= 0 {
		cfg.Leeway = DefaultTokenLeeway
	}
	return &TokenIssuer{s: s, cfg: cfg}
}

// Issue signs a token for the authenticated key rec. The key, as the store
// knows it now, must be active (else ErrRevoked, ErrExpired or ErrUnknown)
// and every requested pattern within its subscribe scope (else ErrScope).
// The token expires after the requested TTL (default 5 min, at most
// 15 min), and never after the key does. The returned string is a bearer
// credential: never log it.
func (t *TokenIssuer) Issue(rec *KeyRecord, req TokenRequest) (string, Claims, error) {
	now := time.Now()
	if rec == nil {
		return "", Claims{}, fmt.Errorf("auth: issue token: %w", ErrUnknown)
	}
	// Trust the store's current record over the caller's copy, which may be
	// stale (revoked or narrowed since it was authenticated).
	cur, ok, err := t.s.lookup(rec.ID)
	switch {
	case err != nil:
		return "", Claims{}, fmt.Errorf("auth: issue token: %w", err)
	case !ok:
		return "", Claims{}, fmt.Errorf("auth: issue token: %w", ErrUnknown)
	case cur.Revoked || rec.Revoked:
		return "", Claims{}, fmt.Errorf("auth: issue token for %s: %w", rec.ID, ErrRevoked)
	case cur.ExpiredAt(now):
		return "", Claims{}, fmt.Errorf("auth: issue token for %s: %w", rec.ID, ErrExpired)
	}
	rec = &cur
	scopes := req.Subscribe
	if len(scopes) == 0 {
		scopes = rec.Subscribe
	}
	if len(scopes) == 0 || len(scopes) > MaxScopePatterns {
		return "", Claims{}, fmt.Errorf("auth: issue token for %s: %w: 1 to %d patterns", rec.ID, ErrInvalidRequest, MaxScopePatterns)
	}
	for _, p := range scopes {
		if !Allowed(rec.Subscribe, p) {
			t.s.audit.failure(EventTokenRejected, failScope, rec.ID, netip.Addr{})
			return "", Claims{}, fmt.Errorf("auth: issue token for %s: %w: a requested pattern is not within the key's subscribe scope", rec.ID, ErrScope)
		}
	}
	ttl := req.TTL
	if ttl <= 0 {
		ttl = t.cfg.DefaultTTL
	}
	ttl = min(ttl, t.cfg.MaxTTL)
	exp := now.Add(ttl)
	if !rec.Expires.IsZero() && rec.Expires.Before(exp) {
		exp = rec.Expires
	}
	var jti [16]byte
	randomBytes(jti[:])
	c := Claims{
		Type:      TokenType,
		KeyID:     rec.ID,
		Subscribe: slices.Clone(scopes),
		RegisteredClaims: jwt.RegisteredClaims{
			ID:        hex.EncodeToString(jti[:]),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	secret := t.s.signingSecret()
	if len(secret) == 0 {
		return "", Claims{}, fmt.Errorf("auth: issue token: %w", ErrClosed)
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if err != nil {
		return "", Claims{}, fmt.Errorf("auth: sign token: %w", err)
	}
	t.s.audit.tokenIssued(rec.ID, c.ID, exp, req.Unaudited)
	return tok, c, nil
}

// Verify checks a browser token at time now: HS256 only (an "alg" of none
// or anything else is refused), signature, type, exp (required) and iat
// within the leeway, then the key it names: it must exist and be active, and
// the token's scopes must still be within its subscribe scope.
//
// Errors wrap ErrTokenExpired (refresh and reconnect) or ErrTokenInvalid;
// an invalid token whose key was revoked or expired also wraps ErrRevoked or
// ErrExpired, so the gateway picks the key's close reason. Failures are
// audited with the key id when the token was authentic, never with the
// token.
func (t *TokenIssuer) Verify(token string, now time.Time) (Claims, error) {
	c, err := t.verify(token, now)
	if err != nil {
		reason := failTokenInvalid
		if errors.Is(err, ErrTokenExpired) {
			reason = failTokenExpired
		}
		t.s.audit.failure(EventTokenRejected, reason, c.KeyID, netip.Addr{})
		return Claims{}, err
	}
	t.s.audit.c.TokensOK.Add(1)
	return c, nil
}

// verify returns the claims (KeyID set only when the signature was good) or
// an error.
func (t *TokenIssuer) verify(token string, now time.Time) (Claims, error) {
	if len(token) > MaxTokenBytes {
		return Claims{}, fmt.Errorf("%w: too long", ErrTokenInvalid)
	}
	secret := t.s.signingSecret()
	var c Claims
	// A parser per call: its time function is now, and a jwt.Parser is not
	// safe for concurrent use (it sets its validator lazily).
	_, err := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(t.cfg.Leeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	).ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return secret, nil })
	switch {
	case errors.Is(err, jwt.ErrTokenExpired) && !errors.Is(err, jwt.ErrTokenSignatureInvalid):
		// jwt checks the signature before the claims, so the key id is
		// authentic here.
		return Claims{KeyID: c.KeyID}, ErrTokenExpired
	case err != nil:
		return Claims{}, fmt.Errorf("%w: %w", ErrTokenInvalid, jwtReason(err))
	case c.Type != TokenType || c.KeyID == "" || len(c.Subscribe) == 0:
		return Claims{}, fmt.Errorf("%w: not a browser token", ErrTokenInvalid)
	}
	rec, ok, err := t.s.lookup(c.KeyID)
	switch {
	case err != nil:
		return c, fmt.Errorf("%w: %w", ErrTokenInvalid, err)
	case !ok:
		return c, fmt.Errorf("%w: %w", ErrTokenInvalid, ErrUnknown)
	case rec.Revoked:
		return c, fmt.Errorf("%w: %w", ErrTokenInvalid, ErrRevoked)
	case rec.ExpiredAt(now):
		return c, fmt.Errorf("%w: %w", ErrTokenInvalid, ErrExpired)
	}
	for _, p := range c.Subscribe {
		if !Allowed(rec.Subscribe, p) {
			return c, fmt.Errorf("%w: %w", ErrTokenInvalid, ErrScope)
		}
	}
	return c, nil
}

// jwtReason reduces a jwt error to one of its sentinels, so that the error
// text never quotes token contents.
func jwtReason(err error) error {
	for _, e := range []error{
		jwt.ErrTokenMalformed, jwt.ErrTokenSignatureInvalid, jwt.ErrTokenUnverifiable,
		jwt.ErrTokenUsedBeforeIssued, jwt.ErrTokenNotValidYet, jwt.ErrTokenRequiredClaimMissing,
		jwt.ErrTokenInvalidClaims,
	} {
		if errors.Is(err, e) {
			return e
		}
	}
	return errors.New("rejected")
}

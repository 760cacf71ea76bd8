package server

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/gateway"
)

// authenticator adapts the key store and the token issuer to the gateway:
// API keys in the Authorization header, browser tokens in-band.
type authenticator struct {
	store   *auth.Store
	journal *auth.Journal
	usage   *auth.Usage
	tokens  *auth.TokenIssuer
	limiter *auth.Limiter
	leases  *auth.Leases // the limiter's cluster-wide half
	trusted []netip.Prefix
	tickets *tickets
	demo    *demoGuard // nil unless in demo mode

	cancelWatch func() // stops onKeyChange notifications
}

var _ gateway.Authenticator = (*authenticator)(nil)

// Names of the limits a limit_hit audit record counts.
const (
	limitMaxConns    = "max_conns"
	limitPublishRate = "publish_rate"
	limitAdminRate   = "admin_rate"
)

// key authenticates the request's API key.
func (a *authenticator) key(r *http.Request) (*auth.KeyRecord, error) {
	cred, ok := auth.BearerCredential(r)
	if !ok {
		return nil, gateway.NewAuthError(http.StatusUnauthorized, fanout.ReasonAuthFailed, "missing or unsupported Authorization: send Authorization: Bearer <key>")
	}
	rec, err := a.store.Authenticate(cred, auth.ClientIP(r, a.trusted), time.Now())
	if err != nil {
		return nil, authError(err)
	}
	go func() { _ = a.store.Touch(context.Background(), rec.ID) }() // at most once a minute per key
	return rec, nil
}

func (a *authenticator) FromRequest(r *http.Request) (*gateway.Identity, error) {
	if _, present := r.Header["Authorization"]; !present {
		return nil, nil // a browser: it authenticates with its first message
	}
	// Any Authorization header is a claim to credentials: one that is not
	// "Bearer <key>" (Basic, a bare key, an empty value) is refused here
	// rather than upgraded as unauthenticated.
	rec, err := a.key(r)
	if err != nil {
		return nil, err
	}
	id := identity(rec.ID, rec.Subscribe, rec.Expires, fanout.ReasonKeyExpired, rec.EffectiveLimits())
	id.Usage = a.usage.Key(rec.ID)
	if err := a.acquire(r, id); err != nil {
		return nil, err
	}
	return id, nil
}

func (a *authenticator) FromToken(r *http.Request, token string) (*gateway.Identity, error) {
	id, err := a.VerifyToken(r, token)
	if err != nil {
		return nil, err
	}
	if err := a.acquireFor(r, id); err != nil {
		return nil, err
	}
	return id, nil
}

// acquireFor takes id's connection slots for request r: its key's, and for
// the demo key also one of the request's source address.
func (a *authenticator) acquireFor(r *http.Request, id *gateway.Identity) error {
	if err := a.acquire(r, id); err != nil {
		return err
	}
	if a.demo != nil && id.KeyID == a.demo.keyID {
		if err := a.demo.acquireConn(a.limiter, id, auth.ClientIP(r, a.trusted)); err != nil {
			id.Release()
			return err
		}
	}
	return nil
}

func (a *authenticator) VerifyToken(_ *http.Request, token string) (*gateway.Identity, error) {
	claims, err := a.tokens.Verify(token, time.Now())
	if err != nil {
		return nil, authError(err)
	}
	rec, ok := a.store.Get(claims.KeyID)
	if !ok {
		return nil, authError(auth.ErrUnknown)
	}
	var exp time.Time
	if claims.ExpiresAt != nil {
		exp = claims.ExpiresAt.Time
	}
	id := identity(rec.ID, claims.Subscribe, exp, fanout.ReasonTokenExpired, rec.EffectiveLimits())
	id.Usage = a.usage.Key(rec.ID)
	// The key's own expiry ends its tokens too, with the terminal code.
	if !rec.Expires.IsZero() && rec.Expires.Before(exp) {
		id.Expires, id.ExpireReason = rec.Expires, fanout.ReasonKeyExpired
	}
	return id, nil
}

// identity describes a connection of key keyID; it holds no connection
// slot yet (see acquire).
func identity(keyID string, scopes []string, expires time.Time, reason fanout.CloseReason, lim auth.Limits) *gateway.Identity {
	return &gateway.Identity{
		KeyID:             keyID,
		Subscribe:         scopes,
		Expires:           expires,
		ExpireReason:      reason,
		CommandsPerSecond: lim.CommandsPerSec,
		CommandsBurst:     lim.CommandsBurst,
		MaxSubscriptions:  lim.MaxSubsPerConn,
		MaxConns:          lim.MaxConns,
	}
}

// acquire takes one of the key's connection slots for id, a connection
// requested by r, on this hub and across the cluster. It does not use r's
// context, which must not be used after a WebSocket upgrade (STYLE.md): the
// lease round trip has its own bound.
func (a *authenticator) acquire(r *http.Request, id *gateway.Identity) error {
	release, ok, cluster := a.limiter.AcquireKeyConn(context.Background(), id.KeyID, auth.Limits{MaxConns: id.MaxConns})
	if !ok {
		a.store.LimitHit(limitMaxConns, id.KeyID, auth.ClientIP(r, a.trusted))
		where := ""
		if cluster {
			where = " across the hubs of this cluster"
		}
		return gateway.NewAuthError(http.StatusTooManyRequests, fanout.ReasonLimitExceeded,
			"this key already has its maximum of %d connections%s", id.MaxConns, where)
	}
	id.Release = release
	a.usage.Key(id.KeyID).Connected()
	return nil
}

func (a *authenticator) Allowed(id *gateway.Identity, pattern string) bool {
	return auth.Allowed(id.Subscribe, pattern)
}

// onChange closes the live connections of a key that stopped being valid,
// on this instance; every instance gets the change through the KV watch.
func (s *Server) onKeyChange(c auth.Change) {
	switch c.Kind {
	case auth.ChangeRevoked, auth.ChangeExpired, auth.ChangeDeleted:
		n := s.gateway.CloseKey(c.Record.ID, closeReasonFor(c.Err()))
		s.auth.limiter.Forget(c.Record.ID)
		if n > 0 {
			s.log.Info("closed connections of a key", "key_id", c.Record.ID, "change", c.Kind, "connections", n)
		}
	}
}

// closeReasonFor maps an authentication error to the close reason the
// gateway sends: revoked and expired keys and expired tokens get their own
// reasons (ErrRevoked and ErrExpired win over ErrTokenInvalid when both are
// wrapped), a refused network or scope gets ReasonForbidden, a closed store
// ReasonInternal (reconnect elsewhere), every other error ReasonAuthFailed.
// A nil error maps to 0.
func closeReasonFor(err error) fanout.CloseReason {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, auth.ErrRevoked):
		return fanout.ReasonKeyRevoked
	case errors.Is(err, auth.ErrExpired):
		return fanout.ReasonKeyExpired
	case errors.Is(err, auth.ErrTokenExpired):
		return fanout.ReasonTokenExpired
	case errors.Is(err, auth.ErrNetwork), errors.Is(err, auth.ErrScope):
		return fanout.ReasonForbidden
	case errors.Is(err, auth.ErrClosed):
		return fanout.ReasonInternal
	default:
		return fanout.ReasonAuthFailed
	}
}

// authError maps an auth failure to the HTTP status and close reason the
// protocol documents. Messages never contain the credential.
func authError(err error) *gateway.AuthError {
	reason := closeReasonFor(err)
	status := http.StatusUnauthorized
	msg := "invalid credentials"
	switch {
	case errors.Is(err, auth.ErrMalformed):
		msg = "malformed API key"
	case errors.Is(err, auth.ErrUnknown):
		msg = "unknown API key"
	case errors.Is(err, auth.ErrRevoked):
		msg = "API key revoked"
	case errors.Is(err, auth.ErrExpired):
		msg = "API key expired"
	case errors.Is(err, auth.ErrTokenExpired):
		msg = "token expired: fetch a new one"
	case errors.Is(err, auth.ErrTokenInvalid):
		msg = "invalid token"
	case errors.Is(err, auth.ErrNetwork):
		status, msg = http.StatusForbidden, "this key may not be used from your network"
	case errors.Is(err, auth.ErrScope):
		status, msg = http.StatusForbidden, "requested scope is outside the key's scope"
	case errors.Is(err, auth.ErrClosed):
		status, msg = http.StatusServiceUnavailable, "key store unavailable; retry"
	}
	return gateway.NewAuthError(status, reason, "%s", msg)
}

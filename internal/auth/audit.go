package auth

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Audit events. Every audit line is logged with the message AuditMessage and
// the attribute AttrEvent set to one of these values; the other attributes
// use the Attr* keys. No audit line carries a secret, a presented key, a
// token or a hash.
const (
	EventKeyCreated    = "key_created"
	EventKeyRotated    = "key_rotated"
	EventKeyRevoked    = "key_revoked"
	EventKeyExpired    = "key_expired"
	EventAuthFailed    = "auth_failed"
	EventTokenIssued   = "token_issued"
	EventTokenRejected = "token_rejected"
	// EventDemoTokensIssued is logged by the hub, not this package: one
	// line per source address and interval for the demo token endpoint,
	// with AttrCount tokens issued and AttrRefused requests refused.
	EventDemoTokensIssued = "demo_tokens_issued"
)

// Audit attribute keys and the audit message.
const (
	AuditMessage = "auth audit"
	AttrEvent    = "event"
	AttrKeyID    = "key_id"
	AttrNewKeyID = "new_key_id"
	AttrName     = "name"
	AttrEnv      = "env"
	AttrReason   = "reason"
	AttrRemoteIP = "remote_ip"
	AttrExpires  = "expires"
	AttrTokenID  = "jti"
	// AttrSuppressed counts failure lines dropped by the audit rate limit
	// since the previous failure line that was logged.
	AttrSuppressed = "suppressed"
	// AttrCount, AttrRefused and AttrInterval are the counts of an
	// aggregated line and the interval they cover.
	AttrCount    = "count"
	AttrRefused  = "refused"
	AttrInterval = "interval"
)

// Failure lines are rate-limited so that a flood of bad credentials cannot
// flood the log; the counters still count every failure.
const (
	auditFailuresPerSec = 10
	auditFailuresBurst  = 50
)

// Counters count audit events. All fields are safe for concurrent use.
// Export them from the hub's metrics (for example as Prometheus
// CounterFuncs, one per field and one per failure reason); read them with
// Load or with Snapshot.
type Counters struct {
	KeysCreated   atomic.Uint64
	KeysRotated   atomic.Uint64
	KeysRevoked   atomic.Uint64 // revocations seen by this store, made here or by another process
	KeysExpired   atomic.Uint64 // expiry events seen by this hub instance
	AuthOK        atomic.Uint64 // successful key authentications
	TokensIssued  atomic.Uint64
	TokensOK      atomic.Uint64 // successful token verifications
	failures      [numFailures]atomic.Uint64
	suppressedLog atomic.Uint64
}

// Failures returns the number of authentication failures with the given
// reason (one of FailureReasons), 0 for an unknown reason.
func (c *Counters) Failures(reason string) uint64 {
	for i, n := range failureNames {
		if n == reason {
			return c.failures[i].Load()
		}
	}
	return 0
}

// CounterSnapshot is a point-in-time copy of [Counters].
type CounterSnapshot struct {
	KeysCreated, KeysRotated, KeysRevoked, KeysExpired uint64
	AuthOK, TokensIssued, TokensOK                     uint64
	// Failures maps every failure reason to its count.
	Failures map[string]uint64
	// SuppressedLogLines counts failure audit lines dropped by the rate limit.
	SuppressedLogLines uint64
}

// Snapshot copies the counters.
func (c *Counters) Snapshot() CounterSnapshot {
	s := CounterSnapshot{
		KeysCreated: c.KeysCreated.Load(), KeysRotated: c.KeysRotated.Load(),
		KeysRevoked: c.KeysRevoked.Load(), KeysExpired: c.KeysExpired.Load(),
		AuthOK: c.AuthOK.Load(), TokensIssued: c.TokensIssued.Load(), TokensOK: c.TokensOK.Load(),
		Failures:           make(map[string]uint64, numFailures),
		SuppressedLogLines: c.suppressedLog.Load(),
	}
	for i := range c.failures {
		s.Failures[failureNames[i]] = c.failures[i].Load()
	}
	return s
}

// auditor writes audit lines and counts them. Safe for concurrent use.
type auditor struct {
	log        *slog.Logger
	c          Counters
	failLimit  *rate.Limiter
	suppressed atomic.Uint64 // failure lines dropped since the last one logged
}

func newAuditor(log *slog.Logger) *auditor {
	return &auditor{log: log, failLimit: rate.NewLimiter(auditFailuresPerSec, auditFailuresBurst)}
}

// expiresAttr is the expires attribute of a key: "never" for a key without
// an expiry, whose zero time would otherwise read as year 1.
func expiresAttr(t time.Time) slog.Attr {
	if t.IsZero() {
		return slog.String(AttrExpires, "never")
	}
	return slog.Time(AttrExpires, t)
}

func (a *auditor) event(event string, attrs ...slog.Attr) {
	a.log.LogAttrs(context.Background(), slog.LevelInfo, AuditMessage, append([]slog.Attr{slog.String(AttrEvent, event)}, attrs...)...)
}

func (a *auditor) created(r *KeyRecord) {
	a.c.KeysCreated.Add(1)
	a.event(EventKeyCreated, slog.String(AttrKeyID, r.ID), slog.String(AttrName, r.Name),
		slog.String(AttrEnv, r.Env), expiresAttr(r.Expires))
}

func (a *auditor) rotated(old, nu *KeyRecord) {
	a.c.KeysRotated.Add(1)
	a.event(EventKeyRotated, slog.String(AttrKeyID, old.ID), slog.String(AttrNewKeyID, nu.ID),
		expiresAttr(old.Expires))
}

// revoked logs a revocation this store made; KeysRevoked counts every
// revocation the store sees (applyLocked), wherever it was made.
func (a *auditor) revoked(r *KeyRecord) {
	a.event(EventKeyRevoked, slog.String(AttrKeyID, r.ID), slog.String(AttrName, r.Name))
}

func (a *auditor) expired(r *KeyRecord) {
	a.c.KeysExpired.Add(1)
	a.event(EventKeyExpired, slog.String(AttrKeyID, r.ID), slog.String(AttrName, r.Name),
		slog.Time(AttrExpires, r.Expires))
}

func (a *auditor) tokenIssued(keyID, jti string, exp time.Time, quiet bool) {
	a.c.TokensIssued.Add(1)
	if quiet {
		return
	}
	a.event(EventTokenIssued, slog.String(AttrKeyID, keyID), slog.String(AttrTokenID, jti),
		slog.Time(AttrExpires, exp))
}

// failure counts an authentication failure and logs it unless the failure
// log rate is exceeded. keyID may be "" when the credential did not parse.
func (a *auditor) failure(event string, reason failureReason, keyID string, remote netip.Addr) {
	a.c.failures[reason].Add(1)
	if !a.failLimit.Allow() {
		a.suppressed.Add(1)
		a.c.suppressedLog.Add(1)
		return
	}
	attrs := []slog.Attr{slog.String(AttrReason, reason.String())}
	if keyID != "" {
		attrs = append(attrs, slog.String(AttrKeyID, keyID))
	}
	if remote.IsValid() {
		attrs = append(attrs, slog.String(AttrRemoteIP, remote.String()))
	}
	if n := a.suppressed.Swap(0); n > 0 {
		attrs = append(attrs, slog.Uint64(AttrSuppressed, n))
	}
	a.log.LogAttrs(context.Background(), slog.LevelWarn, AuditMessage, append([]slog.Attr{slog.String(AttrEvent, event)}, attrs...)...)
}

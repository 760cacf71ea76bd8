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
	journal    *Journal // nil: log lines only
	c          Counters
	failLimit  *rate.Limiter
	suppressed atomic.Uint64 // failure lines dropped since the last one logged
}

func newAuditor(log *slog.Logger, j *Journal) *auditor {
	return &auditor{log: log, journal: j, failLimit: rate.NewLimiter(auditFailuresPerSec, auditFailuresBurst)}
}

// record writes r to the journal, if any, with the actor and source that
// ctx carries (WithActor, WithSource).
func (a *auditor) record(ctx context.Context, r AuditRecord) {
	if a.journal == nil {
		return
	}
	if act, ok := ctx.Value(actorKey{}).(Actor); ok {
		r.Actor = act
	}
	if src, ok := ctx.Value(sourceKey{}).(netip.Addr); ok && src.IsValid() {
		r.Source = src.String()
	}
	a.journal.Record(r)
}

// keyChanges are the fields of a new key, for its key_created record.
func keyChanges(r *KeyRecord) map[string]any {
	c := map[string]any{"name": r.Name, "env": r.Env, "expires": expiresValue(r.Expires)}
	if len(r.Subscribe) > 0 {
		c["subscribe"] = r.Subscribe
	}
	if len(r.Publish) > 0 {
		c["publish"] = r.Publish
	}
	if len(r.CIDRs) > 0 {
		c["cidrs"] = r.CIDRs
	}
	if r.Limits != (Limits{}) {
		c["limits"] = r.Limits
	}
	if r.Admin {
		c["admin"] = true
	}
	if r.Metered {
		c["metered"] = true
	}
	return c
}

func expiresValue(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
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

// created audits a new key; rotatedFrom is the key it replaces, if any.
func (a *auditor) created(ctx context.Context, r *KeyRecord, rotatedFrom string) {
	a.c.KeysCreated.Add(1)
	a.event(EventKeyCreated, slog.String(AttrKeyID, r.ID), slog.String(AttrName, r.Name),
		slog.String(AttrEnv, r.Env), expiresAttr(r.Expires))
	ch := keyChanges(r)
	if rotatedFrom != "" {
		ch["rotated_from"] = rotatedFrom
	}
	a.record(ctx, AuditRecord{Event: EventKeyCreated, KeyID: r.ID, Changes: ch})
}

func (a *auditor) rotated(ctx context.Context, old, nu *KeyRecord) {
	a.c.KeysRotated.Add(1)
	a.event(EventKeyRotated, slog.String(AttrKeyID, old.ID), slog.String(AttrNewKeyID, nu.ID),
		expiresAttr(old.Expires))
	a.record(ctx, AuditRecord{Event: EventKeyRotated, KeyID: old.ID, NewKeyID: nu.ID,
		Changes: map[string]any{"expires": expiresValue(old.Expires), "rotated_to": nu.ID}})
}

// revoked logs a revocation this store made; KeysRevoked counts every
// revocation the store sees (applyLocked), wherever it was made.
func (a *auditor) revoked(ctx context.Context, r *KeyRecord) {
	a.event(EventKeyRevoked, slog.String(AttrKeyID, r.ID), slog.String(AttrName, r.Name))
	a.record(ctx, AuditRecord{Event: EventKeyRevoked, KeyID: r.ID,
		Changes: map[string]any{"revoked": true, "revoked_at": r.RevokedAt.UTC().Format(time.RFC3339)}})
}

func (a *auditor) expired(r *KeyRecord) {
	a.c.KeysExpired.Add(1)
	a.event(EventKeyExpired, slog.String(AttrKeyID, r.ID), slog.String(AttrName, r.Name),
		slog.Time(AttrExpires, r.Expires))
	// Time is the expiry itself, so that every hub writes the same record
	// (the stream keeps one: see Journal.publish).
	a.record(context.Background(), AuditRecord{Time: r.Expires.UTC(), Event: EventKeyExpired, KeyID: r.ID,
		Changes: map[string]any{"expires": expiresValue(r.Expires)}})
}

// limitHit counts a key hitting one of its limits in the journal's
// aggregate (limit hits are not logged line by line).
func (a *auditor) limitHit(limit, keyID string, remote netip.Addr) {
	if a.journal != nil {
		a.journal.Aggregate(EventLimitHit, limit, keyID, remote)
	}
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
	if a.journal != nil {
		a.journal.Aggregate(event, reason.String(), keyID, remote)
	}
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

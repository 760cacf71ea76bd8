package auth

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/streamhub/streamhub/internal/subject"
)

// Default per-key limits. A zero field of [Limits] means its default, so
// records keep zeros and follow the defaults of the running hub.
const (
	DefaultMaxConns       = 100 // concurrent connections per key, per hub instance
	DefaultMaxSubsPerConn = 128 // subscription patterns per connection
	DefaultCommandsPerSec = 20  // client commands per second per connection
	DefaultCommandsBurst  = 40  // burst of client commands per connection
	DefaultPublishPerSec  = 100 // publishes per second per key, per hub instance
	DefaultPublishBurst   = 200 // burst of publishes per key (largest accepted batch)
)

// Request limits enforced by [Store.Create].
const (
	MaxNameBytes     = 128 // longest key name
	MaxScopePatterns = 64  // most patterns per scope list
	MaxCIDRs         = 32  // most allowed networks per key
)

// Limits are a key's resource limits. Zero fields mean the Default*
// constants; negative values are invalid.
type Limits struct {
	MaxConns       int     `json:"max_conns,omitzero"`
	MaxSubsPerConn int     `json:"max_subs_per_conn,omitzero"`
	CommandsPerSec float64 `json:"commands_per_sec,omitzero"`
	CommandsBurst  int     `json:"commands_burst,omitzero"`
	PublishPerSec  float64 `json:"publish_per_sec,omitzero"`
	PublishBurst   int     `json:"publish_burst,omitzero"`
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.MaxConns, DefaultMaxConns)
	def(&l.MaxSubsPerConn, DefaultMaxSubsPerConn)
	deff(&l.CommandsPerSec, DefaultCommandsPerSec)
	def(&l.CommandsBurst, DefaultCommandsBurst)
	deff(&l.PublishPerSec, DefaultPublishPerSec)
	def(&l.PublishBurst, DefaultPublishBurst)
	return l
}

func (l Limits) validate() error {
	if l.MaxConns < 0 || l.MaxSubsPerConn < 0 || l.CommandsPerSec < 0 || l.CommandsBurst < 0 ||
		l.PublishPerSec < 0 || l.PublishBurst < 0 {
		return fmt.Errorf("%w: negative limit", ErrInvalidRequest)
	}
	return nil
}

// KeyRecord is what the store keeps about a key: metadata and the SHA-256
// of its secret. It is stored as JSON in the bucket under "key.<ID>".
//
// Records returned by the [Store] are copies whose Hash is nil: the hash
// never leaves the store, so it cannot be printed or logged. A KeyRecord is
// a plain value; the caller owns its copy.
type KeyRecord struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Env  string `json:"env"`
	// Hash is the SHA-256 of the secret. Set only inside the store.
	Hash []byte `json:"hash,omitempty"`
	// Subscribe and Publish are NATS subject patterns; see [Allowed] and
	// [AllowedPublish].
	Subscribe []string  `json:"subscribe,omitempty"`
	Publish   []string  `json:"publish,omitempty"`
	Created   time.Time `json:"created"`
	// Expires is when the key stops working; zero means never.
	Expires   time.Time `json:"expires,omitzero"`
	LastUsed  time.Time `json:"last_used,omitzero"`
	Revoked   bool      `json:"revoked,omitempty"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// CIDRs are the networks the key may be used from (canonical prefixes);
	// empty means anywhere. They apply to the key's own use, not to browser
	// tokens issued from it.
	CIDRs  []string `json:"cidrs,omitempty"`
	Limits Limits   `json:"limits,omitzero"`
	// RotatedTo is the id of the key that replaced this one, if any.
	RotatedTo string `json:"rotated_to,omitempty"`
	// SignedPublish: every HTTP publish with this key must be signed with
	// its publish signing secret (Store.PublishSecret).
	SignedPublish bool `json:"signed_publish,omitempty"`
	// Admin grants the admin scope: the HTTP admin API for keys.
	Admin bool `json:"admin,omitempty"`
	// Metered gives the key its own series in the per-key usage metrics
	// (which otherwise sum every key, so their cardinality stays bounded).
	Metered bool `json:"metered,omitempty"`
}

// Active reports whether the key is neither revoked nor expired at now.
func (r *KeyRecord) Active(now time.Time) bool {
	return !r.Revoked && !r.ExpiredAt(now)
}

// ExpiredAt reports whether the key has an expiry and it is not after now.
func (r *KeyRecord) ExpiredAt(now time.Time) bool {
	return !r.Expires.IsZero() && !now.Before(r.Expires)
}

// ExpiresWithin reports whether r is active at now and expires within d:
// the keys to rotate soon. Expiry warnings (hub keys list, the
// streamhub_keys_expiring metric) use it.
func ExpiresWithin(r *KeyRecord, now time.Time, d time.Duration) bool {
	return r.Active(now) && !r.Expires.IsZero() && r.Expires.Sub(now) <= d
}

// CanSubscribe reports whether pattern is within the key's subscribe scope.
func (r *KeyRecord) CanSubscribe(pattern string) bool { return Allowed(r.Subscribe, pattern) }

// CanPublish reports whether the literal subject is within the key's publish
// scope.
func (r *KeyRecord) CanPublish(subject string) bool { return AllowedPublish(r.Publish, subject) }

// EffectiveLimits returns the key's limits with defaults filled in.
func (r *KeyRecord) EffectiveLimits() Limits { return r.Limits.WithDefaults() }

// LogValue implements slog.LogValuer: public metadata only, never the hash.
func (r KeyRecord) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("key_id", r.ID),
		slog.String("name", r.Name),
		slog.String("env", r.Env),
		slog.Bool("revoked", r.Revoked),
		expiresAttr(r.Expires),
	)
}

// public returns a deep copy without the hash.
func (r *KeyRecord) public() KeyRecord {
	c := *r
	c.Hash = nil
	c.Subscribe = slices.Clone(r.Subscribe)
	c.Publish = slices.Clone(r.Publish)
	c.CIDRs = slices.Clone(r.CIDRs)
	return c
}

// CreateRequest describes a new key. Subscribe and Publish are subject
// patterns (at least one pattern in all); CIDRs are networks such as
// "10.0.0.0/8" (empty: anywhere).
type CreateRequest struct {
	// Name is a label for people, 1..MaxNameBytes printable characters.
	Name string
	// Env is EnvLive or EnvTest; "" means EnvLive.
	Env       string
	Subscribe []string
	Publish   []string
	// TTL is the key's lifetime from now; 0 means it never expires.
	TTL    time.Duration
	CIDRs  []string
	Limits Limits
	// SignedPublish makes the key's HTTP publishes require a signature.
	SignedPublish bool
	// Admin grants the admin scope (the HTTP admin API); an admin key
	// needs no subscribe or publish pattern.
	Admin bool
	// Metered gives the key its own series in the usage metrics.
	Metered bool
}

// validate checks r and returns the canonical CIDRs and the environment.
func (r *CreateRequest) validate() (env string, cidrs []string, err error) {
	env = r.Env
	if env == "" {
		env = EnvLive
	}
	if !validEnv(env) {
		return "", nil, fmt.Errorf("%w: environment must be %q or %q", ErrInvalidRequest, EnvLive, EnvTest)
	}
	if err := validateName(r.Name); err != nil {
		return "", nil, err
	}
	if len(r.Subscribe)+len(r.Publish) == 0 && !r.Admin {
		return "", nil, fmt.Errorf("%w: a key needs at least one subscribe or publish pattern, or the admin scope", ErrInvalidRequest)
	}
	for _, list := range [][]string{r.Subscribe, r.Publish} {
		if len(list) > MaxScopePatterns {
			return "", nil, fmt.Errorf("%w: more than %d patterns", ErrInvalidRequest, MaxScopePatterns)
		}
		for _, p := range list {
			if err := subject.ValidatePattern(p); err != nil {
				return "", nil, fmt.Errorf("%w: scope: %w", ErrInvalidRequest, err)
			}
		}
	}
	if r.TTL < 0 {
		return "", nil, fmt.Errorf("%w: negative TTL", ErrInvalidRequest)
	}
	if len(r.CIDRs) > MaxCIDRs {
		return "", nil, fmt.Errorf("%w: more than %d networks", ErrInvalidRequest, MaxCIDRs)
	}
	for _, c := range r.CIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return "", nil, fmt.Errorf("%w: network %q: %w", ErrInvalidRequest, c, err)
		}
		cidrs = append(cidrs, p.Masked().String())
	}
	if err := r.Limits.validate(); err != nil {
		return "", nil, err
	}
	return env, cidrs, nil
}

func validateName(name string) error {
	if name == "" || len(name) > MaxNameBytes || !utf8.ValidString(name) {
		return fmt.Errorf("%w: name must be 1 to %d bytes of UTF-8", ErrInvalidRequest, MaxNameBytes)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: name has a non-printable character", ErrInvalidRequest)
		}
	}
	return nil
}

// parseCIDRs parses a stored record's networks. A record with a network that
// does not parse (written by something else than this package) allows no
// address at all: fail closed.
func parseCIDRs(cidrs []string) (prefixes []netip.Prefix, ok bool) {
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, false
		}
		prefixes = append(prefixes, p.Masked())
	}
	return prefixes, true
}

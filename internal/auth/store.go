package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Bucket layout: one entry per key under "key.<id>" (JSON KeyRecord) and
// the token signing secret under "_signing" (32 raw bytes).
const (
	DefaultBucket        = "streamhub_keys"
	DefaultTouchInterval = time.Minute
	recordPrefix         = "key."
	signingKey           = "_signing"
	signingSecretLen     = 32
	// casAttempts bounds read-modify-write retries on revision conflicts.
	casAttempts = 8
	// drainTimeout bounds how long Close waits for the watch to wind down.
	drainTimeout = 5 * time.Second
)

// StoreConfig configures a [Store]. The zero value is valid.
type StoreConfig struct {
	// Bucket is the JetStream KV bucket; "" means DefaultBucket.
	Bucket string
	// Replicas is the bucket's replica count when the store creates it;
	// 0 means 1. It is ignored when the bucket exists.
	Replicas int
	// TouchInterval is the least time between two LastUsed writes for one
	// key; 0 means DefaultTouchInterval.
	TouchInterval time.Duration
	// Logger receives audit lines and warnings; nil discards them.
	Logger *slog.Logger
	// Journal, when set, receives the audit records of key events,
	// failures and limit hits (see Journal); the caller closes it after
	// the store.
	Journal *Journal
}

// Store is the key store: records in a JetStream KV bucket, and an in-memory
// copy kept current by a watch, so that Authenticate and Get never wait on
// the network. Every hub instance that opens the same bucket sees every
// other's creations, rotations and revocations within the watch's latency.
//
// All methods are safe for concurrent use. The Store owns one goroutine
// (see the package doc); Close stops it.
type Store struct {
	kv    jetstream.KeyValue
	cfg   StoreConfig
	log   *slog.Logger
	audit *auditor

	mu      sync.RWMutex
	recs    map[string]*entry // by key id; guarded by mu
	signing []byte            // token signing secret; guarded by mu
	broken  bool              // the watch ended before Close; guarded by mu

	subMu     sync.Mutex
	subs      map[int]func(Change) // OnChange callbacks; guarded by subMu
	nextSubID int                  // guarded by subMu

	touchMu sync.Mutex
	touched map[string]time.Time // last Touch write attempt per id; guarded by touchMu

	rearm     chan struct{} // tells the watch goroutine to recompute the expiry timer
	stop      context.CancelFunc
	done      chan struct{} // closed when the watch goroutine has returned
	closeOnce sync.Once
}

// entry is the in-memory state of one key. Its fields are guarded by
// Store.mu, except emitted and expiredSent, which only the watch goroutine
// touches.
type entry struct {
	rec      KeyRecord      // with Hash
	prefixes []netip.Prefix // parsed rec.CIDRs
	netOK    bool           // false when a stored CIDR did not parse: deny all
	rev      uint64         // KV revision of rec

	emitted     uint64 // last revision announced to OnChange callbacks
	expiredSent bool   // an Expired change was announced for rec.Expires
}

// OpenStore binds to the bucket (creating it if absent: history 1, file
// storage), makes sure the token signing secret exists, loads every record
// and only then returns, so a hub that opened its Store can authenticate
// from a complete view. ctx bounds the opening only; the Store lives until
// Close.
func OpenStore(ctx context.Context, js jetstream.JetStream, cfg StoreConfig) (*Store, error) {
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultBucket
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.TouchInterval <= 0 {
		cfg.TouchInterval = DefaultTouchInterval
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kv, err := bindBucket(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	if err := ensureSigningSecret(ctx, kv); err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	w, err := kv.WatchAll(runCtx)
	if err != nil {
		stop()
		return nil, fmt.Errorf("auth: watch bucket %s: %w", cfg.Bucket, err)
	}
	s := &Store{
		kv: kv, cfg: cfg, log: log, audit: newAuditor(log, cfg.Journal),
		recs:    make(map[string]*entry),
		subs:    make(map[int]func(Change)),
		touched: make(map[string]time.Time),
		rearm:   make(chan struct{}, 1),
		stop:    stop,
		done:    make(chan struct{}),
	}
	ready := make(chan struct{})
	go s.run(runCtx, w, ready)
	select {
	case <-ready:
	case <-s.done:
		return nil, fmt.Errorf("auth: initial load of bucket %s: %w", cfg.Bucket, ErrClosed)
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("auth: initial load of bucket %s: %w", cfg.Bucket, ctx.Err())
	}
	s.mu.RLock()
	haveSecret := len(s.signing) == signingSecretLen
	s.mu.RUnlock()
	if !haveSecret {
		s.Close()
		return nil, fmt.Errorf("auth: bucket %s: signing secret missing or malformed", cfg.Bucket)
	}
	return s, nil
}

func bindBucket(ctx context.Context, js jetstream.JetStream, cfg StoreConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if err == nil {
		return kv, nil
	}
	if !errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("auth: bind bucket %s: %w", cfg.Bucket, err)
	}
	kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "StreamHub API keys (hashes and metadata only)",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, cfg.Bucket) // another hub created it first
	}
	if err != nil {
		return nil, fmt.Errorf("auth: create bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// ensureSigningSecret creates the signing secret with Create semantics, so
// that hubs starting at the same time agree on the first one written.
func ensureSigningSecret(ctx context.Context, kv jetstream.KeyValue) error {
	secret := make([]byte, signingSecretLen)
	randomBytes(secret)
	_, err := kv.Create(ctx, signingKey, secret)
	if err == nil || errors.Is(err, jetstream.ErrKeyExists) {
		return nil
	}
	return fmt.Errorf("auth: create signing secret: %w", err)
}

// Close stops the watch goroutine and waits for it. After Close,
// Authenticate and token verification fail with ErrClosed; writes are
// refused. Close is idempotent.
func (s *Store) Close() {
	s.closeOnce.Do(s.stop)
	<-s.done
}

// Counters returns the store's audit counters (shared with every
// TokenIssuer built on it).
func (s *Store) Counters() *Counters { return &s.audit.c }

// LimitHit audits that key keyID, used from remote, hit the limit named
// limit ("max_conns", "publish_rate", "admin_rate"), in the journal's
// aggregate. Safe for concurrent use; it does not block.
func (s *Store) LimitHit(limit, keyID string, remote netip.Addr) {
	s.audit.limitHit(limit, keyID, remote)
}

// Bucket returns the name of the KV bucket.
func (s *Store) Bucket() string { return s.cfg.Bucket }

// ChangeKind says what happened to a key.
type ChangeKind uint8

const (
	// ChangeCreated: a key this store had not seen appeared.
	ChangeCreated ChangeKind = iota + 1
	// ChangeUpdated: a key's record changed (rotation, LastUsed, metadata).
	ChangeUpdated
	// ChangeRevoked: the key's record is revoked. Sent on every update of a
	// revoked record; handling it twice must be harmless.
	ChangeRevoked
	// ChangeExpired: the key's Expires passed, announced by the store's
	// expiry timer (and at once if an update moved Expires into the past).
	ChangeExpired
	// ChangeDeleted: the record disappeared from the bucket, or no longer
	// decodes; treat it as revoked.
	ChangeDeleted
)

func (k ChangeKind) String() string {
	switch k {
	case ChangeCreated:
		return "created"
	case ChangeUpdated:
		return "updated"
	case ChangeRevoked:
		return "revoked"
	case ChangeExpired:
		return "expired"
	case ChangeDeleted:
		return "deleted"
	}
	return fmt.Sprintf("ChangeKind(%d)", uint8(k))
}

// Change is one event from the store. Record is a copy without the hash; for
// ChangeDeleted only its ID is set.
type Change struct {
	Kind   ChangeKind
	Record KeyRecord
}

// OnChange registers fn to be called for every change the store sees from
// now on, from any hub instance. The gateway uses it to close the live
// connections of a key when it is revoked, expires or is deleted (see
// [Change.CloseReason]).
//
// Callbacks run one at a time on the store's goroutine: fn must return
// quickly and must not block (closing connections asynchronously is fine);
// it may call the store's read methods but not Close. The returned function
// unregisters fn; after it returns, fn is not called again unless a
// dispatch to it had already begun.
func (s *Store) OnChange(fn func(Change)) (cancel func()) {
	s.subMu.Lock()
	id := s.nextSubID
	s.nextSubID++
	s.subs[id] = fn
	s.subMu.Unlock()
	return func() {
		s.subMu.Lock()
		delete(s.subs, id)
		s.subMu.Unlock()
	}
}

// Err returns why connections of the changed key must end: ErrRevoked for
// revoked and deleted keys, ErrExpired for expired ones, nil when they may
// stay.
func (c Change) Err() error {
	switch c.Kind {
	case ChangeRevoked, ChangeDeleted:
		return ErrRevoked
	case ChangeExpired:
		return ErrExpired
	}
	return nil
}

func (s *Store) notify(c Change) {
	s.subMu.Lock()
	fns := make([]func(Change), 0, len(s.subs))
	for _, fn := range s.subs {
		fns = append(fns, fn)
	}
	s.subMu.Unlock()
	for _, fn := range fns {
		fn(c)
	}
}

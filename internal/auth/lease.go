package auth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of [LeaseConfig].
const (
	DefaultLeaseBucket = "streamhub_conn_leases"
	DefaultLeaseTTL    = 30 * time.Second
	// leaseAttempts bounds the compare-and-set retries of one acquisition
	// (other hubs taking slots of the same key at the same moment).
	leaseAttempts = 16
	// leaseOpTimeout bounds one lease round trip to NATS.
	leaseOpTimeout = 3 * time.Second
)

// LeaseConfig configures [OpenLeases]. Zero fields mean the defaults
// stated on them.
type LeaseConfig struct {
	// Bucket is the JetStream KV bucket. Default "streamhub_conn_leases".
	Bucket string
	// TTL is how long a hub's leases count without renewal: the hub
	// renews them every TTL/3, so a hub that died stops counting within
	// TTL. Default 30 s.
	TTL time.Duration
	// Replicas is the bucket's replica count, applied when it is created
	// and at every open. Default 1 (3 for a three-node cluster: the hub
	// passes --stream-replicas).
	Replicas int
	// Instance names this hub in the leases; it must be unique among the
	// hubs sharing the bucket. Default a random name.
	Instance string
	// Logger receives a sample of lease failures. Nil discards.
	Logger *slog.Logger
}

// Leases enforce a key's connection limit across every hub that shares a
// NATS cluster. Each key with connections has one KV entry: a map of hub
// instance to {connections, expiry}. A hub takes a slot with a
// compare-and-set on that entry (so two hubs never both take the last
// slot), gives it back the same way, and renews its own part every TTL/3;
// the parts of a hub that stopped renewing (it crashed, or lost NATS) no
// longer count once their expiry passes. The count each hub writes is its
// own live count, so a renewal also repairs what a failed release or an
// outage left behind.
//
// While NATS cannot be reached, Acquire fails open to this hub's own
// limit (the [Limiter] has already checked it): a key may then hold up to
// its limit on each hub, as without leases, and the renewal after the
// outage records the connections. See docs/operations.md.
//
// All methods are safe for concurrent use.
type Leases struct {
	kv     jetstream.KeyValue
	nc     *nats.Conn
	cfg    LeaseConfig
	log    *slog.Logger
	ctx    context.Context // ends when Close starts: cuts renewals short
	cancel context.CancelFunc
	done   chan struct{} // closed when the renewal goroutine has returned

	failOpen atomic.Uint64 // acquisitions granted without the cluster's answer
	kick     chan struct{} // a release to record; buffered 1

	// mu guards held and keyLocks; it is never held across I/O.
	mu       sync.Mutex
	held     map[string]int         // this hub's live connections per key id
	dirty    map[string]bool        // keys released since their last write
	keyLocks map[string]*sync.Mutex // serializes one key's lease updates on this hub
	closed   bool
}

// leaseEntry is one key's KV value: each hub's part.
type leaseEntry map[string]leasePart

type leasePart struct {
	Conns   int   `json:"n"`
	Expires int64 `json:"exp"` // unix milliseconds
}

// OpenLeases opens (creating if needed) the lease bucket and starts the
// renewal; Close stops it.
func OpenLeases(ctx context.Context, js jetstream.JetStream, cfg LeaseConfig) (*Leases, error) {
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultLeaseBucket
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultLeaseTTL
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Instance == "" {
		cfg.Instance = "hub-" + rand.Text()[:10]
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "StreamHub connection leases: connections per API key and hub",
		History:     1,
		// An entry nobody renewed for this long belongs to hubs that are
		// gone: NATS removes it.
		TTL:      2 * cfg.TTL,
		Storage:  jetstream.FileStorage,
		Replicas: cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("auth: lease bucket %s: %w", cfg.Bucket, err)
	}
	l := &Leases{
		kv: kv, nc: js.Conn(), cfg: cfg, log: cfg.Logger, done: make(chan struct{}),
		held: make(map[string]int), keyLocks: make(map[string]*sync.Mutex),
		dirty: make(map[string]bool), kick: make(chan struct{}, 1),
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	go l.renewLoop()
	return l, nil
}

// Instance returns this hub's name in the leases.
func (l *Leases) Instance() string { return l.cfg.Instance }

// FailOpen returns how many acquisitions were granted on this hub's own
// limit because the cluster's count could not be had.
func (l *Leases) FailOpen() uint64 { return l.failOpen.Load() }

// Held returns this hub's live connections of key id, as it recorded them.
func (l *Leases) Held(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held[id]
}

// Count returns the connections of key id across the cluster that the
// bucket holds now (unexpired parts only).
func (l *Leases) Count(ctx context.Context, id string) (int, error) {
	e, _, err := l.get(ctx, id)
	if err != nil {
		return 0, err
	}
	return e.total(time.Now(), ""), nil
}

// Acquire takes one of key id's limit connection slots across the
// cluster. ok is false when all are taken (the caller refuses the
// connection). When the cluster cannot answer, the slot is granted (fail
// open, see [Leases]).
func (l *Leases) Acquire(ctx context.Context, id string, limit int) (ok bool) {
	unlock := l.lockKey(id)
	defer unlock()
	mine := l.Held(id) // stable: only holders of id's key lock change it
	ok, err := l.update(ctx, id, func(e leaseEntry, now time.Time) (int, bool) {
		return mine + 1, e.total(now, l.cfg.Instance)+mine+1 <= limit
	})
	if err != nil {
		l.failOpen.Add(1)
		l.log.Warn("connection lease unavailable: admitting on this hub's own limit", "key_id", id, "err", err)
		ok = true
	}
	if ok {
		l.mu.Lock()
		l.held[id]++
		l.mu.Unlock()
	}
	return ok
}

// Release gives back one of key id's slots taken by Acquire. It does not
// wait for NATS: the renewal goroutine records it at once, coalescing the
// releases of one key (a hub draining thousands of connections of a key
// writes its entry a few times, not thousands), and a failure to record
// it is repaired by the next renewal.
func (l *Leases) Release(id string) {
	l.mu.Lock()
	if l.held[id] > 0 {
		l.held[id]--
	}
	l.dirty[id] = true
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default: // a flush is pending already
	}
}

// Close stops the renewal and withdraws this hub's leases (best effort:
// what it cannot withdraw expires within the TTL). It is idempotent.
func (l *Leases) Close(ctx context.Context) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	ids := make([]string, 0, len(l.held))
	for id := range l.held {
		ids = append(ids, id)
	}
	l.mu.Unlock()
	l.cancel()
	<-l.done
	for _, id := range ids {
		unlock := l.lockKey(id)
		_, _ = l.update(ctx, id, func(leaseEntry, time.Time) (int, bool) { return 0, true })
		unlock()
	}
}

// lockKey serializes this hub's lease updates of one key, so that its
// held count and its part in the bucket move together. It is held across
// that key's own round trips to NATS only: other keys never wait on it,
// and the same key's acquisitions on other hubs are serialized by the
// compare-and-set anyway.
func (l *Leases) lockKey(id string) (unlock func()) {
	l.mu.Lock()
	m := l.keyLocks[id]
	if m == nil {
		m = &sync.Mutex{}
		l.keyLocks[id] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// update reads key id's entry, asks decide for this hub's new count (and
// whether to write at all), and writes it with a compare-and-set, retrying
// on a concurrent change. The caller holds id's key lock.
func (l *Leases) update(ctx context.Context, id string, decide func(e leaseEntry, now time.Time) (int, bool)) (bool, error) {
	if !l.nc.IsConnected() {
		return false, errors.New("NATS not connected")
	}
	ctx, cancel := context.WithTimeout(ctx, leaseOpTimeout)
	defer cancel()
	for range leaseAttempts {
		e, rev, err := l.get(ctx, id)
		if err != nil {
			return false, err
		}
		now := time.Now()
		n, ok := decide(e, now)
		if !ok {
			return false, nil
		}
		e.prune(now)
		if n > 0 {
			e[l.cfg.Instance] = leasePart{Conns: n, Expires: now.Add(l.cfg.TTL).UnixMilli()}
		} else {
			delete(e, l.cfg.Instance)
		}
		err = l.put(ctx, id, e, rev)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return false, err
		}
	}
	return false, errors.New("too many concurrent lease updates")
}

func (l *Leases) get(ctx context.Context, id string) (leaseEntry, uint64, error) {
	e := leaseEntry{}
	kve, err := l.kv.Get(ctx, leaseKey(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return e, 0, nil // none, or deleted: Create writes over a delete marker
	}
	if err != nil {
		return nil, 0, err
	}
	if err := json.Unmarshal(kve.Value(), &e); err != nil {
		// Not ours or damaged: overwrite it; renewals restore every part.
		l.log.Warn("connection lease entry unreadable; replacing it", "key_id", id, "err", err)
		e = leaseEntry{}
	}
	return e, kve.Revision(), nil
}

func (l *Leases) put(ctx context.Context, id string, e leaseEntry, rev uint64) error {
	if len(e) == 0 {
		if rev == 0 {
			return nil
		}
		return l.kv.Delete(ctx, leaseKey(id), jetstream.LastRevision(rev))
	}
	b, _ := json.Marshal(e)
	if rev == 0 {
		_, err := l.kv.Create(ctx, leaseKey(id), b)
		return err
	}
	_, err := l.kv.Update(ctx, leaseKey(id), b, rev)
	return err
}

// renewLoop renews this hub's parts every TTL/3 with its live counts,
// records releases as they come, and forgets the keys it holds nothing of
// once that is recorded.
func (l *Leases) renewLoop() {
	defer close(l.done)
	t := time.NewTicker(l.cfg.TTL / 3)
	defer t.Stop()
	for {
		all := false
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
			all = true
		case <-l.kick:
		}
		l.mu.Lock()
		var ids []string
		for id := range l.held {
			if all || l.dirty[id] {
				ids = append(ids, id)
			}
		}
		clear(l.dirty)
		l.mu.Unlock()
		for _, id := range ids {
			l.renew(id)
		}
	}
}

func (l *Leases) renew(id string) {
	unlock := l.lockKey(id)
	defer unlock()
	l.mu.Lock()
	n := l.held[id]
	l.mu.Unlock()
	if _, err := l.update(l.ctx, id, func(leaseEntry, time.Time) (int, bool) { return n, true }); err != nil {
		l.log.Debug("connection lease renewal failed; next round retries", "key_id", id, "err", err)
		return
	}
	if n == 0 {
		l.mu.Lock()
		if l.held[id] == 0 {
			delete(l.held, id) // its key lock stays: a waiter may hold a reference
		}
		l.mu.Unlock()
	}
}

// total counts the unexpired connections of every hub but except.
func (e leaseEntry) total(now time.Time, except string) int {
	n := 0
	for inst, p := range e {
		if inst != except && p.Expires > now.UnixMilli() {
			n += p.Conns
		}
	}
	return n
}

// prune drops the parts that expired.
func (e leaseEntry) prune(now time.Time) {
	for inst, p := range e {
		if p.Expires <= now.UnixMilli() {
			delete(e, inst)
		}
	}
}

// leaseKey is key id's entry name. Key ids are alphanumeric (see
// NewKey); the demo guard's source names are not, so they are never
// leased.
func leaseKey(id string) string { return "conns." + id }

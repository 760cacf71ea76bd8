package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Per-key usage: each hub counts in memory what every key uses on it, and
// flushes the increments (deltas) to a KV bucket every FlushInterval with
// a compare-and-set add, so that the bucket holds the sum over every hub.
//
// Consistency: the bucket's totals lag each hub's own counts by at most
// one flush interval (plus the time of a flush); a hub that dies loses at
// most its unflushed interval; concurrent flushes of several hubs never
// lose each other's increments (a revision conflict re-reads and adds
// again). Counts are at least as old as the last flush, never ahead.
const (
	DefaultUsageBucket        = "streamhub_usage"
	DefaultUsageFlushInterval = 10 * time.Second
	usagePrefix               = "usage."
	flushTimeout              = 10 * time.Second // least bound of one flush
)

// UsageCounts are a key's counts: connections opened, subscriptions made,
// messages and bytes delivered to it, messages it published, and when it
// was last used (connected, subscribed, published).
type UsageCounts struct {
	Connections   uint64    `json:"connections"`
	Subscriptions uint64    `json:"subscriptions"`
	Messages      uint64    `json:"messages_delivered"`
	Bytes         uint64    `json:"bytes_delivered"`
	Publishes     uint64    `json:"publishes"`
	LastUsed      time.Time `json:"last_used,omitzero"`
}

// Add adds d to c (LastUsed: the later of the two).
func (c *UsageCounts) Add(d UsageCounts) {
	c.Connections += d.Connections
	c.Subscriptions += d.Subscriptions
	c.Messages += d.Messages
	c.Bytes += d.Bytes
	c.Publishes += d.Publishes
	if d.LastUsed.After(c.LastUsed) {
		c.LastUsed = d.LastUsed
	}
}

func (c UsageCounts) sub(o UsageCounts) UsageCounts {
	return UsageCounts{
		Connections: c.Connections - o.Connections, Subscriptions: c.Subscriptions - o.Subscriptions,
		Messages: c.Messages - o.Messages, Bytes: c.Bytes - o.Bytes, Publishes: c.Publishes - o.Publishes,
		LastUsed: c.LastUsed,
	}
}

func (c UsageCounts) zero() bool {
	return c.Connections == 0 && c.Subscriptions == 0 && c.Messages == 0 && c.Bytes == 0 && c.Publishes == 0
}

// KeyUsage counts one key's use on this hub since it started. Its methods
// are safe for concurrent use and cost a few atomic adds; the hot path
// (Delivered) is called once per written batch, not per message.
type KeyUsage struct {
	conns, subs, msgs, bytes, pubs atomic.Uint64
	last                           atomic.Int64 // Unix ns of the last use

	flushed UsageCounts // what the bucket already has of these counts; owned by Usage's flusher
}

// Connected counts a connection opened with the key.
func (u *KeyUsage) Connected() { u.conns.Add(1); u.touch() }

// Subscribed counts n subscriptions made.
func (u *KeyUsage) Subscribed(n int) { u.subs.Add(uint64(n)); u.touch() }

// Delivered counts msgs messages in bytes bytes written to a client of
// the key (delivery is not "use": it does not move LastUsed).
func (u *KeyUsage) Delivered(msgs, bytes int) {
	u.msgs.Add(uint64(msgs))
	u.bytes.Add(uint64(bytes))
}

// Published counts n messages the key published.
func (u *KeyUsage) Published(n int) { u.pubs.Add(uint64(n)); u.touch() }

func (u *KeyUsage) touch() { u.last.Store(time.Now().UnixNano()) }

// Counts returns the key's counts on this hub since it started.
func (u *KeyUsage) Counts() UsageCounts {
	c := UsageCounts{Connections: u.conns.Load(), Subscriptions: u.subs.Load(), Messages: u.msgs.Load(),
		Bytes: u.bytes.Load(), Publishes: u.pubs.Load()}
	if ns := u.last.Load(); ns != 0 {
		c.LastUsed = time.Unix(0, ns).UTC()
	}
	return c
}

// UsageConfig configures a [Usage]. The zero value is valid.
type UsageConfig struct {
	// Bucket is the KV bucket of the totals; "" means DefaultUsageBucket.
	Bucket string
	// FlushInterval is how often increments are added to the bucket; 0
	// means DefaultUsageFlushInterval.
	FlushInterval time.Duration
	// Replicas of the bucket when created; 0 means 1.
	Replicas int
	// Logger receives a line when a flush fails; nil discards.
	Logger *slog.Logger
}

// Usage counts every key's use on this hub and flushes it to the bucket.
// It keeps one KeyUsage per key used since the hub started (keys are few
// and bounded by the store). Key, Local and Flush are safe for concurrent use; the flusher goroutine
// is owned by Usage and stopped by Close.
type Usage struct {
	kv  jetstream.KeyValue
	cfg UsageConfig
	log *slog.Logger

	mu   sync.Mutex
	keys map[string]*KeyUsage // guarded by mu; one per key used

	flushMu sync.Mutex // one flush at a time
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// OpenUsage binds to (or creates) the usage bucket and starts the flusher.
func OpenUsage(ctx context.Context, js jetstream.JetStream, cfg UsageConfig) (*Usage, error) {
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultUsageBucket
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultUsageFlushInterval
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	kv, err := bindUsage(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	u := &Usage{kv: kv, cfg: cfg, log: cfg.Logger, keys: make(map[string]*KeyUsage),
		stop: make(chan struct{}), done: make(chan struct{})}
	go u.run()
	return u, nil
}

func bindUsage(ctx context.Context, js jetstream.JetStream, cfg UsageConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket: cfg.Bucket, Description: "StreamHub per-key usage totals, summed over every hub",
			History: 1, Storage: jetstream.FileStorage, Replicas: cfg.Replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, cfg.Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("auth: usage bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// Key returns the counters of key id on this hub, creating them.
func (u *Usage) Key(id string) *KeyUsage {
	u.mu.Lock()
	defer u.mu.Unlock()
	k := u.keys[id]
	if k == nil {
		k = &KeyUsage{}
		u.keys[id] = k
	}
	return k
}

// Local returns this hub's counts per key since it started (for metrics).
func (u *Usage) Local() map[string]UsageCounts {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]UsageCounts, len(u.keys))
	for id, k := range u.keys {
		out[id] = k.Counts()
	}
	return out
}

// Flush adds every key's increments since the last flush to the bucket.
func (u *Usage) Flush(ctx context.Context) error {
	u.mu.Lock()
	keys := make(map[string]*KeyUsage, len(u.keys))
	for id, k := range u.keys {
		keys[id] = k
	}
	u.mu.Unlock()
	u.flushMu.Lock()
	defer u.flushMu.Unlock()
	var errs []error
	for id, k := range keys {
		if err := u.flushKey(ctx, id, k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// flushKey adds k's increments to the bucket entry of id. flushMu is held.
func (u *Usage) flushKey(ctx context.Context, id string, k *KeyUsage) error {
	now := k.Counts()
	delta := now.sub(k.flushed)
	if delta.zero() && !now.LastUsed.After(k.flushed.LastUsed) {
		return nil
	}
	for range casAttempts {
		var total UsageCounts
		var rev uint64
		e, err := u.kv.Get(ctx, usagePrefix+id)
		switch {
		case err == nil:
			if err := json.Unmarshal(e.Value(), &total); err != nil {
				total = UsageCounts{} // a damaged entry restarts from this hub's increments
			}
			rev = e.Revision()
		case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		default:
			return fmt.Errorf("auth: usage of %s: %w", id, err)
		}
		total.Add(delta)
		data, _ := json.Marshal(total) // plain struct: cannot fail
		if rev == 0 {
			_, err = u.kv.Create(ctx, usagePrefix+id, data)
		} else {
			_, err = u.kv.Update(ctx, usagePrefix+id, data, rev)
		}
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue // another hub flushed in between: read its total and add again
		}
		if err != nil {
			return fmt.Errorf("auth: usage of %s: %w", id, err)
		}
		k.flushed = now
		return nil
	}
	return fmt.Errorf("auth: usage of %s: too many concurrent flushes", id)
}

// Close flushes what is left (bounded by ctx) and stops the flusher.
// Idempotent.
func (u *Usage) Close(ctx context.Context) {
	u.once.Do(func() { close(u.stop) })
	<-u.done
	if err := u.Flush(ctx); err != nil {
		u.log.Warn("auth: final usage flush", "error", err)
	}
}

func (u *Usage) run() {
	defer close(u.done)
	t := time.NewTicker(u.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-t.C:
			// Bounded, but not by a short interval: a slow KV round trip
			// must not fail every flush (the next tick waits for this one).
			ctx, cancel := context.WithTimeout(context.Background(), max(u.cfg.FlushInterval, flushTimeout))
			if err := u.Flush(ctx); err != nil {
				u.log.Warn("auth: usage flush", "error", err)
			}
			cancel()
		}
	}
}

// ReadUsage returns key id's totals over every hub, as last flushed, from
// the bucket (zero counts when nothing was flushed yet).
func ReadUsage(ctx context.Context, js jetstream.JetStream, bucket, id string) (UsageCounts, error) {
	if bucket == "" {
		bucket = DefaultUsageBucket
	}
	if !isBase62(id) || len(id) != idLen {
		return UsageCounts{}, fmt.Errorf("%w: not a key id", ErrInvalidRequest)
	}
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return UsageCounts{}, nil
	}
	if err != nil {
		return UsageCounts{}, fmt.Errorf("auth: usage bucket %s: %w", bucket, err)
	}
	e, err := kv.Get(ctx, usagePrefix+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return UsageCounts{}, nil
	}
	if err != nil {
		return UsageCounts{}, fmt.Errorf("auth: usage of %s: %w", id, err)
	}
	var c UsageCounts
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return UsageCounts{}, fmt.Errorf("auth: usage of %s: %w", id, err)
	}
	return c, nil
}

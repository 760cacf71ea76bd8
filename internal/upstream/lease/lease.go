// Package lease elects one leader among processes that would do the same
// work, on a JetStream key-value lease: whoever creates the key holds it,
// renews it every TTL/3, and lets go by deleting it. The bucket's TTL
// (max age) removes the key of a holder that died, so another process takes
// over within about TTL + TTL/4.
//
// Safety: a holder that could not renew for 2/3 of the TTL steps down (its
// work's context is cancelled) before the key can expire on the server, so
// two holders do not work at the same time as long as the clocks' rates
// agree within that margin. Renewals are compare-and-set on the key's
// revision: a holder whose key was taken over learns so at its next
// renewal and steps down at once.
//
// Used by `hub ingest` so that two ingestors of one feed never both
// publish; any other ingestor can use it the same way.
package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Defaults of Config's zero values.
const (
	DefaultBucket = "streamhub_leases"
	DefaultTTL    = 3 * time.Second
	// MinTTL bounds TTL from below: nats-server expires keys with a
	// granularity of about a second.
	MinTTL = time.Second
)

// releaseTimeout bounds the delete that gives up a lease.
const releaseTimeout = 2 * time.Second

// Config configures a Lease. Every zero value means the documented default.
type Config struct {
	// Key names the work, one lease per key, e.g. "ingest.coinbase".
	// Required; a valid KV key (letters, digits, "-", "_", "=", ".").
	Key string
	// Bucket is the KV bucket of the leases. Default "streamhub_leases".
	Bucket string
	// TTL is the lease's lifetime without renewal. Default 3s, at least 1s.
	// It is the bucket's max age: the first process creates the bucket with
	// its TTL, and later ones use the bucket's TTL whatever they configured.
	TTL time.Duration
	// Holder names this process in the lease's value. Default
	// host-pid-random.
	Holder string
	// Logger receives leadership changes. Default: discard.
	Logger *slog.Logger
}

// Lease is one process's candidacy for one key.
//
// Run may be called once at a time; Held, Holder and TTL may be called
// at any time.
type Lease struct {
	kv      jetstream.KeyValue
	cfg     Config
	held    atomic.Bool
	running atomic.Bool
}

// New returns a Lease on cfg.Key, creating the bucket if it does not exist.
func New(ctx context.Context, js jetstream.JetStream, cfg Config) (*Lease, error) {
	if cfg.Key == "" {
		return nil, errors.New("lease: no key")
	}
	if cfg.Bucket == "" {
		cfg.Bucket = DefaultBucket
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < MinTTL {
		return nil, fmt.Errorf("lease: TTL %v below %v", cfg.TTL, MinTTL)
	}
	if cfg.Holder == "" {
		host, _ := os.Hostname()
		cfg.Holder = host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(rand.Uint64()%1e6, 10)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: cfg.Bucket, Description: "StreamHub leader leases", History: 1,
		TTL: cfg.TTL, Storage: jetstream.MemoryStorage,
	})
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = js.KeyValue(ctx, cfg.Bucket)
		if err == nil {
			var st jetstream.KeyValueStatus
			if st, err = kv.Status(ctx); err == nil && st.TTL() >= MinTTL {
				cfg.TTL = st.TTL()
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("lease: bucket %s: %w", cfg.Bucket, err)
	}
	return &Lease{kv: kv, cfg: cfg.withLogger()}, nil
}

func (c Config) withLogger() Config {
	c.Logger = c.Logger.With("lease", c.Key, "holder", c.Holder)
	return c
}

// Held reports whether this process holds the lease now.
func (l *Lease) Held() bool { return l.held.Load() }

// Holder returns this process's name in the lease.
func (l *Lease) Holder() string { return l.cfg.Holder }

// TTL returns the lease's lifetime in use (the bucket's).
func (l *Lease) TTL() time.Duration { return l.cfg.TTL }

// Run campaigns for the lease until ctx is done and runs work while it
// holds it, with a context that is cancelled when the lease is lost; after
// a loss it campaigns again. It returns nil when ctx is done (giving the
// lease up at once, so a standby takes over without waiting for the TTL),
// or work's error if work returns while the lease is held.
func (l *Lease) Run(ctx context.Context, work func(context.Context) error) error {
	if !l.running.CompareAndSwap(false, true) {
		return errors.New("lease: already running")
	}
	defer l.running.Store(false)
	log := l.cfg.Logger
	for {
		rev, err := l.acquire(ctx)
		if err != nil {
			return nil // ctx is done
		}
		l.held.Store(true)
		log.Info("lease: acquired, this process is the leader")
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- work(wctx) }()
		rev, workErr, finished, reason := l.keep(wctx, rev, done)
		cancel()
		if !finished {
			workErr = <-done
		}
		l.held.Store(false)
		if reason != nil && ctx.Err() == nil {
			log.Warn("lease: lost, standing by", "reason", reason)
			continue
		}
		l.release(rev)
		if ctx.Err() != nil {
			log.Info("lease: released")
			return nil
		}
		return workErr
	}
}

// acquire creates the key, polling every TTL/4 while another process
// holds it. It returns the key's revision, or ctx's error.
func (l *Lease) acquire(ctx context.Context) (uint64, error) {
	t := time.NewTicker(l.cfg.TTL / 4)
	defer t.Stop()
	logged := false
	for {
		rev, err := l.kv.Create(ctx, l.cfg.Key, []byte(l.cfg.Holder))
		if err == nil {
			return rev, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		if !logged {
			if errors.Is(err, jetstream.ErrKeyExists) {
				l.cfg.Logger.Info("lease: held by another process, standing by")
			} else {
				l.cfg.Logger.Warn("lease: cannot campaign", "err", err)
			}
			logged = true
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// keep renews the lease every TTL/3 until work returns (finished), ctx is
// done, or the lease is lost (reason). It returns the last revision.
func (l *Lease) keep(ctx context.Context, rev uint64, done <-chan error) (last uint64, workErr error, finished bool, reason error) {
	t := time.NewTicker(l.cfg.TTL / 3)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case err := <-done:
			return rev, err, true, nil
		case <-ctx.Done():
			return rev, nil, false, nil
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, l.cfg.TTL/3)
		next, err := l.kv.Update(rctx, l.cfg.Key, []byte(l.cfg.Holder), rev)
		cancel()
		switch {
		case err == nil:
			rev, lastOK = next, time.Now()
		case ctx.Err() != nil:
			return rev, nil, false, nil
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyNotFound):
			return rev, nil, false, fmt.Errorf("taken over: %w", err)
		case time.Since(lastOK) >= 2*l.cfg.TTL/3:
			return rev, nil, false, fmt.Errorf("not renewed for %v: %w", time.Since(lastOK).Round(time.Millisecond), err)
		}
	}
}

// release deletes the key if it is still ours, so a standby takes over at
// once. Failure is harmless: the key expires with its TTL.
func (l *Lease) release(rev uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := l.kv.Delete(ctx, l.cfg.Key, jetstream.LastRevision(rev)); err != nil {
		l.cfg.Logger.Debug("lease: release failed; it expires with its TTL", "err", err)
	}
}

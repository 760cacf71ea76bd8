package auth

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter enforces the per-key limits that span connections: concurrent
// connections and publishes per second. AcquireConn and the publish
// buckets are per hub instance; AcquireKeyConn adds the cluster-wide count
// of a [Leases] when the Limiter has one (NewClusterLimiter), so that N
// instances behind a load balancer still allow a key MaxConns connections,
// not N × MaxConns. Per-connection limits (commands, subscriptions) belong to the
// connection; see NewCommandLimiter and Limits.MaxSubsPerConn.
//
// The zero Limiter is not usable; call NewLimiter. All methods are safe for
// concurrent use.
type Limiter struct {
	leases *Leases // nil: per-instance connection limits only

	mu    sync.Mutex
	conns map[string]int           // live connections per key id; guarded by mu
	pub   map[string]*rate.Limiter // publish bucket per key id; guarded by mu
}

// NewLimiter returns an empty Limiter.
func NewLimiter() *Limiter {
	return &Limiter{conns: make(map[string]int), pub: make(map[string]*rate.Limiter)}
}

// NewClusterLimiter returns an empty Limiter whose AcquireKeyConn also
// takes a lease of leases, shared by every hub on the cluster.
func NewClusterLimiter(leases *Leases) *Limiter {
	l := NewLimiter()
	l.leases = leases
	return l
}

// AcquireKeyConn takes one of API key id's connection slots: on this hub
// (AcquireConn) and, with leases, across the cluster. ok is false when
// either is full; cluster tells which (true: the hub had room, the cluster
// had not). release gives back both; it is idempotent, safe from any
// goroutine, and does not wait for NATS.
func (l *Limiter) AcquireKeyConn(ctx context.Context, id string, lim Limits) (release func(), ok, cluster bool) {
	local, ok := l.AcquireConn(id, lim)
	if !ok || l.leases == nil {
		return local, ok, false
	}
	if !l.leases.Acquire(ctx, id, lim.WithDefaults().MaxConns) {
		local()
		return func() {}, false, true
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			local()
			l.leases.Release(id)
		})
	}, true, false
}

// AcquireConn takes one of key id's connection slots (lim.MaxConns, default
// DefaultMaxConns). ok is false when none is free; otherwise release gives
// the slot back. release is idempotent and safe to call from any goroutine.
func (l *Limiter) AcquireConn(id string, lim Limits) (release func(), ok bool) {
	limit := lim.WithDefaults().MaxConns
	l.mu.Lock()
	if l.conns[id] >= limit {
		l.mu.Unlock()
		return func() {}, false
	}
	l.conns[id]++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			if l.conns[id]--; l.conns[id] <= 0 {
				delete(l.conns, id)
			}
			l.mu.Unlock()
		})
	}, true
}

// Conns returns the number of connection slots key id holds.
func (l *Limiter) Conns(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns[id]
}

// AllowPublish reports whether key id may publish n messages now (a batch
// counts as n), taking them from the key's token bucket (lim.PublishPerSec,
// burst lim.PublishBurst). A batch larger than the burst is never allowed.
// When the key's limits change, the bucket follows on the next call.
func (l *Limiter) AllowPublish(id string, lim Limits, n int) bool {
	ok, _ := l.TakePublish(id, lim, n)
	return ok
}

// TakePublish is AllowPublish that also returns the bucket's state after
// the request, for rate-limit headers.
func (l *Limiter) TakePublish(id string, lim Limits, n int) (bool, Quota) {
	lim = lim.WithDefaults()
	return l.Take(id, lim.PublishPerSec, lim.PublishBurst, n)
}

// Take takes n tokens from the bucket named bucket (perSec tokens a second,
// burst at most), creating it on first use and following perSec and burst
// when they change. It reports whether they were there, and the bucket's
// state after the request. Buckets share one namespace with the publish
// buckets of key ids; prefix other names ("admin <id>"). Forget drops one.
func (l *Limiter) Take(bucket string, perSec float64, burst, n int) (bool, Quota) {
	l.mu.Lock()
	b := l.pub[bucket]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(perSec), burst)
		l.pub[bucket] = b
	}
	l.mu.Unlock()
	if b.Limit() != rate.Limit(perSec) {
		b.SetLimit(rate.Limit(perSec))
	}
	if b.Burst() != burst {
		b.SetBurst(burst)
	}
	now := time.Now()
	ok := b.AllowN(now, n)
	return ok, QuotaOf(b, now, n)
}

// Quota is a token bucket's state after a request, as the RateLimit-*
// headers (IETF draft-ietf-httpapi-ratelimit-headers) announce it.
type Quota struct {
	// Limit is the bucket's size: the most requests (messages) that can
	// pass at once.
	Limit int
	// Remaining is how many could pass now.
	Remaining int
	// Reset is how long until the bucket is full again.
	Reset time.Duration
	// Window is how long the bucket takes to refill from empty.
	Window time.Duration
	// RetryAfter is how long until a request of the same size would pass
	// (0 when it just did); for a request larger than Limit, Window.
	RetryAfter time.Duration
}

// QuotaOf returns the state of bucket b at now, for a request of n tokens.
func QuotaOf(b *rate.Limiter, now time.Time, n int) Quota {
	perSec, burst := float64(b.Limit()), b.Burst()
	tokens := min(b.TokensAt(now), float64(burst))
	q := Quota{Limit: burst, Remaining: max(0, int(tokens))}
	if perSec <= 0 {
		return q
	}
	secs := func(tok float64) time.Duration { return time.Duration(max(0, tok) / perSec * float64(time.Second)) }
	q.Reset, q.Window = secs(float64(burst)-tokens), secs(float64(burst))
	switch {
	case n > burst:
		q.RetryAfter = q.Window
	case tokens < float64(n):
		q.RetryAfter = secs(float64(n) - tokens)
	}
	return q
}

// Forget drops key id's publish bucket (call it when a key is revoked or
// deleted, so the map does not keep dead keys).
func (l *Limiter) Forget(id string) {
	l.mu.Lock()
	delete(l.pub, id)
	l.mu.Unlock()
}

// NewCommandLimiter returns the token bucket for one connection's commands:
// lim.CommandsPerSec per second with a burst of lim.CommandsBurst (defaults
// 20/s, burst 40). The caller owns it; *rate.Limiter is safe for concurrent
// use.
func NewCommandLimiter(lim Limits) *rate.Limiter {
	lim = lim.WithDefaults()
	return rate.NewLimiter(rate.Limit(lim.CommandsPerSec), lim.CommandsBurst)
}

package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter enforces the per-key limits that span connections: concurrent
// connections and publishes per second. Limits are per hub instance: with N
// instances behind a load balancer a key may hold up to N × MaxConns
// connections. Per-connection limits (commands, subscriptions) belong to the
// connection; see NewCommandLimiter and Limits.MaxSubsPerConn.
//
// The zero Limiter is not usable; call NewLimiter. All methods are safe for
// concurrent use.
type Limiter struct {
	mu    sync.Mutex
	conns map[string]int           // live connections per key id; guarded by mu
	pub   map[string]*rate.Limiter // publish bucket per key id; guarded by mu
}

// NewLimiter returns an empty Limiter.
func NewLimiter() *Limiter {
	return &Limiter{conns: make(map[string]int), pub: make(map[string]*rate.Limiter)}
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
	lim = lim.WithDefaults()
	l.mu.Lock()
	b := l.pub[id]
	if b == nil {
		b = rate.NewLimiter(rate.Limit(lim.PublishPerSec), lim.PublishBurst)
		l.pub[id] = b
	}
	l.mu.Unlock()
	if b.Limit() != rate.Limit(lim.PublishPerSec) {
		b.SetLimit(rate.Limit(lim.PublishPerSec))
	}
	if b.Burst() != lim.PublishBurst {
		b.SetBurst(lim.PublishBurst)
	}
	return b.AllowN(time.Now(), n)
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

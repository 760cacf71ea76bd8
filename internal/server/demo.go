package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/gateway"
)

// maxDemoSources bounds the sources demoSources remembers; past it the one
// idle longest is forgotten (its bucket starts full again).
const maxDemoSources = 10_000

// demoSourceKey is the source a demo request is accounted to: its IPv4
// address, or the /64 of an IPv6 address (one host usually holds a whole
// /64, so a single address would be a free new bucket per request).
func demoSourceKey(ip netip.Addr) netip.Prefix {
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return netip.Prefix{} // an unparseable peer: one shared source
	}
	return p
}

// demoSources rate-limits POST /v1/demo/token per source and counts, per
// source, the tokens issued and the requests refused since the last audit
// line, so that a flood writes one line per source per interval instead of
// one per request. Its memory is bounded by max sources. Safe for
// concurrent use.
type demoSources struct {
	rate  rate.Limit
	burst int
	max   int

	mu sync.Mutex
	m  map[netip.Prefix]*demoSource // guarded by mu
}

type demoSource struct {
	lim             *rate.Limiter
	last            time.Time // the latest request
	issued, refused uint64    // since the last flush
}

func newDemoSources(perSec float64, burst, max int) *demoSources {
	return &demoSources{rate: rate.Limit(perSec), burst: burst, max: max, m: make(map[netip.Prefix]*demoSource)}
}

// allow takes one token of src's bucket at now. When the bucket is empty it
// reports false and how long until it holds one again.
func (d *demoSources) allow(src netip.Prefix, now time.Time) (bool, auth.Quota) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.m[src]
	if e == nil {
		if len(d.m) >= d.max {
			d.evictLocked()
		}
		e = &demoSource{lim: rate.NewLimiter(d.rate, d.burst)}
		d.m[src] = e
	}
	e.last = now
	ok := e.lim.AllowN(now, 1)
	if ok {
		e.issued++
	} else {
		e.refused++
	}
	return ok, auth.QuotaOf(e.lim, now, 1)
}

// evictLocked forgets the source idle longest.
func (d *demoSources) evictLocked() {
	var oldest netip.Prefix
	var at time.Time
	for k, e := range d.m {
		if at.IsZero() || e.last.Before(at) {
			oldest, at = k, e.last
		}
	}
	delete(d.m, oldest)
}

// demoCount is what one source did in one audit interval.
type demoCount struct {
	src             netip.Prefix
	issued, refused uint64
}

// flush returns the counts of every source that made requests since the
// previous flush and resets them; sources idle long enough for a full
// bucket are forgotten, as they carry no state.
func (d *demoSources) flush(now time.Time) []demoCount {
	d.mu.Lock()
	defer d.mu.Unlock()
	refill := time.Duration(float64(d.burst) / float64(d.rate) * float64(time.Second))
	var out []demoCount
	for k, e := range d.m {
		if e.issued > 0 || e.refused > 0 {
			out = append(out, demoCount{k, e.issued, e.refused})
			e.issued, e.refused = 0, 0
		} else if now.Sub(e.last) > refill {
			delete(d.m, k)
		}
	}
	return out
}

// demoGuard is the demo mode's protection of its open door: the token
// rate per source, the connection cap per source and the aggregated audit.
type demoGuard struct {
	sources  *demoSources
	keyID    string // the demo key
	maxConns int    // demo connections per source
	interval time.Duration
	log      *slog.Logger
}

// startDemoAudit runs the demo guard's audit lines until ctx ends (with
// the demo feeds); the server's background group waits for it.
func (s *Server) startDemoAudit(ctx context.Context) {
	if s.auth == nil || s.auth.demo == nil {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		s.auth.demo.runAudit(ctx)
	}()
}

// runAudit logs the counts every interval until ctx ends, then once more.
func (g *demoGuard) runAudit(ctx context.Context) {
	t := time.NewTicker(g.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			g.audit(time.Now())
			return
		case now := <-t.C:
			g.audit(now)
		}
	}
}

func (g *demoGuard) audit(now time.Time) {
	for _, c := range g.sources.flush(now) {
		g.log.LogAttrs(context.Background(), slog.LevelInfo, auth.AuditMessage,
			slog.String(auth.AttrEvent, auth.EventDemoTokensIssued), slog.String(auth.AttrKeyID, g.keyID),
			slog.String(auth.AttrRemoteIP, c.src.String()), slog.Uint64(auth.AttrCount, c.issued),
			slog.Uint64(auth.AttrRefused, c.refused), slog.Duration(auth.AttrInterval, g.interval))
	}
}

// admitToken reports whether the request may have a demo token; if not it
// has answered 429 with Retry-After.
func (g *demoGuard) admitToken(w http.ResponseWriter, src netip.Addr) bool {
	ok, q := g.sources.allow(demoSourceKey(src), time.Now())
	setRateLimitHeaders(w.Header(), q, !ok)
	if ok {
		return true
	}
	writeAPIError(w, gateway.NewAuthError(http.StatusTooManyRequests, fanout.ReasonLimitExceeded,
		"too many demo tokens for your address; retry later"))
	return false
}

// acquireConn takes one of src's demo connection slots for id, a demo
// identity, adding its release to id's.
func (g *demoGuard) acquireConn(l *auth.Limiter, id *gateway.Identity, src netip.Addr) error {
	release, ok := l.AcquireConn("demo source "+demoSourceKey(src).String(), auth.Limits{MaxConns: g.maxConns})
	if !ok {
		return gateway.NewAuthError(http.StatusTooManyRequests, fanout.ReasonLimitExceeded,
			"your address already has its maximum of %d demo connections", g.maxConns)
	}
	keyRelease := id.Release
	id.Release = func() {
		release()
		if keyRelease != nil {
			keyRelease()
		}
	}
	return nil
}

// loopbackListen reports whether the listen address binds loopback only.
func loopbackListen(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

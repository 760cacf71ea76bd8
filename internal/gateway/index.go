package gateway

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhub/streamhub/internal/fanout"
)

// sessionIndex tracks live sessions, by API key too, so that a revocation
// or a shutdown reaches every connection.
type sessionIndex struct {
	mu    sync.Mutex
	all   map[*session]struct{}
	byKey map[string]map[*session]struct{}
	// revoked remembers every key closeKey was called for, so that a
	// session authenticated just before a revocation but indexed just
	// after it is refused instead of outliving it. Revocation and expiry
	// are final, so entries are never removed.
	revoked map[string]fanout.CloseReason
	closed  bool
}

// add registers s. It returns 0, or the reason to close s with: shutdown
// after closeAll, or the reason its key was closed for.
func (x *sessionIndex) add(s *session) fanout.CloseReason {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return fanout.ReasonShutdown
	}
	if x.all == nil {
		x.all = make(map[*session]struct{})
		x.byKey = make(map[string]map[*session]struct{})
	}
	if s.id != nil && s.id.KeyID != "" {
		if r, ok := x.revoked[s.id.KeyID]; ok {
			return r
		}
		x.indexKey(s, s.id.KeyID)
	}
	x.all[s] = struct{}{}
	return 0
}

func (x *sessionIndex) indexKey(s *session, key string) {
	m := x.byKey[key]
	if m == nil {
		m = make(map[*session]struct{})
		x.byKey[key] = m
	}
	m[s] = struct{}{}
}

// setKey indexes s under key after in-band authentication. Like add, it
// returns 0 or the reason to close s with.
func (x *sessionIndex) setKey(s *session, key string) fanout.CloseReason {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return fanout.ReasonShutdown
	}
	if key != "" {
		if r, ok := x.revoked[key]; ok {
			return r
		}
		x.indexKey(s, key)
	}
	return 0
}

// attach records the session's fanout client; it fails after closeAll.
func (x *sessionIndex) attach(s *session, c *fanout.Client) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	s.client = c
	return !x.closed
}

func (x *sessionIndex) remove(s *session) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.all, s)
	if s.id != nil {
		if m := x.byKey[s.id.KeyID]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(x.byKey, s.id.KeyID)
			}
		}
	}
}

// closeKey closes every session authenticated by key, and returns how many.
func (x *sessionIndex) closeKey(key string, reason fanout.CloseReason) int {
	x.mu.Lock()
	if x.revoked == nil {
		x.revoked = make(map[string]fanout.CloseReason)
	}
	if _, ok := x.revoked[key]; !ok {
		x.revoked[key] = reason
	}
	sessions := make([]*session, 0, len(x.byKey[key]))
	for s := range x.byKey[key] {
		sessions = append(sessions, s)
	}
	x.mu.Unlock()
	for _, s := range sessions {
		s.close(reason)
	}
	return len(sessions)
}

// closeAll closes every session and refuses new ones.
func (x *sessionIndex) closeAll(reason fanout.CloseReason) {
	x.mu.Lock()
	x.closed = true
	sessions := make([]*session, 0, len(x.all))
	for s := range x.all {
		sessions = append(sessions, s)
	}
	x.mu.Unlock()
	for _, s := range sessions {
		s.close(reason)
	}
}

// closeNow drops every connection without a close handshake.
func (x *sessionIndex) closeNow() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for s := range x.all {
		s.tr.closeNow()
	}
}

// close closes the session through its fanout client when it has one, or
// its bare connection otherwise.
func (s *session) close(reason fanout.CloseReason) {
	s.g.sessions.mu.Lock()
	c := s.client
	s.g.sessions.mu.Unlock()
	if c != nil {
		c.Close(reason)
		return
	}
	s.closeConn(reason)
}

// CloseKey closes every connection authenticated by the API key id with
// reason (key_revoked or key_expired) and returns how many it closed.
func (g *Gateway) CloseKey(keyID string, reason fanout.CloseReason) int {
	return g.sessions.closeKey(keyID, reason)
}

// atomicTime is a time.Time readable and writable from any goroutine.
type atomicTime struct{ ns atomic.Int64 }

func (t *atomicTime) Store(v time.Time) { t.ns.Store(v.UnixNano()) }
func (t *atomicTime) Load() time.Time   { return time.Unix(0, t.ns.Load()) }

// subscribed returns the sessions whose client has a subscription.
func (x *sessionIndex) subscribed() []*session {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]*session, 0, len(x.all))
	for s := range x.all {
		if s.client != nil && s.client.Subscriptions() > 0 {
			out = append(out, s)
		}
	}
	return out
}

package bus

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/streamhub/streamhub/internal/subject"
)

// The Router's core subscriptions: making one, handing on what it
// receives (only the copies its subject's owner should), and retiring it
// with a drain when another subscription takes its subjects over.

// subscribe makes pattern's core subscription and waits until the server
// has it, so that whoever waits in Ready misses nothing published from
// then on. While disconnected, nats.go resends it on reconnect; it does
// not wait for that.
func (r *Router) subscribe(pattern string) (*route, error) {
	r.nextSeq++
	rt := &route{pattern: pattern, seq: r.nextSeq}
	sub, err := r.conn.nc.Subscribe(pattern, func(m *nats.Msg) { r.deliver(rt, m) })
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(r.pendingMsgs, r.pendingBytes); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("set pending limits: %w", err)
	}
	rt.sub = sub
	r.conn.track(sub)
	if r.conn.nc.IsConnected() {
		if err := r.conn.nc.FlushTimeout(flushTimeout); err != nil {
			r.log.Warn("bus: subscription not confirmed", "pattern", pattern, "err", err)
		}
	}
	return rt, nil
}

// deliver hands m, received by rt, to the handler if rt owns its subject or
// is draining (see Copy). It runs on rt's nats.go goroutine.
func (r *Router) deliver(rt *route, m *nats.Msg) {
	if rt.off.Load() {
		return
	}
	if _, stored := StoredStream(m.Subject); stored && r.storedOn() {
		return // delivered by the stream's consumer, with its position
	}
	info := rt.info.Load()
	if info == nil {
		return // not in service yet: nobody has been told it is ready
	}
	var c Copy
	switch {
	case info.draining:
	case len(info.older) == 0 || rt.owns(info, m.Subject):
		c.Primary = true
	default:
		return // an older subscription delivers it
	}
	for _, o := range info.wait {
		if subject.Match(o.pattern, m.Subject) {
			<-o.drained // bounded by DrainTimeout
		}
	}
	r.h(m, c)
}

// isClosed reports whether ch is closed.
func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// owns reports whether no older route of info matches subj. Only rt's
// delivery goroutine calls it.
func (rt *route) owns(info *routeInfo, subj string) bool {
	if rt.cacheFor != info || len(rt.cache) >= ownerCacheMax {
		rt.cacheFor, rt.cache = info, make(map[string]bool)
	}
	own, ok := rt.cache[subj]
	if !ok {
		own = !slices.ContainsFunc(info.older, func(o *route) bool { return subject.Match(o.pattern, subj) })
		rt.cache[subj] = own
	}
	return own
}

// retire drains rt, already marked as draining: the server stops sending
// to it, and what nats.go had already received is handed on as
// non-primary copies, within DrainTimeout. Then rt.drained is closed.
func (r *Router) retire(rt *route) {
	r.conn.untrack(rt.sub)
	closed := rt.sub.StatusChanged(nats.SubscriptionClosed)
	err := rt.sub.Drain()
	r.drains.Add(1)
	go func() {
		defer r.drains.Done()
		if err == nil {
			t := time.NewTimer(r.cfg.DrainTimeout)
			select {
			case <-closed:
			case <-t.C:
			case <-r.stop:
			}
			t.Stop()
		}
		rt.off.Store(true)
		_ = rt.sub.Unsubscribe() // already gone after a completed drain
		r.draining.Add(-1)
		close(rt.drained)
		select {
		case r.drainDone <- struct{}{}:
		default:
		}
	}()
}

// unsubscribe removes rt's core subscription at once, taking its drop
// count first. On a closed connection the server dropped it already.
func (r *Router) unsubscribe(rt *route) {
	rt.off.Store(true)
	r.conn.untrack(rt.sub)
	if err := rt.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
		r.log.Warn("bus: unsubscribe failed", "pattern", rt.pattern, "err", err)
	}
}

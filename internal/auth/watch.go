package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// run is the store's goroutine: it applies the bucket's watch to the
// in-memory map, announces changes, and runs the expiry timer. It closes
// ready after the initial load (the watch's nil marker) and s.done when it
// returns.
//
// Expiry uses one timer armed for the earliest future Expires among active
// keys. The timer is re-armed only when it fires or when an update touches
// an expiry or revocation, so a LastUsed write does not rescan the keys.
func (s *Store) run(ctx context.Context, w jetstream.KeyWatcher, ready chan struct{}) {
	defer close(s.done)
	defer func() {
		s.mu.Lock()
		s.broken = true
		s.mu.Unlock()
	}()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()

	loading := true
	updates := w.Updates()
	for {
		rescan := false
		select {
		case <-ctx.Done():
			_ = w.Stop()
			drainWatch(updates)
			return
		case kve, ok := <-updates:
			if !ok {
				if ctx.Err() != nil {
					return // Close: the watcher, bound to ctx, closed its channel too
				}
				s.log.Error("auth: the key bucket watch ended; refusing to authenticate", "bucket", s.cfg.Bucket)
				return
			}
			if kve == nil {
				if loading {
					loading = false
					close(ready)
					rescan = true
				}
				continue
			}
			rescan = s.handle(kve, loading) && !loading
		case <-timer.C:
			rescan = true
		case <-s.rearm:
			rescan = !loading
		}
		if rescan {
			s.armExpiry(timer)
		}
	}
}

// drainWatch empties the watch channel after Stop so that the NATS
// subscription's delivery goroutine, which may be blocked sending to it, can
// exit and close it. Bounded by drainTimeout.
func drainWatch(updates <-chan jetstream.KeyValueEntry) {
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	for {
		select {
		case _, ok := <-updates:
			if !ok {
				return
			}
		case <-t.C:
			return
		}
	}
}

// handle applies one watch entry and announces it (outside the initial
// load). It reports whether the entry may have changed the expiry schedule.
func (s *Store) handle(kve jetstream.KeyValueEntry, loading bool) bool {
	key := kve.Key()
	if key == signingKey {
		if kve.Operation() == jetstream.KeyValuePut && len(kve.Value()) == signingSecretLen {
			s.mu.Lock()
			s.signing = append([]byte(nil), kve.Value()...)
			s.mu.Unlock()
		}
		return false
	}
	id, ok := strings.CutPrefix(key, recordPrefix)
	if !ok {
		return false
	}
	rev := kve.Revision()
	var rec KeyRecord
	var err error
	if kve.Operation() == jetstream.KeyValuePut {
		rec, err = decodeRecord(id, kve.Value())
		if err != nil {
			s.log.Warn("auth: undecodable key record treated as deleted", AttrKeyID, id, "error", err)
		}
	}
	if kve.Operation() != jetstream.KeyValuePut || err != nil {
		s.mu.Lock()
		_, existed := s.recs[id]
		delete(s.recs, id)
		s.mu.Unlock()
		if existed && !loading {
			s.notify(Change{Kind: ChangeDeleted, Record: KeyRecord{ID: id}})
		}
		return existed
	}

	s.mu.Lock()
	e, expiryChanged := s.applyLocked(id, rec, rev, loading)
	announce := !loading && rev > e.emitted
	isNew := e.emitted == 0
	if loading || announce {
		e.emitted = max(e.emitted, rev)
	}
	pub := e.rec.public()
	s.mu.Unlock()
	if !announce {
		return expiryChanged
	}
	kind := ChangeUpdated
	switch {
	case pub.Revoked:
		kind = ChangeRevoked
	case isNew:
		kind = ChangeCreated
	}
	s.notify(Change{Kind: kind, Record: pub})
	return expiryChanged
}

// applyLocked installs rec at revision rev unless the store already has a
// newer revision. s.mu must be held. It returns the entry and whether the
// key's expiry or revocation changed.
func (s *Store) applyLocked(id string, rec KeyRecord, rev uint64, loading bool) (*entry, bool) {
	e := s.recs[id]
	if e == nil {
		e = &entry{}
		s.recs[id] = e
	} else if rev <= e.rev {
		return e, false
	}
	changed := e.rev == 0 || !e.rec.Expires.Equal(rec.Expires) || e.rec.Revoked != rec.Revoked
	if !loading && e.rev != 0 && !e.rec.Revoked && rec.Revoked {
		// Counted here, where each store sees a key become revoked once,
		// so that a hub counts the revocations it acts on, not only those
		// made through its own Revoke.
		s.audit.c.KeysRevoked.Add(1)
	}
	if changed {
		// During the initial load, a key that expired while no hub was
		// watching is not announced (no connection can use it yet).
		e.expiredSent = loading && rec.ExpiredAt(time.Now())
	}
	e.rec, e.rev = rec, rev
	e.prefixes, e.netOK = parseCIDRs(rec.CIDRs)
	return e, changed
}

// applyLocal installs a record this store has just written, so that the
// writer reads its own write before the watch delivers it (the watch then
// announces it).
func (s *Store) applyLocal(rec KeyRecord, rev uint64) {
	s.mu.Lock()
	_, changed := s.applyLocked(rec.ID, rec, rev, false)
	s.mu.Unlock()
	if changed {
		select {
		case s.rearm <- struct{}{}:
		default:
		}
	}
}

// armExpiry announces every active key whose expiry has passed and arms the
// timer for the earliest expiry still ahead.
func (s *Store) armExpiry(timer *time.Timer) {
	now := time.Now()
	var due []KeyRecord
	var next time.Time
	s.mu.Lock()
	for _, e := range s.recs {
		r := &e.rec
		if e.expiredSent || r.Revoked || r.Expires.IsZero() {
			continue
		}
		if r.ExpiredAt(now) {
			e.expiredSent = true
			due = append(due, r.public())
			continue
		}
		if next.IsZero() || r.Expires.Before(next) {
			next = r.Expires
		}
	}
	s.mu.Unlock()
	for i := range due {
		s.audit.expired(&due[i])
		s.notify(Change{Kind: ChangeExpired, Record: due[i]})
	}
	if next.IsZero() {
		timer.Stop()
		return
	}
	timer.Reset(next.Sub(now))
}

func decodeRecord(id string, data []byte) (KeyRecord, error) {
	var rec KeyRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return KeyRecord{}, fmt.Errorf("auth: decode record: %w", err)
	}
	if rec.ID != id || !validEnv(rec.Env) || len(rec.Hash) != 32 {
		return KeyRecord{}, fmt.Errorf("auth: record %s is inconsistent", id)
	}
	return rec, nil
}

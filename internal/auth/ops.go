package auth

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Create makes a new key, stores its record (hash and metadata only) and
// returns the key, whose secret is shown this once (Key.Reveal), and its
// record. The new key authenticates on this store as soon as Create returns,
// and on every other store on the bucket once their watch delivers it.
func (s *Store) Create(ctx context.Context, req CreateRequest) (Key, KeyRecord, error) {
	env, cidrs, err := req.validate()
	if err != nil {
		return Key{}, KeyRecord{}, err
	}
	now := time.Now().UTC()
	rec := KeyRecord{
		Name:      req.Name,
		Env:       env,
		Subscribe: slices.Clone(req.Subscribe),
		Publish:   slices.Clone(req.Publish),
		Created:   now,
		CIDRs:     cidrs,
		Limits:    req.Limits,
		SignedPublish: req.SignedPublish,
		Admin:     req.Admin,
		Metered:   req.Metered,
	}
	if req.TTL > 0 {
		rec.Expires = now.Add(req.TTL)
	}
	key, err := s.insert(ctx, &rec)
	if err != nil {
		return Key{}, KeyRecord{}, err
	}
	s.audit.created(ctx, &rec, "")
	return key, rec.public(), nil
}

// insert gives rec a fresh key and writes it with Create semantics (an id
// collision, one in 62^12, draws again).
func (s *Store) insert(ctx context.Context, rec *KeyRecord) (Key, error) {
	if err := s.usable(); err != nil {
		return Key{}, err
	}
	for range 3 {
		key, err := newKey(rec.Env)
		if err != nil {
			return Key{}, err
		}
		rec.ID, rec.Hash = key.ID(), key.hash()
		data, err := json.Marshal(rec)
		if err != nil {
			return Key{}, fmt.Errorf("auth: encode record: %w", err)
		}
		rev, err := s.kv.Create(ctx, recordPrefix+rec.ID, data)
		if errors.Is(err, jetstream.ErrKeyExists) {
			continue
		}
		if err != nil {
			return Key{}, fmt.Errorf("auth: store key %s: %w", rec.ID, err)
		}
		s.applyLocal(*rec, rev)
		return key, nil
	}
	return Key{}, errors.New("auth: could not draw an unused key id")
}

// Get returns the record of key id, without its hash, from memory.
func (s *Store) Get(id string) (KeyRecord, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.recs[id]
	if e == nil {
		return KeyRecord{}, false
	}
	return e.rec.public(), true
}

// List returns every record, without hashes, oldest first.
func (s *Store) List() []KeyRecord {
	s.mu.RLock()
	out := make([]KeyRecord, 0, len(s.recs))
	for _, e := range s.recs {
		out = append(out, e.rec.public())
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b KeyRecord) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// Revoke marks key id revoked. Every store on the bucket announces
// ChangeRevoked and refuses the key from then on. Revoking a revoked key
// changes nothing and is not an error.
func (s *Store) Revoke(ctx context.Context, id string) (KeyRecord, error) {
	rec, changed, err := s.update(ctx, id, func(r *KeyRecord) (bool, error) {
		if r.Revoked {
			return false, nil
		}
		r.Revoked, r.RevokedAt = true, time.Now().UTC()
		return true, nil
	})
	if err != nil {
		return KeyRecord{}, fmt.Errorf("auth: revoke %s: %w", id, err)
	}
	if changed {
		s.audit.revoked(ctx, &rec)
	}
	return rec.public(), nil
}

// Rotate replaces key id: it creates a new key with the same name,
// environment, scopes, networks and limits (and, if the old key expires, the
// same lifetime counted from now), and sets the old key to expire after
// overlap (never later than it already did), recording the new id in its
// RotatedTo. overlap 0 retires the old key at once. A revoked, expired or
// already rotated key cannot be rotated.
func (s *Store) Rotate(ctx context.Context, id string, overlap time.Duration) (Key, KeyRecord, error) {
	if overlap < 0 {
		return Key{}, KeyRecord{}, fmt.Errorf("auth: rotate %s: %w: negative overlap", id, ErrInvalidRequest)
	}
	rotatable := func(r *KeyRecord, now time.Time) error {
		switch {
		case r.Revoked:
			return ErrRevoked
		case r.ExpiredAt(now):
			return ErrExpired
		case r.RotatedTo != "":
			return fmt.Errorf("%w: already rotated to %s", ErrInvalidRequest, r.RotatedTo)
		}
		return nil
	}
	old, _, err := s.read(ctx, id)
	if err != nil {
		return Key{}, KeyRecord{}, fmt.Errorf("auth: rotate %s: %w", id, err)
	}
	now := time.Now().UTC()
	if err := rotatable(&old, now); err != nil {
		return Key{}, KeyRecord{}, fmt.Errorf("auth: rotate %s: %w", id, err)
	}
	nu := KeyRecord{
		Name: old.Name, Env: old.Env,
		Subscribe: old.Subscribe, Publish: old.Publish,
		Created: now, CIDRs: old.CIDRs, Limits: old.Limits,
		SignedPublish: old.SignedPublish,
		Admin: old.Admin, Metered: old.Metered,
	}
	if !old.Expires.IsZero() {
		nu.Expires = now.Add(old.Expires.Sub(old.Created))
	}
	key, err := s.insert(ctx, &nu)
	if err != nil {
		return Key{}, KeyRecord{}, fmt.Errorf("auth: rotate %s: %w", id, err)
	}
	oldRec, _, err := s.update(ctx, id, func(r *KeyRecord) (bool, error) {
		if err := rotatable(r, time.Now()); err != nil {
			return false, err
		}
		if end := now.Add(overlap); r.Expires.IsZero() || end.Before(r.Expires) {
			r.Expires = end
		}
		r.RotatedTo = nu.ID
		return true, nil
	})
	if err != nil {
		// The old key changed under us (revoked, rotated elsewhere): do not
		// leave a second live key behind.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, rerr := s.Revoke(cctx, nu.ID); rerr != nil {
			s.log.Error("auth: could not revoke the new key of a failed rotation", AttrKeyID, nu.ID, "error", rerr)
		}
		return Key{}, KeyRecord{}, fmt.Errorf("auth: rotate %s: %w", id, err)
	}
	s.audit.created(ctx, &nu, id)
	s.audit.rotated(ctx, &oldRec, &nu)
	return key, nu.public(), nil
}

// Touch records that key id was used now, writing LastUsed at most once per
// TouchInterval per key (checked against the in-memory record, which other
// hubs' writes also update). It returns at once when there is nothing to
// write and otherwise waits for one KV round trip; callers on a hot path may
// run it on a goroutine of their own. Unknown and revoked keys are ignored.
func (s *Store) Touch(ctx context.Context, id string) error {
	now := time.Now().UTC()
	s.mu.RLock()
	e := s.recs[id]
	fresh := e == nil || e.rec.Revoked || now.Sub(e.rec.LastUsed) < s.cfg.TouchInterval
	s.mu.RUnlock()
	if fresh {
		return nil
	}
	// Claim the write so concurrent connects of one key write once.
	s.touchMu.Lock()
	if now.Sub(s.touched[id]) < s.cfg.TouchInterval {
		s.touchMu.Unlock()
		return nil
	}
	s.touched[id] = now
	s.touchMu.Unlock()
	_, _, err := s.update(ctx, id, func(r *KeyRecord) (bool, error) {
		if r.Revoked || now.Sub(r.LastUsed) < s.cfg.TouchInterval {
			return false, nil
		}
		r.LastUsed = now
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("auth: touch %s: %w", id, err)
	}
	return nil
}

// read fetches the current record of id from the bucket (not from memory).
func (s *Store) read(ctx context.Context, id string) (KeyRecord, uint64, error) {
	if err := s.usable(); err != nil {
		return KeyRecord{}, 0, err
	}
	if !isBase62(id) || len(id) != idLen {
		return KeyRecord{}, 0, ErrUnknown
	}
	kve, err := s.kv.Get(ctx, recordPrefix+id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return KeyRecord{}, 0, ErrUnknown
	}
	if err != nil {
		return KeyRecord{}, 0, err
	}
	rec, err := decodeRecord(id, kve.Value())
	if err != nil {
		return KeyRecord{}, 0, err
	}
	return rec, kve.Revision(), nil
}

// update is a compare-and-set read-modify-write of record id: fn changes the
// record and reports whether it did; a revision conflict (another hub wrote
// in between) reads again, up to casAttempts times.
func (s *Store) update(ctx context.Context, id string, fn func(*KeyRecord) (bool, error)) (KeyRecord, bool, error) {
	for range casAttempts {
		rec, rev, err := s.read(ctx, id)
		if err != nil {
			return KeyRecord{}, false, err
		}
		changed, err := fn(&rec)
		if err != nil || !changed {
			return rec, false, err
		}
		data, err := json.Marshal(&rec)
		if err != nil {
			return KeyRecord{}, false, fmt.Errorf("auth: encode record: %w", err)
		}
		nrev, err := s.kv.Update(ctx, recordPrefix+id, data, rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return KeyRecord{}, false, err
		}
		s.applyLocal(rec, nrev)
		return rec, true, nil
	}
	return KeyRecord{}, false, errors.New("auth: too many concurrent updates")
}

// usable returns ErrClosed once the store is closed or its watch ended.
func (s *Store) usable() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.broken {
		return ErrClosed
	}
	return nil
}

func randomBytes(b []byte) { _, _ = rand.Read(b) } // crypto/rand.Read never fails

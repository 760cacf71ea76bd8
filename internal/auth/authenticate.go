package auth

import (
	"crypto/subtle"
	"net/netip"
	"time"
)

// dummyHash is compared against when the id is unknown, so that an unknown
// id and a wrong secret take the same path.
var dummyHash = make([]byte, 32)

// Authenticate checks a presented key (as sent in "Authorization: Bearer")
// for a client at remoteIP at time now, from memory only: form and checksum
// (ParseKey), id, secret (SHA-256 compared with subtle.ConstantTimeCompare),
// environment, then revocation, expiry and allowed networks, in that order,
// so that nothing about a key's state is revealed without its secret.
//
// It returns a copy of the record (without hash), or an error wrapping
// ErrMalformed, ErrUnknown (also for a wrong secret), ErrRevoked,
// ErrExpired, ErrNetwork or ErrClosed. Failures are counted and audited
// with the key id when it parsed, never with the presented string.
// Authenticate does not write LastUsed; call Touch for that.
func (s *Store) Authenticate(presented string, remoteIP netip.Addr, now time.Time) (*KeyRecord, error) {
	key, id, err := parseKey(presented)
	if err != nil {
		s.audit.failure(EventAuthFailed, failMalformed, id, remoteIP)
		return nil, err
	}
	id = key.ID()
	sum := key.hash()
	remoteIP = remoteIP.Unmap()

	s.mu.RLock()
	if s.broken {
		s.mu.RUnlock()
		s.audit.failure(EventAuthFailed, failClosed, id, remoteIP)
		return nil, ErrClosed
	}
	e := s.recs[id]
	want := dummyHash
	if e != nil {
		want = e.rec.Hash
	}
	match := subtle.ConstantTimeCompare(want, sum) == 1
	var rec KeyRecord
	var netOK, inNet bool
	if e != nil {
		rec = e.rec.public()
		netOK = e.netOK
		inNet = len(e.prefixes) == 0 && netOK
		for _, p := range e.prefixes {
			if remoteIP.IsValid() && p.Contains(remoteIP) {
				inNet = true
				break
			}
		}
	}
	s.mu.RUnlock()

	var reason failureReason
	switch {
	case e == nil:
		reason, err = failUnknown, ErrUnknown
	case !match || rec.Env != key.Env():
		reason, err = failSecretMismatch, ErrUnknown
	case rec.Revoked:
		reason, err = failRevoked, ErrRevoked
	case rec.ExpiredAt(now):
		reason, err = failExpired, ErrExpired
	case !netOK || !inNet:
		reason, err = failNetwork, ErrNetwork
	default:
		s.audit.c.AuthOK.Add(1)
		return &rec, nil
	}
	s.audit.failure(EventAuthFailed, reason, id, remoteIP)
	return nil, err
}

// lookup returns the in-memory record of id (without hash) for token
// verification, or ErrClosed.
func (s *Store) lookup(id string) (KeyRecord, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.broken {
		return KeyRecord{}, false, ErrClosed
	}
	e := s.recs[id]
	if e == nil {
		return KeyRecord{}, false, nil
	}
	return e.rec.public(), true, nil
}

// signingSecret returns the token signing secret (never nil after
// OpenStore). The caller must not modify it.
func (s *Store) signingSecret() []byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.signing
}

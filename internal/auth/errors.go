package auth

import (
	"errors"
)

// Errors returned by the package. They are sentinels, wrapped with %w and
// some context; match them with errors.Is. No error ever quotes a secret, a
// presented key or a token.
var (
	// ErrMalformed: the presented key is not of the key format (prefix,
	// environment, length, alphabet or checksum).
	ErrMalformed = errors.New("auth: malformed key")
	// ErrUnknown: no such key, or the secret does not match it.
	ErrUnknown = errors.New("auth: unknown key")
	// ErrRevoked: the key was revoked.
	ErrRevoked = errors.New("auth: key revoked")
	// ErrExpired: the key's expiry has passed.
	ErrExpired = errors.New("auth: key expired")
	// ErrNetwork: the client's address is outside the key's allowed networks.
	ErrNetwork = errors.New("auth: address not allowed for this key")
	// ErrTokenExpired: the browser token's expiry has passed; get a new one.
	ErrTokenExpired = errors.New("auth: token expired")
	// ErrTokenInvalid: the browser token is malformed, tampered with, signed
	// with another algorithm or secret, of another type, or names a key or
	// scopes that are no longer valid.
	ErrTokenInvalid = errors.New("auth: invalid token")
	// ErrScope: a requested scope is not within the key's scopes.
	ErrScope = errors.New("auth: scope not allowed")
	// ErrInvalidRequest: a create, rotate or token request is invalid.
	ErrInvalidRequest = errors.New("auth: invalid request")
	// ErrClosed: the store was closed or lost its watch; it refuses to
	// authenticate from data it can no longer keep current.
	ErrClosed = errors.New("auth: store closed")
)

// failureReason names an authentication failure for audit lines and
// counters. Secret mismatches are reported to the client as ErrUnknown but
// audited as "secret_mismatch", so an operator can tell a guessed secret for
// a real id from a stale key.
type failureReason uint8

const (
	failMalformed failureReason = iota
	failUnknown
	failSecretMismatch
	failRevoked
	failExpired
	failNetwork
	failTokenInvalid
	failTokenExpired
	failScope
	failClosed
	numFailures
)

var failureNames = [numFailures]string{
	failMalformed:      "malformed",
	failUnknown:        "unknown",
	failSecretMismatch: "secret_mismatch",
	failRevoked:        "revoked",
	failExpired:        "expired",
	failNetwork:        "network",
	failTokenInvalid:   "token_invalid",
	failTokenExpired:   "token_expired",
	failScope:          "scope",
	failClosed:         "store_closed",
}

func (r failureReason) String() string { return failureNames[r] }

// FailureReasons lists the stable names of authentication failure reasons,
// the label values of [Counters.Failures].
func FailureReasons() []string {
	out := make([]string, numFailures)
	copy(out, failureNames[:])
	return out
}

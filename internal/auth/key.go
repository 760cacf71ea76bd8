package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"log/slog"
)

// Key format:
//
//	sh_<env>_<id>_<secret><checksum>
//
//	env      "live" or "test"
//	id       12 base62 characters, public: stored, listed, logged
//	secret   32 base62 characters from crypto/rand (32·log2(62) ≈ 190.5 bits)
//	checksum 6 base62 characters: CRC32 (IEEE) of every byte before it,
//	         big-endian base62, left-padded with '0'
//
// A secret scanner can match it with
//
//	sh_(live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}
//
// CRC32 detects every error burst of up to 32 bits, so any single wrong,
// missing, extra or swapped-with-its-neighbour character fails [ParseKey]
// before the store is consulted.
const (
	keyPrefix      = "sh_"
	idLen          = 12
	secretLen      = 32
	checksumLen    = 6
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	redacted       = "[REDACTED]"
)

// Environments a key can belong to.
const (
	EnvLive = "live"
	EnvTest = "test"
)

func validEnv(env string) bool { return env == EnvLive || env == EnvTest }

// Key is an API key: its environment, its public id and its secret. The zero
// Key is not a key.
//
// Key never prints its secret: String, GoString, Format (every verb),
// LogValue and MarshalJSON show "sh_<env>_<id>_[REDACTED]". Reveal is the
// only way to read the full key, for the one time it is shown to its owner.
// The secret is held by a closure: fmt prints a func as an address on every
// path, so even a Key nested in an unexported field of a printed struct
// (where fmt cannot call Format) does not show the secret.
//
// A Key is an immutable value; it may be copied and used concurrently.
type Key struct {
	env, id string
	s       func() keySecret
}

type keySecret struct {
	full   string // the whole key as the client presents it
	secret string // the secret part, hashed for storage
}

// ParseKey checks the form of a presented key: prefix, environment, lengths,
// alphabet and checksum. It touches no store, so a mistyped key is refused
// here. Errors wrap ErrMalformed and never quote s.
func ParseKey(s string) (Key, error) {
	k, _, err := parseKey(s)
	return k, err
}

// parseKey is ParseKey that also returns the id when only the checksum (or
// the characters after the id) are wrong, so an audit line can name the key
// a typo was aimed at. The id is public; nothing else of s is returned.
func parseKey(s string) (Key, string, error) {
	const maxLen = len(keyPrefix) + 4 + 1 + idLen + 1 + secretLen + checksumLen
	if len(s) > maxLen || len(s) < len(keyPrefix) || s[:len(keyPrefix)] != keyPrefix {
		return Key{}, "", fmt.Errorf("%w: bad prefix or length", ErrMalformed)
	}
	rest := s[len(keyPrefix):]
	env := ""
	for i := 0; i < len(rest); i++ {
		if rest[i] == '_' {
			env, rest = rest[:i], rest[i+1:]
			break
		}
	}
	if !validEnv(env) {
		return Key{}, "", fmt.Errorf("%w: unknown environment", ErrMalformed)
	}
	if len(rest) != idLen+1+secretLen+checksumLen || rest[idLen] != '_' {
		return Key{}, "", fmt.Errorf("%w: bad length", ErrMalformed)
	}
	id, tail := rest[:idLen], rest[idLen+1:]
	if !isBase62(id) {
		return Key{}, "", fmt.Errorf("%w: bad character in id", ErrMalformed)
	}
	if !isBase62(tail) {
		return Key{}, id, fmt.Errorf("%w: bad character in secret", ErrMalformed)
	}
	body, sum := s[:len(s)-checksumLen], s[len(s)-checksumLen:]
	want, ok := decodeBase62(sum)
	if !ok || want != uint64(crc32.ChecksumIEEE([]byte(body))) {
		return Key{}, id, fmt.Errorf("%w: bad checksum", ErrMalformed)
	}
	return makeKey(env, id, s, tail[:secretLen]), id, nil
}

// newKey makes a key with a fresh id and secret from crypto/rand.
func newKey(env string) (Key, error) {
	if !validEnv(env) {
		return Key{}, fmt.Errorf("auth: unknown environment %q", env)
	}
	id, secret := randomBase62(idLen), randomBase62(secretLen)
	body := keyPrefix + env + "_" + id + "_" + secret
	full := body + encodeBase62(uint64(crc32.ChecksumIEEE([]byte(body))), checksumLen)
	return makeKey(env, id, full, secret), nil
}

func makeKey(env, id, full, secret string) Key {
	ks := keySecret{full: full, secret: secret}
	return Key{env: env, id: id, s: func() keySecret { return ks }}
}

// IsZero reports whether k is the zero Key.
func (k Key) IsZero() bool { return k.s == nil }

// ID returns the key's public id.
func (k Key) ID() string { return k.id }

// Env returns the key's environment, EnvLive or EnvTest.
func (k Key) Env() string { return k.env }

// Reveal returns the whole key, secret included. Call it only to show the
// key to its owner once, or to send it as a credential; never log it.
func (k Key) Reveal() string {
	if k.s == nil {
		return ""
	}
	return k.s().full
}

// hash returns the SHA-256 of the secret part. The secret is 190 bits from
// crypto/rand, so a fast hash is enough: there is nothing to brute-force that
// a slow KDF would protect (it protects low-entropy passwords).
func (k Key) hash() []byte {
	if k.s == nil {
		return nil
	}
	h := sha256.Sum256([]byte(k.s().secret))
	return h[:]
}

// String returns the key with its secret redacted.
func (k Key) String() string {
	if k.s == nil {
		return "auth.Key{}"
	}
	return keyPrefix + k.env + "_" + k.id + "_" + redacted
}

// GoString is String: %#v never shows the secret either.
func (k Key) GoString() string { return k.String() }

// Format implements fmt.Formatter so that every verb (%v, %+v, %s, %q, %x...)
// prints the redacted form.
func (k Key) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		fmt.Fprintf(f, "%q", k.String())
		return
	}
	_, _ = f.Write([]byte(k.String()))
}

// LogValue implements slog.LogValuer with the public parts only.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(slog.String("env", k.env), slog.String("key_id", k.id))
}

// MarshalJSON encodes the redacted form, never the secret.
func (k Key) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// randomBase62 returns n characters drawn uniformly from the base62 alphabet
// (rejection sampling: bytes ≥ 248 are discarded so that no character is more
// likely than another).
func randomBase62(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never returns an error
		for _, b := range buf {
			if b < 248 && len(out) < n {
				out = append(out, base62Alphabet[b%62])
			}
		}
	}
	return string(out)
}

// encodeBase62 writes v in base62, most significant digit first, padded with
// '0' to width characters.
func encodeBase62(v uint64, width int) string {
	out := make([]byte, width)
	for i := width - 1; i >= 0; i-- {
		out[i] = base62Alphabet[v%62]
		v /= 62
	}
	return string(out)
}

// decodeBase62 reverses encodeBase62 for values that fit a CRC32.
func decodeBase62(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d uint64
		switch {
		case '0' <= c && c <= '9':
			d = uint64(c - '0')
		case 'A' <= c && c <= 'Z':
			d = uint64(c-'A') + 10
		case 'a' <= c && c <= 'z':
			d = uint64(c-'a') + 36
		default:
			return 0, false
		}
		v = v*62 + d
	}
	return v, v <= 0xffffffff
}

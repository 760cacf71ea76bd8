package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Publish request signing: a publisher signs each HTTP publish with its
// key's publish signing secret, as payment and webhook APIs do, in the
// header
//
//	Streamhub-Signature: t=<Unix seconds>,v1=<hex HMAC-SHA256>
//
// over "<t>\n<METHOD>\n<path>\n<body>". The secret is derived from the
// bucket's signing secret and the key id, so it is specific to the key,
// the same on every hub, and never stored; `hub keys signing-secret ID`
// prints it.

// SignatureHeader is the header that carries a publish signature.
const SignatureHeader = "Streamhub-Signature"

// SignatureWindow is how far a signature's timestamp may be from the hub's
// clock, either way: a captured request can be replayed within it only
// (an Idempotency-Key makes even that store nothing twice).
const SignatureWindow = 5 * time.Minute

// Errors of VerifySignature.
var (
	ErrSignatureMalformed = errors.New("auth: malformed signature header")
	ErrSignatureMismatch  = errors.New("auth: signature does not match")
	ErrSignatureExpired   = errors.New("auth: signature timestamp outside the window")
)

// PublishSecret returns key id's publish signing secret, as the hex string
// a publisher configures. It is a secret: never log it.
func (s *Store) PublishSecret(id string) string {
	m := hmac.New(sha256.New, s.signingSecret())
	m.Write([]byte("streamhub publish signing v1\x00"))
	m.Write([]byte(id))
	return "shs_" + hex.EncodeToString(m.Sum(nil))
}

// SignRequest returns the Streamhub-Signature value of a request signed
// with secret at t.
func SignRequest(secret string, t time.Time, method, path string, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(signature(secret, ts, method, path, body))
}

func signature(secret, ts, method, path string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	for _, part := range []string{ts, "\n", method, "\n", path, "\n"} {
		m.Write([]byte(part))
	}
	m.Write(body)
	return m.Sum(nil)
}

// ParseSignature reads a Streamhub-Signature value: "t=<Unix seconds>"
// and one or more "v1=<64 hex digits>" (several while a secret changes),
// comma-separated, in any order. Unknown schemes are ignored.
func ParseSignature(h string) (ts int64, sigs [][]byte, err error) {
	if len(h) > 1024 {
		return 0, nil, ErrSignatureMalformed
	}
	haveTS := false
	for part := range strings.SplitSeq(h, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return 0, nil, ErrSignatureMalformed
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveTS || n <= 0 {
				return 0, nil, ErrSignatureMalformed
			}
			ts, haveTS = n, true
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return 0, nil, ErrSignatureMalformed
			}
			sigs = append(sigs, b)
		}
	}
	if !haveTS || len(sigs) == 0 {
		return 0, nil, ErrSignatureMalformed
	}
	return ts, sigs, nil
}

// VerifySignature checks header (a Streamhub-Signature value) against the
// request with secret at now: ErrSignatureMalformed, ErrSignatureExpired
// (outside SignatureWindow) or ErrSignatureMismatch, or nil. The
// comparison takes constant time.
func VerifySignature(secret, header string, now time.Time, method, path string, body []byte) error {
	ts, sigs, err := ParseSignature(header)
	if err != nil {
		return err
	}
	if d := now.Sub(time.Unix(ts, 0)); d > SignatureWindow || d < -SignatureWindow {
		return ErrSignatureExpired
	}
	want := signature(secret, strconv.FormatInt(ts, 10), method, path, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}

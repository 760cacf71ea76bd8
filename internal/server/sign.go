package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/gateway"
	"github.com/streamhub/streamhub/internal/protocol"
)

// verifySignature checks a publish request's Streamhub-Signature against
// its key's publish secret: required for keys with SignedPublish, checked
// whenever present. Refusals are 401 with signature_required,
// signature_invalid or signature_expired.
func (s *Server) verifySignature(r *http.Request, rec *auth.KeyRecord, body []byte, now time.Time) error {
	h := r.Header.Get(auth.SignatureHeader)
	if h == "" {
		if rec.SignedPublish {
			return signatureError(protocol.CodeSignatureRequired, "this key publishes only signed requests: send "+auth.SignatureHeader)
		}
		return nil
	}
	err := auth.VerifySignature(s.auth.store.PublishSecret(rec.ID), h, now, r.Method, r.URL.Path, body)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, auth.ErrSignatureExpired):
		return signatureError(protocol.CodeSignatureExpired, "the signature's timestamp is more than 5 minutes from the hub's clock")
	case errors.Is(err, auth.ErrSignatureMalformed):
		return signatureError(protocol.CodeSignatureInvalid, "malformed "+auth.SignatureHeader+": want t=<unix seconds>,v1=<hex HMAC-SHA256>")
	}
	return signatureError(protocol.CodeSignatureInvalid, "the signature does not match the request")
}

func signatureError(code protocol.ErrorCode, msg string) error {
	return codedError{code: code, err: gateway.NewAuthError(http.StatusUnauthorized, fanout.ReasonAuthFailed, "%s", msg)}
}

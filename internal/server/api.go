package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/gateway"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/subject"
)

// Limits of the HTTP API.
const (
	maxTokenRequestBytes = 4 << 10
	maxPublishBodyBytes  = 1 << 20
	// maxPublishBatch bounds the messages of a JSON publish body.
	maxPublishBatch = 100
	// maxPublishLines bounds the lines of an NDJSON publish body.
	maxPublishLines = 1000
)

// demoKeyName names the read-only key behind demo tokens.
const demoKeyName = "demo (read-only, issued by the hub in demo mode)"

var demoScopes = []string{"ticks.>", "chain.>", "jobs.>"}

type tokenRequest struct {
	Subscribe  []string `json:"subscribe"`
	TTLSeconds int      `json:"ttl_seconds"`
}

type tokenResponse struct {
	Token     string   `json:"token"`
	ExpiresAt int64    `json:"expires_at"` // Unix ms
	Subscribe []string `json:"subscribe"`
}

// handleToken exchanges an API key (Authorization: Bearer) for a short-lived
// browser token whose scopes are a subset of the key's.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	rec, err := s.auth.key(r)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	var req tokenRequest
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, maxTokenRequestBytes, &req); err != nil {
			writeAPIError(w, err)
			return
		}
	}
	for i, p := range req.Subscribe {
		if err := subject.ValidatePattern(p); err != nil {
			writeAPIError(w, invalidSubject("subscribe[%d]: %v", i, err))
			return
		}
	}
	s.issueToken(w, rec, auth.TokenRequest{Subscribe: req.Subscribe, TTL: time.Duration(req.TTLSeconds) * time.Second})
}

// handleDemoToken gives the dashboard a read-only token for the demo streams
// without any key handling. It exists only in demo mode.
// Each source address has a token rate (429 past it) and its issues are
// audited in aggregate (see demoGuard).
func (s *Server) handleDemoToken(w http.ResponseWriter, r *http.Request) {
	if !s.auth.demo.admitToken(w, auth.ClientIP(r, s.auth.trusted)) {
		return
	}
	rec, ok := s.auth.store.Get(s.demoKeyID)
	if !ok {
		writeAPIError(w, gateway.NewAuthError(http.StatusServiceUnavailable, fanout.ReasonInternal, "demo key unavailable"))
		return
	}
	s.issueToken(w, &rec, auth.TokenRequest{Unaudited: true})
}

func (s *Server) issueToken(w http.ResponseWriter, rec *auth.KeyRecord, req auth.TokenRequest) {
	token, claims, err := s.auth.tokens.Issue(rec, req)
	if err != nil {
		writeAPIError(w, authOrRequestError(err))
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{Token: token, ExpiresAt: claims.ExpiresAt.UnixMilli(), Subscribe: claims.Subscribe})
}

func badRequest(format string, args ...any) error {
	return gateway.NewAuthError(http.StatusBadRequest, fanout.ReasonProtocolError, format, args...)
}

// invalidSubject is a bad request about a subject: its body's code is
// invalid_subject, as in an "error" frame.
func invalidSubject(format string, args ...any) error {
	return codedError{code: protocol.CodeInvalidSubject, err: badRequest(format, args...)}
}

// codedError gives an API error a more precise code than its HTTP status
// implies (protocol.CodeForHTTPStatus).
type codedError struct {
	code protocol.ErrorCode
	err  error
}

func (e codedError) Error() string { return e.err.Error() }
func (e codedError) Unwrap() error { return e.err }

func authOrRequestError(err error) error {
	if errors.Is(err, auth.ErrInvalidRequest) {
		return badRequest("%s", err.Error())
	}
	return authError(err)
}

func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body, err := readBody(w, r, limit)
	if err != nil {
		return err
	}
	return decodeJSON(body, v)
}

// readBody reads a request body of at most limit bytes, which must be
// valid UTF-8.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, gateway.NewAuthError(http.StatusRequestEntityTooLarge, fanout.ReasonMessageTooBig, "body over %d bytes", limit)
	case err != nil:
		return nil, badRequest("reading the body: %v", err)
	case !utf8.Valid(body):
		// encoding/json would silently turn the invalid bytes into U+FFFD.
		return nil, badRequest("the body must be valid UTF-8")
	}
	return body, nil
}

// decodeJSON decodes exactly one JSON value of known fields from body.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("invalid JSON body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("trailing data after the JSON body")
	}
	return nil
}

// writeAPIError answers err as {"code","message"} (protocol.HTTPError).
func writeAPIError(w http.ResponseWriter, err error) {
	var ae *gateway.AuthError
	status, msg := http.StatusInternalServerError, "internal error"
	if errors.As(err, &ae) {
		status, msg = ae.Status, ae.Msg
	}
	code := protocol.CodeForHTTPStatus(status)
	var ce codedError
	if errors.As(err, &ce) {
		code = ce.code
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="streamhub"`)
	}
	protocol.WriteHTTPError(w, status, code, msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // an error means the client went away
}

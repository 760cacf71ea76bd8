package server

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/gateway"
	"github.com/streamhub/streamhub/internal/protocol"
)

// The HTTP admin API for keys: list, show (with usage), create, rotate and
// revoke keys, and read the audit journal, for teams that manage keys from
// their own tooling. Every call needs a key with the admin scope (hub keys
// create --admin); each admin key has its own request rate, announced in
// RateLimit-* headers. Changes are recorded in the audit journal with the
// admin key as actor and the caller's address as source.
const (
	maxAdminBodyBytes = 16 << 10
	adminPerSec       = 10 // requests per second per admin key
	adminBurst        = 20
)

// adminRoute is one admin API route: "METHOD /path" and its handler.
type adminRoute struct {
	pattern string
	handler func(*Server) adminHandler
}

// adminAPI lists the admin routes (docs/openapi.yaml documents each).
var adminAPI = []adminRoute{
	{"GET /v1/admin/keys", func(s *Server) adminHandler { return s.handleAdminList }},
	{"POST /v1/admin/keys", func(s *Server) adminHandler { return s.handleAdminCreate }},
	{"GET /v1/admin/keys/{id}", func(s *Server) adminHandler { return s.handleAdminShow }},
	{"POST /v1/admin/keys/{id}/revoke", func(s *Server) adminHandler { return s.handleAdminRevoke }},
	{"POST /v1/admin/keys/{id}/rotate", func(s *Server) adminHandler { return s.handleAdminRotate }},
	{"GET /v1/admin/audit", func(s *Server) adminHandler { return s.handleAdminAudit }},
}

func (s *Server) adminRoutes(handle func(pattern string, h http.Handler)) {
	for _, r := range adminAPI {
		handle(r.pattern, s.admin(r.handler(s)))
	}
}

// adminHandler serves one admin call for an authenticated admin key; ctx
// carries the actor and source for the journal.
type adminHandler func(ctx context.Context, w http.ResponseWriter, r *http.Request, admin *auth.KeyRecord)

// admin authenticates an admin key, applies its rate and runs h.
func (s *Server) admin(h adminHandler) http.HandlerFunc {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		rec, err := s.auth.key(r)
		if err != nil {
			writeAPIError(w, err)
			return
		}
		src := auth.ClientIP(r, s.auth.trusted)
		if !rec.Admin {
			writeAPIError(w, gateway.NewAuthError(http.StatusForbidden, fanout.ReasonForbidden, "this key has no admin scope"))
			return
		}
		ok, q := s.auth.limiter.Take("admin "+rec.ID, adminPerSec, adminBurst, 1)
		setRateLimitHeaders(w.Header(), q, !ok)
		if !ok {
			s.auth.store.LimitHit(limitAdminRate, rec.ID, src)
			writeAPIError(w, gateway.NewAuthError(http.StatusTooManyRequests, fanout.ReasonLimitExceeded, "over this key's admin request rate"))
			return
		}
		ctx := auth.WithSource(auth.WithActor(r.Context(), auth.Actor{Kind: auth.ActorAdmin, ID: rec.ID, Host: host}), src)
		h(ctx, w, r, rec)
	}
}

// adminKey is a key as the admin API shows it: its record (never a hash),
// its status, and for show its usage over every hub.
type adminKey struct {
	auth.KeyRecord
	Status string            `json:"status"`
	Usage  *auth.UsageCounts `json:"usage,omitempty"`
}

func (s *Server) adminView(rec auth.KeyRecord, now time.Time) adminKey {
	st := "active"
	switch {
	case rec.Revoked:
		st = "revoked"
	case rec.ExpiredAt(now):
		st = "expired"
	case auth.ExpiresWithin(&rec, now, s.cfg.KeyExpiryWarning):
		st = "expiring"
	}
	return adminKey{KeyRecord: rec, Status: st}
}

func (s *Server) handleAdminList(_ context.Context, w http.ResponseWriter, _ *http.Request, _ *auth.KeyRecord) {
	now := time.Now()
	recs := s.auth.store.List()
	out := make([]adminKey, 0, len(recs))
	for _, r := range recs {
		out = append(out, s.adminView(r, now))
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
}

func (s *Server) handleAdminShow(ctx context.Context, w http.ResponseWriter, r *http.Request, _ *auth.KeyRecord) {
	rec, ok := s.auth.store.Get(r.PathValue("id"))
	if !ok {
		writeAPIError(w, notFound("no key with this id"))
		return
	}
	use, err := auth.ReadUsage(ctx, s.js, "", rec.ID)
	if err != nil {
		s.log.Warn("admin: read usage", "key_id", rec.ID, "err", err)
		writeAPIError(w, unavailable("usage unavailable; retry"))
		return
	}
	v := s.adminView(rec, time.Now())
	v.Usage = &use
	writeJSON(w, http.StatusOK, v)
}

// adminCreateRequest is the body of POST /v1/admin/keys.
type adminCreateRequest struct {
	Name       string      `json:"name"`
	Env        string      `json:"env"`
	Subscribe  []string    `json:"subscribe"`
	Publish    []string    `json:"publish"`
	TTLSeconds int64       `json:"ttl_seconds"`
	CIDRs      []string    `json:"cidrs"`
	Limits     auth.Limits `json:"limits"`
	Admin      bool        `json:"admin"`
	Metered    bool        `json:"metered"`
}

// adminSecret answers create and rotate: the key, shown this once, and its
// record.
type adminSecret struct {
	Key    string   `json:"key"`
	Record adminKey `json:"record"`
}

// parseAdminCreate reads and checks the body of POST /v1/admin/keys; the
// store validates the rest (name, patterns, networks, limits).
func parseAdminCreate(w http.ResponseWriter, r *http.Request) (auth.CreateRequest, error) {
	var req adminCreateRequest
	if err := decodeBody(w, r, maxAdminBodyBytes, &req); err != nil {
		return auth.CreateRequest{}, err
	}
	if req.TTLSeconds < 0 || req.TTLSeconds > int64(100*366*24*time.Hour/time.Second) {
		return auth.CreateRequest{}, badRequest("ttl_seconds must be 0 (never expires) or a positive number of seconds up to 100 years")
	}
	return auth.CreateRequest{
		Name: req.Name, Env: req.Env, Subscribe: req.Subscribe, Publish: req.Publish,
		TTL: time.Duration(req.TTLSeconds) * time.Second, CIDRs: req.CIDRs, Limits: req.Limits,
		Admin: req.Admin, Metered: req.Metered,
	}, nil
}

func (s *Server) handleAdminCreate(ctx context.Context, w http.ResponseWriter, r *http.Request, _ *auth.KeyRecord) {
	req, err := parseAdminCreate(w, r)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	key, rec, err := s.auth.store.Create(ctx, req)
	if err != nil {
		writeAPIError(w, s.adminError("create", err))
		return
	}
	writeJSON(w, http.StatusCreated, adminSecret{Key: key.Reveal(), Record: s.adminView(rec, time.Now())})
}

func (s *Server) handleAdminRevoke(ctx context.Context, w http.ResponseWriter, r *http.Request, _ *auth.KeyRecord) {
	rec, err := s.auth.store.Revoke(ctx, r.PathValue("id"))
	if err != nil {
		writeAPIError(w, s.adminError("revoke", err))
		return
	}
	writeJSON(w, http.StatusOK, s.adminView(rec, time.Now()))
}

// adminRotateRequest is the optional body of POST /v1/admin/keys/{id}/rotate.
type adminRotateRequest struct {
	// OverlapSeconds is how long the old key keeps working; absent means
	// 24 h, 0 retires it at once.
	OverlapSeconds *int64 `json:"overlap_seconds"`
}

func (s *Server) handleAdminRotate(ctx context.Context, w http.ResponseWriter, r *http.Request, _ *auth.KeyRecord) {
	var req adminRotateRequest
	if r.ContentLength != 0 {
		if err := decodeBody(w, r, maxAdminBodyBytes, &req); err != nil {
			writeAPIError(w, err)
			return
		}
	}
	overlap := 24 * time.Hour
	if req.OverlapSeconds != nil {
		if *req.OverlapSeconds < 0 || *req.OverlapSeconds > int64(366*24*time.Hour/time.Second) {
			writeAPIError(w, badRequest("overlap_seconds must be 0 to a year"))
			return
		}
		overlap = time.Duration(*req.OverlapSeconds) * time.Second
	}
	key, rec, err := s.auth.store.Rotate(ctx, r.PathValue("id"), overlap)
	if err != nil {
		writeAPIError(w, s.adminError("rotate", err))
		return
	}
	writeJSON(w, http.StatusOK, adminSecret{Key: key.Reveal(), Record: s.adminView(rec, time.Now())})
}

func (s *Server) handleAdminAudit(ctx context.Context, w http.ResponseWriter, r *http.Request, _ *auth.KeyRecord) {
	q := auth.AuditQuery{KeyID: r.URL.Query().Get("key")}
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeAPIError(w, badRequest("since must be an RFC 3339 time, e.g. 2026-11-30T12:00:00Z"))
			return
		}
		q.Since = t
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeAPIError(w, badRequest("limit must be 1 to 10000"))
			return
		}
		q.Limit = n
	}
	recs, err := auth.ReadAudit(ctx, s.js, q)
	switch {
	case errors.Is(err, auth.ErrInvalidRequest):
		writeAPIError(w, badRequest("key must be a key id"))
		return
	case errors.Is(err, auth.ErrNoAudit):
		recs, err = nil, nil
	case err != nil:
		s.log.Warn("admin: read audit", "err", err)
		writeAPIError(w, unavailable("audit journal unavailable; retry"))
		return
	}
	if recs == nil {
		recs = []auth.AuditRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs})
}

// adminError maps a store error of an admin call to its answer.
func (s *Server) adminError(op string, err error) error {
	switch {
	case errors.Is(err, auth.ErrUnknown):
		return notFound("no key with this id")
	case errors.Is(err, auth.ErrInvalidRequest):
		return badRequest("%s", err.Error())
	case errors.Is(err, auth.ErrRevoked), errors.Is(err, auth.ErrExpired):
		return conflict("the key can no longer be used, so it cannot be rotated; create a new key")
	}
	s.log.Warn("admin: "+op, "err", err)
	return unavailable("key store unavailable; retry")
}

// notFound and conflict are request errors (code bad_request) whose HTTP
// status says more.
func notFound(msg string) error {
	return codedError{code: protocol.CodeBadRequest, err: gateway.NewAuthError(http.StatusNotFound, fanout.ReasonProtocolError, "%s", msg)}
}

func conflict(msg string) error {
	return codedError{code: protocol.CodeBadRequest, err: gateway.NewAuthError(http.StatusConflict, fanout.ReasonProtocolError, "%s", msg)}
}

func unavailable(msg string) error {
	return gateway.NewAuthError(http.StatusServiceUnavailable, fanout.ReasonInternal, "%s", msg)
}

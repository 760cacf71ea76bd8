package server

import (
	"context"
	"net/http"
	"time"

	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/gateway"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/subject"
)

// handleLast answers GET /v1/last/{subject}: the subject's current value
// (a job's state, the last block, the last tick) as one event, for clients
// that want one read rather than a stream. Credentials are those of
// GET /v1/sse (an API key or browser token as Bearer), and the subject must
// be within their subscribe scope. Subjects with no stored value, or
// outside the families that keep one, are 404 not_found.
func (s *Server) handleLast(w http.ResponseWriter, r *http.Request) {
	subj := r.PathValue("subject")
	if err := subject.Validate(subj); err != nil {
		writeAPIError(w, invalidSubject("%v", err))
		return
	}
	if protocol.ReservedSubject(subj) {
		writeAPIError(w, invalidSubject("subjects starting with $ or _INBOX belong to NATS itself"))
		return
	}
	if s.auth != nil {
		id, err := s.auth.bearerIdentity(r)
		if err != nil {
			writeAPIError(w, err)
			return
		}
		if !s.auth.Allowed(id, subj) {
			writeAPIError(w, gateway.NewAuthError(http.StatusForbidden, fanout.ReasonForbidden, "reading %q is outside this key's scope", subj))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	msgs, _, err := s.history.Snapshot(ctx, subj)
	if err != nil {
		s.log.Warn("last value", "subject", subj, "err", err)
		writeAPIError(w, gateway.NewAuthError(http.StatusServiceUnavailable, fanout.ReasonInternal, "could not read the store; retry"))
		return
	}
	if len(msgs) == 0 {
		writeAPIError(w, codedError{code: protocol.CodeNotFound, err: gateway.NewAuthError(http.StatusNotFound, fanout.ReasonInternal, "no value stored for %q", subj)})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(msgs[len(msgs)-1].Frames[fanout.EncodingJSON], '\n'))
}

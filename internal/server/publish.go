package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/gateway"
	"github.com/streamhub/streamhub/internal/ingest"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/subject"
	"github.com/streamhub/streamhub/internal/tracing"
)

// publishAckTimeout bounds waiting for NATS and the store to confirm a
// publish request's messages.
const publishAckTimeout = 5 * time.Second

// maxIdempotencyKey bounds an Idempotency-Key (it becomes a Nats-Msg-Id).
const maxIdempotencyKey = 128

// publishMessage is one message of POST /v1/publish.
type publishMessage struct {
	Subject  string          `json:"subject"`
	Data     json.RawMessage `json:"data"`
	Critical bool            `json:"critical"`
	// IdempotencyKey overrides the message id the request's
	// Idempotency-Key header gives this message.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

type publishRequest struct {
	publishMessage
	Messages []publishMessage `json:"messages"`
}

// publishResult is the outcome of one message: a stored message's stream
// and sequence once the store has it, or why it was refused.
type publishResult struct {
	// Line is the message's line in an NDJSON body (from 1); absent for
	// JSON bodies, whose results are in the messages' order.
	Line    int    `json:"line,omitempty"`
	Status  int    `json:"status"`
	Subject string `json:"subject,omitempty"`
	// Stream and Seq: where a stored family's message is; absent for
	// ticks, which are not stored (at most once).
	Stream string `json:"stream,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
	// Duplicate: the store already had a message with this idempotency
	// key; Seq is the first one's and nothing new was stored.
	Duplicate bool               `json:"duplicate,omitempty"`
	Code      protocol.ErrorCode `json:"code,omitempty"`
	Message   string             `json:"message,omitempty"`
}

type publishResponse struct {
	Published int             `json:"published"`
	Failed    int             `json:"failed,omitempty"`
	Results   []publishResult `json:"results"`
}

// handlePublish publishes for a key with publish scope. A JSON body is one
// message ({"subject","data"}) or a batch ({"messages":[…]}), checked as a
// whole before anything is published; an NDJSON body
// (Content-Type: application/x-ndjson) holds one message per line, each
// with its own result. Messages of the stored families (chain, jobs) are
// published to JetStream and answered after the store's acknowledgement,
// with their stream sequence; Idempotency-Key makes a retry store nothing
// twice. A signed request (Streamhub-Signature) is verified first.
func (s *Server) handlePublish(w http.ResponseWriter, r *http.Request) {
	rec, err := s.auth.key(r)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	body, err := readBody(w, r, maxPublishBodyBytes)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	if err := s.verifySignature(r, rec, body, time.Now()); err != nil {
		writeAPIError(w, err)
		return
	}
	idem := r.Header.Get("Idempotency-Key")
	if err := validIdempotencyKey(idem); err != nil {
		writeAPIError(w, err)
		return
	}
	ndjson := false
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "application/x-ndjson" {
		ndjson = true
	}
	if ndjson {
		s.publishNDJSON(w, r, rec, body, idem)
		return
	}
	msgs, err := parsePublish(body)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	for i, m := range msgs {
		if !rec.CanPublish(m.Subject) {
			writeAPIError(w, gateway.NewAuthError(http.StatusForbidden, fanout.ReasonForbidden, "message %d: publishing to %q is outside this key's scope", i, m.Subject))
			return
		}
	}
	if !s.allowPublish(w, r, rec, len(msgs)) {
		return
	}
	tr, end := s.publishTrace(r, len(msgs))
	defer end()
	results := s.publishAll(msgs, idem, nil, tr)
	s.countPublished(rec, results)
	for i, res := range results {
		if res.Status != http.StatusOK {
			// The others may be stored: a retry with the same
			// Idempotency-Key stores each message once.
			writeAPIError(w, gateway.NewAuthError(res.Status, fanout.ReasonInternal, "message %d of %d: %s; retry with the same Idempotency-Key", i, len(msgs), res.Message))
			return
		}
	}
	writeJSON(w, http.StatusOK, publishResponse{Published: len(msgs), Results: results})
}

// publishNDJSON publishes every valid line of body and answers with one
// result per line; a refused line does not stop the others.
func (s *Server) publishNDJSON(w http.ResponseWriter, r *http.Request, rec *auth.KeyRecord, body []byte, idem string) {
	lines, err := parseNDJSON(body)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	results := make([]publishResult, len(lines))
	var msgs []publishMessage
	var slots []int // results index of each message
	for i, l := range lines {
		results[i] = publishResult{Line: i + 1, Subject: l.msg.Subject}
		switch {
		case l.err != nil:
			results[i].setError(l.err)
		case !rec.CanPublish(l.msg.Subject):
			results[i].setError(gateway.NewAuthError(http.StatusForbidden, fanout.ReasonForbidden, "publishing to %q is outside this key's scope", l.msg.Subject))
		default:
			msgs = append(msgs, l.msg)
			slots = append(slots, i)
		}
	}
	if len(msgs) > 0 && !s.allowPublish(w, r, rec, len(msgs)) {
		return
	}
	tr, end := s.publishTrace(r, len(msgs))
	defer end()
	ids := make([]int, len(slots))
	for i, slot := range slots {
		ids[i] = slot + 1 // per-line message ids count lines, valid or not
	}
	published := s.publishAll(msgs, idem, ids, tr)
	s.countPublished(rec, published)
	for i, res := range published {
		res.Line = results[slots[i]].Line
		results[slots[i]] = res
	}
	resp := publishResponse{Results: results}
	for _, res := range results {
		if res.Status == http.StatusOK {
			resp.Published++
		} else {
			resp.Failed++
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (res *publishResult) setError(err error) {
	var ae *gateway.AuthError
	res.Status, res.Message = http.StatusInternalServerError, "internal error"
	if errors.As(err, &ae) {
		res.Status, res.Message = ae.Status, ae.Msg
	}
	res.Code = protocol.CodeForHTTPStatus(res.Status)
	var ce codedError
	if errors.As(err, &ce) {
		res.Code = ce.code
	}
}

// traceContext is the W3C trace a publish carries on to its messages.
type traceContext struct{ parent, state string }

// publishTrace takes the request's traceparent and, when the hub traces,
// starts the publish's span under it; end ends the span.
func (s *Server) publishTrace(r *http.Request, n int) (tc traceContext, end func()) {
	tc.parent, tc.state = tracing.FromHTTP(r.Header)
	end = func() {}
	if s.tracer != nil {
		if tp, ts, done, traced := s.tracer.StartPublish(tc.parent, tc.state, n); traced {
			tc.parent, tc.state = tp, ts
			end = func() { done(nil) }
		}
	}
	return tc, end
}

// countPublished adds the messages that were published to the key's usage.
func (s *Server) countPublished(rec *auth.KeyRecord, results []publishResult) {
	n := 0
	for _, res := range results {
		if res.Status == http.StatusOK {
			n++
		}
	}
	if n > 0 {
		s.auth.usage.Key(rec.ID).Published(n)
	}
}

// allowPublish applies the key's publish rate to n messages, answering 429
// when it is over.
func (s *Server) allowPublish(w http.ResponseWriter, r *http.Request, rec *auth.KeyRecord, n int) bool {
	ok, q := s.auth.limiter.TakePublish(rec.ID, rec.EffectiveLimits(), n)
	setRateLimitHeaders(w.Header(), q, !ok)
	if ok {
		return true
	}
	s.auth.store.LimitHit(limitPublishRate, rec.ID, auth.ClientIP(r, s.auth.trusted))
	writeAPIError(w, gateway.NewAuthError(http.StatusTooManyRequests, fanout.ReasonLimitExceeded, "over this key's publish rate"))
	return false
}

// publishAll publishes msgs in order and returns one result each. Stored
// families go to JetStream (asynchronously, then every acknowledgement is
// awaited); ticks go to core NATS, confirmed by one flush. Message i's id
// is its own idempotency_key, or idem suffixed with "/" and its number
// (ids[i], or i+1) when the request carries several messages, or idem
// alone for a single message.
func (s *Server) publishAll(msgs []publishMessage, idem string, ids []int, tr traceContext) []publishResult {
	ctx, cancel := context.WithTimeout(context.Background(), publishAckTimeout)
	defer cancel()
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	nc := s.conn.NATS()
	results := make([]publishResult, len(msgs))
	futures := make([]jetstream.PubAckFuture, len(msgs))
	core := false
	for i, m := range msgs {
		results[i] = publishResult{Status: http.StatusOK, Subject: m.Subject}
		nm := nats.NewMsg(m.Subject)
		nm.Data = m.Data
		nm.Header.Set(ingest.HeaderTS, now)
		if tr.parent != "" {
			nm.Header.Set(ingest.HeaderTraceparent, tr.parent) // the publisher's trace goes on through the hub
			if tr.state != "" {
				nm.Header.Set(ingest.HeaderTracestate, tr.state)
			}
		}
		if m.Critical {
			nm.Header.Set(ingest.HeaderCritical, "1")
		}
		stream, stored := bus.StoredStream(m.Subject)
		if !stored {
			core = true
			if err := nc.PublishMsg(nm); err != nil {
				results[i].fail(http.StatusServiceUnavailable, "NATS unavailable")
			}
			continue
		}
		results[i].Stream = stream
		var opts []jetstream.PublishOpt
		if id := messageID(m, idem, i, ids, len(msgs)); id != "" {
			opts = append(opts, jetstream.WithMsgID(id))
		}
		opts = append(opts, jetstream.WithExpectStream(stream))
		f, err := s.js.PublishMsgAsync(nm, opts...)
		if err != nil {
			results[i].fail(http.StatusServiceUnavailable, "the store did not take the message: "+err.Error())
			continue
		}
		futures[i] = f
	}
	if core {
		if err := nc.FlushTimeout(publishAckTimeout); err != nil {
			for i := range results {
				if results[i].Stream == "" && results[i].Status == http.StatusOK {
					results[i].fail(http.StatusServiceUnavailable, "NATS did not confirm the publish")
				}
			}
		}
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			results[i].Seq, results[i].Duplicate = ack.Sequence, ack.Duplicate
		case err := <-f.Err():
			results[i].fail(http.StatusServiceUnavailable, "the store refused the message: "+err.Error())
		case <-ctx.Done():
			results[i].fail(http.StatusServiceUnavailable, "no acknowledgement from the store in time")
		}
	}
	return results
}

func (res *publishResult) fail(status int, msg string) {
	res.Status, res.Code, res.Message = status, protocol.CodeForHTTPStatus(status), msg
}

// messageID is message i's Nats-Msg-Id (see publishAll); "" for none.
func messageID(m publishMessage, idem string, i int, ids []int, n int) string {
	switch {
	case m.IdempotencyKey != "":
		return m.IdempotencyKey
	case idem == "":
		return ""
	case ids != nil:
		return idem + "/" + strconv.Itoa(ids[i])
	case n == 1:
		return idem
	}
	return idem + "/" + strconv.Itoa(i+1)
}

// validIdempotencyKey checks an idempotency key: empty (none), or 1 to
// maxIdempotencyKey printable ASCII characters without spaces.
func validIdempotencyKey(k string) error {
	if len(k) > maxIdempotencyKey {
		return badRequest("an idempotency key has at most %d characters", maxIdempotencyKey)
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return badRequest("an idempotency key is printable ASCII without spaces")
		}
	}
	return nil
}

// parsePublish reads and validates a JSON publish body: one message or a
// batch of 1 to maxPublishBatch, each with a literal subject and a JSON
// object.
func parsePublish(body []byte) ([]publishMessage, error) {
	var req publishRequest
	if err := decodeJSON(body, &req); err != nil {
		return nil, err
	}
	msgs := req.Messages
	if req.Subject != "" {
		if len(msgs) > 0 {
			return nil, badRequest("send either one message or \"messages\", not both")
		}
		msgs = []publishMessage{req.publishMessage}
	}
	if len(msgs) == 0 || len(msgs) > maxPublishBatch {
		return nil, badRequest("a publish carries 1 to %d messages", maxPublishBatch)
	}
	for i, m := range msgs {
		if err := checkPublishMessage(m); err != nil {
			return nil, withPrefix(fmt.Sprintf("message %d: ", i), err)
		}
	}
	return msgs, nil
}

// withPrefix puts prefix before the message of an API error, keeping its
// status and code.
func withPrefix(prefix string, err error) error {
	var ae *gateway.AuthError
	if !errors.As(err, &ae) {
		return err
	}
	ne := gateway.NewAuthError(ae.Status, ae.Reason, "%s%s", prefix, ae.Msg)
	var ce codedError
	if errors.As(err, &ce) {
		return codedError{code: ce.code, err: ne}
	}
	return ne
}

// checkPublishMessage checks one message: a literal subject outside NATS's
// own namespace, a JSON object, a valid idempotency key.
func checkPublishMessage(m publishMessage) error {
	if err := subject.Validate(m.Subject); err != nil {
		return invalidSubject("%v", err)
	}
	if protocol.ReservedSubject(m.Subject) {
		return badRequest("subjects starting with $ or _INBOX belong to NATS itself")
	}
	if !json.Valid(m.Data) || len(m.Data) == 0 || m.Data[0] != '{' {
		return badRequest("data must be a JSON object")
	}
	return validIdempotencyKey(m.IdempotencyKey)
}

// ndjsonLine is one line of an NDJSON publish body: a message, or why it
// is refused.
type ndjsonLine struct {
	msg publishMessage
	err error
}

// parseNDJSON splits an NDJSON body into 1 to maxPublishLines lines (a
// final newline is optional; empty lines are refused with the others),
// each decoded as one message. Only a body with no line or too many is an
// error as a whole.
func parseNDJSON(body []byte) ([]ndjsonLine, error) {
	body = bytes.TrimSuffix(body, []byte("\n"))
	if len(body) == 0 {
		return nil, badRequest("an NDJSON publish carries 1 to %d lines", maxPublishLines)
	}
	if n := bytes.Count(body, []byte("\n")) + 1; n > maxPublishLines {
		return nil, badRequest("an NDJSON publish carries 1 to %d lines, not %d", maxPublishLines, n)
	}
	var out []ndjsonLine
	for raw := range bytes.SplitSeq(body, []byte("\n")) {
		raw = bytes.TrimSuffix(raw, []byte("\r"))
		var l ndjsonLine
		if err := decodeJSON(raw, &l.msg); err != nil {
			l.err = err
		} else {
			l.err = checkPublishMessage(l.msg)
		}
		out = append(out, l)
	}
	return out, nil
}

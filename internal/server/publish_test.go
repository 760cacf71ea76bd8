package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/protocol"
)

// publishAPI posts body to /v1/publish with key and extra headers and
// decodes a 200 answer.
func publishAPI(t testing.TB, s *Server, key string, h http.Header, body string) (int, publishResponse, string) {
	t.Helper()
	hh := http.Header{"Authorization": {"Bearer " + key}, "Content-Type": {"application/json"}}
	for k, v := range h {
		hh[k] = v
	}
	status, raw := doAPI(t, s, http.MethodPost, "/v1/publish", hh, strings.NewReader(body))
	var resp publishResponse
	if status == http.StatusOK {
		if err := json.Unmarshal(raw, &resp); err != nil {
			t.Fatalf("answer %s: %v", raw, err)
		}
	}
	return status, resp, string(raw)
}

// storedAt reads the message at seq of stream from JetStream, the store
// itself.
func storedAt(t testing.TB, s *Server, stream string, seq uint64) *jetstream.RawStreamMsg {
	t.Helper()
	st, err := s.js.Stream(ctx10(t), stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMsg(ctx10(t), seq)
	if err != nil {
		t.Fatalf("stream %s seq %d: %v", stream, seq, err)
	}
	return m
}

func lastSeq(t testing.TB, s *Server, stream string) uint64 {
	t.Helper()
	st, err := s.js.Stream(ctx10(t), stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx10(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// A publish to a stored family is answered after the store has it, with
// its stream sequence; an Idempotency-Key makes a retry store nothing new.
func TestPublishIsAcknowledgedByTheStoreAndIdempotent(t *testing.T) {
	env := newAuthEnv(t)
	s, _ := env.hub(t, nil)
	pub, _ := env.key(t, s, auth.CreateRequest{Publish: []string{"jobs.acme.>", "ticks.>"}})

	status, resp, raw := publishAPI(t, s, pub, nil, `{"subject":"jobs.acme.j1","data":{"state":"running","percent":10}}`)
	if status != http.StatusOK || resp.Published != 1 || len(resp.Results) != 1 {
		t.Fatalf("publish: %d %s", status, raw)
	}
	r := resp.Results[0]
	if r.Stream != bus.StreamJobs || r.Seq == 0 || r.Duplicate {
		t.Fatalf("result %+v, want a new JOBS sequence", r)
	}
	if m := storedAt(t, s, bus.StreamJobs, r.Seq); m.Subject != "jobs.acme.j1" || !strings.Contains(string(m.Data), `"percent":10`) {
		t.Fatalf("the store holds %s %s at %d", m.Subject, m.Data, r.Seq)
	}

	idem := http.Header{"Idempotency-Key": {"order-42"}}
	_, first, _ := publishAPI(t, s, pub, idem, `{"subject":"jobs.acme.j2","data":{"percent":1}}`)
	before := lastSeq(t, s, bus.StreamJobs)
	status, again, raw := publishAPI(t, s, pub, idem, `{"subject":"jobs.acme.j2","data":{"percent":1}}`)
	if status != http.StatusOK || !again.Results[0].Duplicate || again.Results[0].Seq != first.Results[0].Seq {
		t.Fatalf("retry with the same Idempotency-Key: %d %s, want duplicate of seq %d", status, raw, first.Results[0].Seq)
	}
	if after := lastSeq(t, s, bus.StreamJobs); after != before {
		t.Fatalf("the retry stored a message: last seq %d → %d", before, after)
	}

	// Ticks are not stored: flushed to NATS, no sequence.
	status, resp, raw = publishAPI(t, s, pub, nil, `{"subject":"ticks.x.BTC","data":{"price":"1"}}`)
	if status != http.StatusOK || resp.Results[0].Seq != 0 || resp.Results[0].Stream != "" {
		t.Fatalf("tick publish: %d %s", status, raw)
	}
	if status, _, raw := publishAPI(t, s, pub, http.Header{"Idempotency-Key": {"has space"}}, `{"subject":"jobs.acme.j2","data":{}}`); status != http.StatusBadRequest {
		t.Fatalf("an idempotency key with a space: %d %s", status, raw)
	}
}

// An NDJSON body publishes line by line with a result per line; a retry
// with the same Idempotency-Key stores none of the lines again.
func TestPublishNDJSONBatchHasPerLineResults(t *testing.T) {
	env := newAuthEnv(t)
	s, _ := env.hub(t, nil)
	pub, _ := env.key(t, s, auth.CreateRequest{Publish: []string{"jobs.acme.>"}})
	body := strings.Join([]string{
		`{"subject":"jobs.acme.j1","data":{"percent":1}}`,
		`{"subject":"jobs.acme.j1","data":`,
		`{"subject":"jobs.globex.j1","data":{"percent":2}}`,
		`{"subject":"jobs.acme.j2","data":{"percent":3},"critical":true}`,
		`{"subject":"jobs.acme.*","data":{}}`,
	}, "\n") + "\n"
	h := http.Header{"Content-Type": {"application/x-ndjson"}, "Idempotency-Key": {"batch-7"}}
	status, resp, raw := publishAPI(t, s, pub, h, body)
	if status != http.StatusOK || resp.Published != 2 || resp.Failed != 3 || len(resp.Results) != 5 {
		t.Fatalf("NDJSON publish: %d %s", status, raw)
	}
	wantStatus := []int{200, 400, 403, 200, 400}
	wantCode := []protocol.ErrorCode{"", protocol.CodeBadRequest, protocol.CodeForbidden, "", protocol.CodeInvalidSubject}
	for i, r := range resp.Results {
		if r.Line != i+1 || r.Status != wantStatus[i] || r.Code != wantCode[i] {
			t.Errorf("line %d: %+v, want status %d code %q", i+1, r, wantStatus[i], wantCode[i])
		}
	}
	if m := storedAt(t, s, bus.StreamJobs, resp.Results[3].Seq); m.Subject != "jobs.acme.j2" || m.Header.Get("Sh-Critical") != "1" {
		t.Fatalf("line 4 stored as %s %v", m.Subject, m.Header)
	}
	before := lastSeq(t, s, bus.StreamJobs)
	_, again, raw := publishAPI(t, s, pub, h, body)
	if !again.Results[0].Duplicate || !again.Results[3].Duplicate || again.Results[3].Seq != resp.Results[3].Seq {
		t.Fatalf("retry: %s, want lines 1 and 4 as duplicates", raw)
	}
	if after := lastSeq(t, s, bus.StreamJobs); after != before {
		t.Fatalf("the retry stored %d messages", after-before)
	}
	if status, _, raw := publishAPI(t, s, pub, http.Header{"Content-Type": {"application/x-ndjson"}}, strings.Repeat("{}\n", maxPublishLines+1)); status != http.StatusBadRequest {
		t.Fatalf("%d lines: %d %s, want 400", maxPublishLines+1, status, raw)
	}
}

// GET /v1/last/{subject} returns the current value as one event, within
// the credentials' subscribe scope.
func TestLastValueRead(t *testing.T) {
	env := newAuthEnv(t)
	s, _ := env.hub(t, nil)
	pub, _ := env.key(t, s, auth.CreateRequest{Publish: []string{"jobs.acme.>"}})
	reader, _ := env.key(t, s, auth.CreateRequest{Subscribe: []string{"jobs.acme.>"}})
	for _, p := range []string{"10", "55"} {
		if status, _, raw := publishAPI(t, s, pub, nil, `{"subject":"jobs.acme.j9","data":{"percent":`+p+`}}`); status != http.StatusOK {
			t.Fatalf("publish: %d %s", status, raw)
		}
	}
	get := func(path, cred string) (int, string) {
		t.Helper()
		status, raw := doAPI(t, s, http.MethodGet, path, bearerHeader(cred), nil)
		return status, string(raw)
	}
	status, raw := get("/v1/last/jobs.acme.j9", reader)
	var ev protocol.EventFrame
	if err := json.Unmarshal([]byte(raw), &ev); status != http.StatusOK || err != nil || ev.Subject != "jobs.acme.j9" || !strings.Contains(string(ev.Data), `"percent":55`) {
		t.Fatalf("last value: %d %s", status, raw)
	}
	tok := env.token(t, s, reader, "")
	if status, raw := get("/v1/last/jobs.acme.j9", tok.Token); status != http.StatusOK {
		t.Fatalf("with a browser token: %d %s", status, raw)
	}
	for _, tc := range []struct {
		path, cred string
		status     int
		code       protocol.ErrorCode
	}{
		{"/v1/last/jobs.acme.nothing", reader, http.StatusNotFound, protocol.CodeNotFound},
		{"/v1/last/jobs.globex.j1", reader, http.StatusForbidden, protocol.CodeForbidden},
		{"/v1/last/jobs.acme.*", reader, http.StatusBadRequest, protocol.CodeInvalidSubject},
		{"/v1/last/jobs.acme.j9", "", http.StatusUnauthorized, protocol.CodeAuthRequired},
	} {
		status, raw := get(tc.path, tc.cred)
		var e protocol.HTTPError
		_ = json.Unmarshal([]byte(raw), &e)
		if status != tc.status || e.Code != tc.code {
			t.Errorf("GET %s: %d %s, want %d %s", tc.path, status, raw, tc.status, tc.code)
		}
	}
}

// A key with signed publishing refuses unsigned, mismatched and stale
// requests with their own codes and takes correctly signed ones; any key's
// signature is checked when sent.
func TestPublishSigning(t *testing.T) {
	env := newAuthEnv(t)
	s, _ := env.hub(t, nil)
	signed, rec := env.key(t, s, auth.CreateRequest{Publish: []string{"jobs.acme.>"}, SignedPublish: true})
	plain, _ := env.key(t, s, auth.CreateRequest{Publish: []string{"jobs.acme.>"}})
	secret := env.remember(s.auth.store.PublishSecret(rec.ID))
	body := `{"subject":"jobs.acme.j1","data":{"percent":5}}`
	sig := func(at time.Time, b string) http.Header {
		return http.Header{auth.SignatureHeader: {auth.SignRequest(secret, at, http.MethodPost, "/v1/publish", []byte(b))}}
	}
	now := time.Now()
	for _, tc := range []struct {
		name   string
		key    string
		h      http.Header
		status int
		code   protocol.ErrorCode
	}{
		{"signed", signed, sig(now, body), http.StatusOK, ""},
		{"unsigned", signed, nil, http.StatusUnauthorized, protocol.CodeSignatureRequired},
		{"another body", signed, sig(now, body+" "), http.StatusUnauthorized, protocol.CodeSignatureInvalid},
		{"stale", signed, sig(now.Add(-auth.SignatureWindow-time.Minute), body), http.StatusUnauthorized, protocol.CodeSignatureExpired},
		{"from the future", signed, sig(now.Add(auth.SignatureWindow+time.Minute), body), http.StatusUnauthorized, protocol.CodeSignatureExpired},
		{"malformed", signed, http.Header{auth.SignatureHeader: {"v1=zz"}}, http.StatusUnauthorized, protocol.CodeSignatureInvalid},
		{"another key's secret", plain, sig(now, body), http.StatusUnauthorized, protocol.CodeSignatureInvalid},
		{"unsigned, not required", plain, nil, http.StatusOK, ""},
	} {
		status, _, raw := publishAPI(t, s, tc.key, tc.h, body)
		var e protocol.HTTPError
		_ = json.Unmarshal([]byte(raw), &e)
		if status != tc.status || e.Code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, raw, tc.status, tc.code)
		}
	}
}

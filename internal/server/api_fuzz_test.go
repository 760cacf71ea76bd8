package server

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"unicode/utf8"

	"github.com/streamhub/streamhub/internal/gateway"
	"github.com/streamhub/streamhub/internal/subject"
)

// FuzzParsePublish feeds arbitrary bodies to the publish endpoint's parser:
// it never panics, and whatever it accepts is a valid, bounded batch.
func FuzzParsePublish(f *testing.F) {
	for _, s := range []string{
		`{"subject":"jobs.acme.j1","data":{"x":1}}`,
		`{"messages":[{"subject":"a.b","data":{}},{"subject":"a.c","data":{"y":[1,2]},"critical":true}]}`,
		`{"subject":"a.>","data":{}}`, `{"subject":"$KV.x","data":{}}`, `{"messages":[]}`,
		`{"subject":"a","data":[1]}`, `{"subject":"a","data":{}} trailing`, `{`, ``,
		"{\"subject\":\"a.\xff\",\"data\":{}}", "{\"subject\":\"a.b\",\"data\":{\"x\":\"\xc3\"}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := parseBody(body)
		if err != nil {
			var ae *gateway.AuthError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 {
				t.Fatalf("error %v is not a 4xx answer", err)
			}
			return
		}
		if !utf8.Valid(body) {
			t.Fatalf("accepted a body that is not valid UTF-8: %q", body)
		}
		if len(msgs) == 0 || len(msgs) > maxPublishBatch {
			t.Fatalf("accepted %d messages", len(msgs))
		}
		for _, m := range msgs {
			if subject.Validate(m.Subject) != nil || len(m.Data) == 0 || m.Data[0] != '{' {
				t.Fatalf("accepted %+v", m)
			}
		}
	})
}

// parseBody reads body as the publish endpoint does: readBody, then the
// JSON parser.
func parseBody(body []byte) ([]publishMessage, error) {
	r := httptest.NewRequest(http.MethodPost, "/v1/publish", bytes.NewReader(body))
	b, err := readBody(httptest.NewRecorder(), r, maxPublishBodyBytes)
	if err != nil {
		return nil, err
	}
	return parsePublish(b)
}

// FuzzParseNDJSON feeds arbitrary NDJSON bodies to the batch parser: it
// never panics, a whole-body error is a 4xx, and every line it accepts is a
// valid message while every refused line has a 4xx answer.
func FuzzParseNDJSON(f *testing.F) {
	for _, s := range []string{
		"{\"subject\":\"jobs.a.b\",\"data\":{}}\n{\"subject\":\"jobs.a.c\",\"data\":{\"x\":1},\"critical\":true}\n",
		"{\"subject\":\"a\",\"data\":{}}\r\n\n{", "\n", "", "{}\n{}\n{}", "{\"subject\":\"a\",\"data\":{},\"idempotency_key\":\"k 1\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		lines, err := parseNDJSON(body)
		if err != nil {
			var ae *gateway.AuthError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 {
				t.Fatalf("error %v is not a 4xx answer", err)
			}
			return
		}
		if len(lines) == 0 || len(lines) > maxPublishLines {
			t.Fatalf("accepted %d lines", len(lines))
		}
		for i, l := range lines {
			if l.err != nil {
				var res publishResult
				res.setError(l.err)
				if res.Status < 400 || res.Status >= 500 || res.Code == "" {
					t.Fatalf("line %d: refusal %+v", i+1, res)
				}
				continue
			}
			m := l.msg
			if subject.Validate(m.Subject) != nil || len(m.Data) == 0 || m.Data[0] != '{' || validIdempotencyKey(m.IdempotencyKey) != nil {
				t.Fatalf("line %d: accepted %+v", i+1, m)
			}
		}
	})
}

// FuzzParseAdminCreate feeds arbitrary bodies to the admin API's create
// parser: it never panics, refuses with a 4xx answer, and accepts only
// bodies of valid UTF-8 with a lifetime in range.
func FuzzParseAdminCreate(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","subscribe":["ticks.>"],"ttl_seconds":60}`, `{"name":"a","admin":true}`,
		`{"name":"a","limits":{"max_conns":-1}}`, `{"ttl_seconds":-1}`, `{"ttl_seconds":1e30}`,
		`{"hash":"00"}`, `{`, ``, "{\"name\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/v1/admin/keys", bytes.NewReader(body))
		req, err := parseAdminCreate(httptest.NewRecorder(), r)
		if err != nil {
			var ae *gateway.AuthError
			if !errors.As(err, &ae) || ae.Status < 400 || ae.Status >= 500 {
				t.Fatalf("error %v is not a 4xx answer", err)
			}
			return
		}
		if !utf8.Valid(body) || req.TTL < 0 {
			t.Fatalf("accepted %q as %+v", body, req)
		}
	})
}

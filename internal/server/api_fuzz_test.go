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
		r := httptest.NewRequest(http.MethodPost, "/v1/publish", bytes.NewReader(body))
		msgs, err := parsePublish(httptest.NewRecorder(), r)
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

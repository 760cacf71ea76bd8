package server

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/streamhub/streamhub/internal/auth"
)

// adminCall calls the admin API with key and decodes a JSON answer into v
// (when not nil), requiring status want.
func adminCall(t *testing.T, s *Server, method, path, key, body string, want int, v any) apiResponse {
	t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var r apiResponse
	if rd == nil {
		r = callAPI(t, s, method, path, key, nil, nil)
	} else {
		r = callAPI(t, s, method, path, key, rd, nil)
	}
	if r.status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, r.status, r.body, want)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, r.body)
		}
	}
	return r
}

type adminKeyJSON struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Subscribe []string          `json:"subscribe"`
	Status    string            `json:"status"`
	RotatedTo string            `json:"rotated_to"`
	Metered   bool              `json:"metered"`
	Usage     *auth.UsageCounts `json:"usage"`
}

// The admin API manages keys for a key with the admin scope only, audits
// every change with that key as actor, and announces its rate.
func TestAdminAPI(t *testing.T) {
	e := newAuthEnv(t)
	s, _ := e.hub(t, nil)
	admin, adminRec := e.key(t, s, auth.CreateRequest{Admin: true})
	plain, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}})

	adminCall(t, s, http.MethodGet, "/v1/admin/keys", "", "", http.StatusUnauthorized, nil)
	adminCall(t, s, http.MethodGet, "/v1/admin/keys", plain, "", http.StatusForbidden, nil)

	var created struct {
		Key    string       `json:"key"`
		Record adminKeyJSON `json:"record"`
	}
	r := adminCall(t, s, http.MethodPost, "/v1/admin/keys", admin,
		`{"name":"from tooling","subscribe":["ticks.>"],"ttl_seconds":86400,"metered":true}`, http.StatusCreated, &created)
	e.remember(created.Key)
	k, err := auth.ParseKey(created.Key)
	if err != nil || k.ID() != created.Record.ID || created.Record.Name != "from tooling" ||
		created.Record.Status != "expiring" || !created.Record.Metered || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %+v (%v), headers %v", created, err, r.header)
	}
	if r.header.Get("RateLimit-Limit") != "20" || r.header.Get("RateLimit-Remaining") == "" {
		t.Fatalf("admin answer without rate-limit headers: %v", r.header)
	}
	dialKey(t, s, created.Key).alive() // the new key works at once

	var list struct{ Keys []adminKeyJSON }
	adminCall(t, s, http.MethodGet, "/v1/admin/keys", admin, "", http.StatusOK, &list)
	if len(list.Keys) != 3 {
		t.Fatalf("list: %+v", list)
	}
	var shown adminKeyJSON
	adminCall(t, s, http.MethodGet, "/v1/admin/keys/"+k.ID(), admin, "", http.StatusOK, &shown)
	if shown.ID != k.ID() || shown.Usage == nil {
		t.Fatalf("show: %+v", shown)
	}

	var rotated struct {
		Key    string       `json:"key"`
		Record adminKeyJSON `json:"record"`
	}
	adminCall(t, s, http.MethodPost, "/v1/admin/keys/"+k.ID()+"/rotate", admin, `{"overlap_seconds":0}`, http.StatusOK, &rotated)
	e.remember(rotated.Key)
	adminCall(t, s, http.MethodGet, "/v1/admin/keys/"+k.ID(), admin, "", http.StatusOK, &shown)
	if shown.RotatedTo != rotated.Record.ID || shown.Status != "expired" {
		t.Fatalf("after rotate: old %+v", shown)
	}
	var revoked adminKeyJSON
	adminCall(t, s, http.MethodPost, "/v1/admin/keys/"+rotated.Record.ID+"/revoke", admin, "", http.StatusOK, &revoked)
	if revoked.Status != "revoked" {
		t.Fatalf("revoke: %+v", revoked)
	}

	adminCall(t, s, http.MethodGet, "/v1/admin/keys/AAAAAAAAAAAA", admin, "", http.StatusNotFound, nil)
	adminCall(t, s, http.MethodPost, "/v1/admin/keys/AAAAAAAAAAAA/revoke", admin, "", http.StatusNotFound, nil)
	adminCall(t, s, http.MethodPost, "/v1/admin/keys/"+k.ID()+"/rotate", admin, "", http.StatusConflict, nil)
	adminCall(t, s, http.MethodPost, "/v1/admin/keys", admin, `{"name":"x"}`, http.StatusBadRequest, nil)
	adminCall(t, s, http.MethodPost, "/v1/admin/keys", admin, `{"name":"x","subscribe":["ticks.>"],"hash":"00"}`, http.StatusBadRequest, nil)
	adminCall(t, s, http.MethodGet, "/v1/admin/audit?since=yesterday", admin, "", http.StatusBadRequest, nil)
	adminCall(t, s, http.MethodGet, "/v1/admin/audit?key=nope", admin, "", http.StatusBadRequest, nil)

	var audit struct{ Records []auth.AuditRecord }
	adminCall(t, s, http.MethodGet, "/v1/admin/audit?key="+rotated.Record.ID, admin, "", http.StatusOK, &audit)
	if len(audit.Records) != 2 {
		t.Fatalf("audit of the rotated-in key: %+v", audit.Records)
	}
	for _, rec := range audit.Records {
		if rec.Actor.Kind != auth.ActorAdmin || rec.Actor.ID != adminRec.ID || rec.Source != "127.0.0.1" {
			t.Fatalf("admin change recorded as %+v", rec)
		}
	}
	for _, raw := range []string{created.Key, rotated.Key} {
		if strings.Contains(string(adminCall(t, s, http.MethodGet, "/v1/admin/audit", admin, "", http.StatusOK, nil).body), raw[len(raw)-38:]) {
			t.Fatal("the audit journal shows a secret")
		}
	}

	// Past the burst, 429 with Retry-After; the hit is counted.
	for i := 0; ; i++ {
		r := callAPI(t, s, http.MethodGet, "/v1/admin/keys", admin, nil, nil)
		if r.status == http.StatusTooManyRequests {
			if r.header.Get("Retry-After") == "" || r.header.Get("RateLimit-Remaining") != "0" {
				t.Fatalf("429 headers: %v", r.header)
			}
			break
		}
		if r.status != http.StatusOK || i > 500 {
			t.Fatalf("request %d: %d, no 429 yet", i, r.status)
		}
	}
}

// Every admin route is in docs/openapi.yaml, under its path and method.
func TestAdminRoutesDocumented(t *testing.T) {
	raw, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, r := range adminAPI {
		method, path, _ := strings.Cut(r.pattern, " ")
		i := strings.Index(doc, "\n  "+path+":\n")
		if i < 0 {
			t.Errorf("%s is not a path of openapi.yaml", path)
			continue
		}
		rest := doc[i+len(path)+4:] // from the newline before the first method
		if j := strings.Index(rest, "\n  /"); j >= 0 {
			rest = rest[:j]
		}
		if !strings.Contains(rest, "\n    "+strings.ToLower(method)+":") {
			t.Errorf("openapi.yaml has no %s for %s", method, path)
		}
	}
}

package server

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// hubAudit reads the hub's audit journal as `hub keys audit` does.
func hubAudit(t testing.TB, s *Server, q auth.AuditQuery) []auth.AuditRecord {
	t.Helper()
	js, err := jetstream.New(natsPublisher(t, s))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := auth.ReadAudit(ctx10(t), js, q)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// waitAudit waits until the journal holds a record of event with reason
// for key id and returns it.
func waitAudit(t testing.TB, s *Server, event, reason, id string) auth.AuditRecord {
	t.Helper()
	var found auth.AuditRecord
	testsupport.WaitFor(t, event+" "+reason+" in the audit journal", 20*time.Second, func() bool {
		for _, r := range hubAudit(t, s, auth.AuditQuery{KeyID: id}) {
			if r.Event == event && r.Reason == reason {
				found = r
				return true
			}
		}
		return false
	})
	return found
}

func fastAudit(c *Config) { c.AuditWindow = 200 * time.Millisecond }

// POST /v1/publish announces the key's publish bucket in RateLimit-*
// headers on every answer, adds Retry-After to a 429, and the hub records
// the limit hit in the audit journal.
func TestPublishRateLimitHeadersAndAudit(t *testing.T) {
	e := newAuthEnv(t)
	s, _ := e.hub(t, fastAudit)
	secret, rec := e.key(t, s, auth.CreateRequest{Publish: []string{"jobs.acme.>"},
		Limits: auth.Limits{PublishPerSec: 0.5, PublishBurst: 2}})
	body := `{"subject":"jobs.acme.j1","data":{"p":1}}`
	publish := func() apiResponse {
		return callAPI(t, s, http.MethodPost, "/v1/publish", secret, strings.NewReader(body), nil)
	}
	for i, wantRemaining := range []string{"1", "0"} {
		r := publish()
		if r.status != http.StatusOK || r.header.Get("RateLimit-Limit") != "2" ||
			r.header.Get("RateLimit-Remaining") != wantRemaining || r.header.Get("RateLimit-Policy") != "2;w=4" {
			t.Fatalf("publish %d: %d %s, headers %v", i, r.status, r.body, r.header)
		}
		if reset, err := strconv.Atoi(r.header.Get("RateLimit-Reset")); err != nil || reset < 1 || reset > 4 {
			t.Fatalf("publish %d: RateLimit-Reset %q, want 1 to 4 s", i, r.header.Get("RateLimit-Reset"))
		}
		if r.header.Get("Retry-After") != "" {
			t.Fatalf("publish %d: Retry-After on a 200", i)
		}
	}
	r := publish()
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	if r.status != http.StatusTooManyRequests || err != nil || retry < 1 || retry > 2 ||
		r.header.Get("RateLimit-Remaining") != "0" || r.header.Get("RateLimit-Limit") != "2" {
		t.Fatalf("past the burst: %d, headers %v; want 429 with Retry-After 1 to 2 s", r.status, r.header)
	}
	hit := waitAudit(t, s, auth.EventLimitHit, limitPublishRate, rec.ID)
	if hit.Count != 1 || hit.Source != "127.0.0.1" || hit.Actor.Kind != auth.ActorHub {
		t.Fatalf("limit_hit record: %+v", hit)
	}
}

// A connection past the key's limit is refused and audited; a wrong
// secret is audited as an aggregated failure with its source.
func TestConnLimitAndFailuresAudited(t *testing.T) {
	e := newAuthEnv(t)
	s, _ := e.hub(t, fastAudit)
	secret, rec := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}, Limits: auth.Limits{MaxConns: 1}})
	c := dialKey(t, s, secret)
	c.alive()
	if status, _ := upgradeStatus(t, s, authHeader(secret)); status != http.StatusTooManyRequests {
		t.Fatalf("second connection: %d, want 429", status)
	}
	waitAudit(t, s, auth.EventLimitHit, limitMaxConns, rec.ID)

	wrong := secret[:len(secret)-10] + "AAAAAAAAAA"
	for range 2 {
		if status, _ := upgradeStatus(t, s, authHeader(wrong)); status != http.StatusUnauthorized {
			t.Fatalf("wrong key: %d, want 401", status)
		}
	}
	fail := waitAudit(t, s, auth.EventAuthFailed, "malformed", rec.ID)
	if fail.Count != 2 || fail.Source != "127.0.0.1" {
		t.Fatalf("auth_failed record: %+v", fail)
	}
}

// streamhub_keys_expiring counts the active keys within the warning period.
func TestKeysExpiringMetric(t *testing.T) {
	e := newAuthEnv(t)
	s, _ := e.hub(t, nil)
	e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}, TTL: 48 * time.Hour})
	e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}, TTL: 30 * 24 * time.Hour})
	e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}})
	_, gone := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}, TTL: time.Hour})
	revoke(t, s, gone.ID)
	if m := scrape(t, s); !strings.Contains(m, `streamhub_keys_expiring{within="168h0m0s"} 1`) ||
		!strings.Contains(m, `streamhub_audit_records_total{result="written"}`) {
		t.Fatalf("metrics:\n%s", grepLines(m, "streamhub_"))
	}
}

package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// Demo mode must be asked for, and only where its fake feeds and its open
// token endpoint cannot reach anyone else.
func TestDemoIsOptInAndLoopbackOnly(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	s, _ := e.hub(t, nil) // the zero Config: no demo
	if status, _ := postAPI(t, s, "/v1/demo/token", "", ""); status != http.StatusNotFound {
		t.Fatalf("POST /v1/demo/token on a default hub: %d, want 404", status)
	}
	if n := len(s.Router().Patterns()); n != 0 || s.demo != nil {
		t.Fatalf("demo feeds running on a default hub (%d patterns)", n)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"all interfaces", func(c *Config) { c.Listen = "0.0.0.0:0" }, "loopback"},
		{"any address", func(c *Config) { c.Listen = ":0" }, "loopback"},
		{"a LAN address", func(c *Config) { c.Listen = "192.0.2.1:8080" }, "loopback"},
		{"external NATS", func(c *Config) { c.NATSURL = "nats://127.0.0.1:4222" }, "embedded NATS"},
	} {
		cfg := Config{Demo: true, Listen: "127.0.0.1:0", NATSListen: "127.0.0.1:-1", DataDir: t.TempDir()}
		tc.mutate(&cfg)
		srv, err := Start(context.Background(), cfg)
		if err == nil {
			_ = srv.Shutdown(context.Background())
			t.Fatalf("%s: demo mode started", tc.name)
		}
		if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: error %q, want one line naming %q", tc.name, msg, tc.want)
		}
	}
	for _, listen := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		if err := (Config{Demo: true, Listen: listen}).Validate(); err != nil {
			t.Errorf("demo on %s: %v", listen, err)
		}
	}
}

// POST /v1/demo/token has a rate per source, answers 429 with Retry-After
// past it, and writes one audit line per source and interval.
func TestDemoTokensAreRateLimitedAndAuditedInAggregate(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	s, logs := e.hub(t, func(c *Config) {
		fastDemo(c)
		c.DemoTokenRate, c.DemoTokenBurst = 0.1, 3
		c.DemoAuditInterval = 200 * time.Millisecond
	})
	for i := range 3 {
		status, raw := postAPI(t, s, "/v1/demo/token", "", "")
		var tr tokenResponse
		if status != http.StatusOK || json.Unmarshal(raw, &tr) != nil || tr.Token == "" {
			t.Fatalf("demo token %d: %d %s", i, status, raw)
		}
		e.remember(tr.Token)
	}
	for range 20 {
		resp := postDemoToken(t, s)
		retry, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.StatusCode != http.StatusTooManyRequests || err != nil || retry < 1 || retry > 10 {
			t.Fatalf("past the burst: %d, Retry-After %q; want 429 with 1 to 10 s", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		if h := resp.Header; h.Get("RateLimit-Limit") != "3" || h.Get("RateLimit-Remaining") != "0" || h.Get("RateLimit-Policy") != "3;w=30" {
			t.Fatalf("past the burst: rate-limit headers %v", h)
		}
	}
	// One line per interval: on a loaded machine the requests may span
	// several, so the lines must add up.
	var lines []map[string]any
	var count, refused float64
	testsupport.WaitFor(t, "the aggregated audit lines", 10*time.Second, func() bool {
		lines = auditLines(logs.String(), auth.EventDemoTokensIssued)
		count, refused = 0, 0
		for _, l := range lines {
			c, _ := l["count"].(float64)
			r, _ := l["refused"].(float64)
			count, refused = count+c, refused+r
		}
		return count+refused >= 23
	})
	if count != 3 || refused != 20 {
		t.Fatalf("aggregated lines %v add up to count %v, refused %v; want 3 and 20", lines, count, refused)
	}
	for _, line := range lines {
		if line["remote_ip"] != "127.0.0.1/32" || line["key_id"] != s.demoKeyID {
			t.Fatalf("aggregated line %v, want it for 127.0.0.1/32 and the demo key", line)
		}
	}
	if n := strings.Count(logs.String(), `"event":"`+auth.EventTokenIssued+`"`); n != 0 {
		t.Fatalf("%d token_issued lines for demo tokens, want none (aggregated)", n)
	}
	if got := s.auth.store.Counters().Snapshot().TokensIssued; got != 3 {
		t.Fatalf("%d tokens counted as issued, want 3", got)
	}
}

// One source cannot take every demo connection.
func TestDemoConnectionsAreCappedPerSource(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	s, _ := e.hub(t, func(c *Config) {
		fastDemo(c)
		c.DemoConnsPerSource = 2
	})
	token := func() string {
		_, raw := postAPI(t, s, "/v1/demo/token", "", "")
		var tr tokenResponse
		if err := json.Unmarshal(raw, &tr); err != nil || tr.Token == "" {
			t.Fatalf("demo token: %s", raw)
		}
		return e.remember(tr.Token)
	}
	first := dialToken(t, s, token())
	dialToken(t, s, token()).alive()
	third := dialBrowser(t, s)
	third.expectError(protocol.Command{Op: protocol.OpAuth, Token: token()}, protocol.CodeAuthRequired)
	awaitClose(t, watchClose(third, 10*time.Second), protocol.CloseLimitExceeded)
	// A slot given back is a slot to take again.
	_ = first.conn.Close(1000, "")
	testsupport.WaitFor(t, "the slot released", 5*time.Second, func() bool {
		return s.auth.limiter.Conns("demo source 127.0.0.1/32") == 1
	})
	dialToken(t, s, token()).alive()
}

// postDemoToken posts to /v1/demo/token and returns the response, body read.
func postDemoToken(t *testing.T, s *Server) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx10(t), http.MethodPost, "http://"+s.Addr()+"/v1/demo/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// auditLine returns the first JSON log line of the audit event, or nil.
func auditLine(logs, event string) map[string]any {
	if l := auditLines(logs, event); len(l) > 0 {
		return l[0]
	}
	return nil
}

// auditLines returns every audit line of event in logs, in order.
func auditLines(logs, event string) []map[string]any {
	var out []map[string]any
	for _, l := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == auth.AuditMessage && m["event"] == event {
			out = append(out, m)
		}
	}
	return out
}

// The per-source buckets are bounded: past max sources the one idle
// longest is forgotten, idle sources are dropped at the audit flush, and an
// IPv6 source is its /64.
func TestDemoSourcesAreBounded(t *testing.T) {
	t.Parallel()
	d := newDemoSources(1, 2, 3)
	now := time.Unix(1_700_000_000, 0)
	src := func(s string) netip.Prefix { return demoSourceKey(netip.MustParseAddr(s)) }
	for i, a := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"} {
		if ok, _ := d.allow(src(a), now.Add(time.Duration(i)*time.Millisecond)); !ok {
			t.Fatalf("first request of %s refused", a)
		}
	}
	if len(d.m) != 3 || d.m[src("192.0.2.1")] != nil {
		t.Fatalf("sources %v: want 3, without the one idle longest", d.m)
	}
	// Two addresses of one /64 share a bucket.
	a, b := src("2001:db8::1"), src("2001:db8::ffff:1")
	if a != b || a.Bits() != 64 {
		t.Fatalf("IPv6 sources %v and %v, want one /64", a, b)
	}
	d.allow(a, now)
	d.allow(b, now)
	if ok, q := d.allow(a, now); ok || q.RetryAfter <= 0 || q.RetryAfter > time.Second || q.Remaining != 0 || q.Limit != 2 {
		t.Fatalf("third request of a /64 with burst 2: ok %v, quota %+v", ok, q)
	}
	counts := d.flush(now)
	if len(counts) != 3 {
		t.Fatalf("flush: %v, want the 3 sources seen", counts)
	}
	// Nothing since: every source idle past a full refill is forgotten.
	if c := d.flush(now.Add(time.Minute)); len(c) != 0 || len(d.m) != 0 {
		t.Fatalf("after an idle minute: counts %v, %d sources kept", c, len(d.m))
	}
}

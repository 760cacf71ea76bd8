package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/gateway"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// scrape returns the hub's /metrics text.
func scrape(t testing.TB, s *Server) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx10(t), http.MethodGet, "http://"+s.Addr()+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return string(b)
}

// metricValue returns the value of the sample line that starts with series
// (name and labels, exactly as exposed), or -1 when there is none.
func metricValue(body, series string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// Every HTTP error is {"code","message"} with the codes of "error" frames:
// the token and publish API, and a refused WebSocket upgrade.
func TestHTTPErrorBodiesCarryProtocolCodes(t *testing.T) {
	e := newAuthEnv(t)
	s, _ := e.hub(t, nil)
	pub, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"jobs.acme.>"}, Publish: []string{"jobs.acme.>"}})

	decode := func(what string, raw []byte) protocol.HTTPError {
		t.Helper()
		var body protocol.HTTPError
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil || body.Message == "" {
			t.Fatalf("%s: body %s is not {\"code\",\"message\"}: %v", what, raw, err)
		}
		return body
	}
	for _, tc := range []struct {
		name, path, key, body string
		status                int
		code                  protocol.ErrorCode
	}{
		{"token without key", "/v1/tokens", "", "", http.StatusUnauthorized, protocol.CodeAuthRequired},
		{"token with unknown key", "/v1/tokens", "sh_test_AAAAAAAAAAAA_" + strings.Repeat("A", 38), "", http.StatusUnauthorized, protocol.CodeAuthRequired},
		{"token for a pattern outside the key", "/v1/tokens", pub, `{"subscribe":["ticks.>"]}`, http.StatusForbidden, protocol.CodeForbidden},
		{"token for an invalid pattern", "/v1/tokens", pub, `{"subscribe":["jobs..x"]}`, http.StatusBadRequest, protocol.CodeInvalidSubject},
		{"publish to a wildcard", "/v1/publish", pub, `{"subject":"jobs.acme.*","data":{}}`, http.StatusBadRequest, protocol.CodeInvalidSubject},
		{"publish invalid JSON", "/v1/publish", pub, `{"subject":`, http.StatusBadRequest, protocol.CodeBadRequest},
		{"publish outside the scope", "/v1/publish", pub, `{"subject":"jobs.globex.j1","data":{}}`, http.StatusForbidden, protocol.CodeForbidden},
	} {
		status, raw := postAPI(t, s, tc.path, tc.key, tc.body)
		if status != tc.status {
			t.Errorf("%s: status %d %s, want %d", tc.name, status, raw, tc.status)
			continue
		}
		if body := decode(tc.name, raw); body.Code != tc.code {
			t.Errorf("%s: code %q (%s), want %q", tc.name, body.Code, body.Message, tc.code)
		}
	}

	status, raw := upgradeStatus(t, s, authHeader("sh_test_AAAAAAAAAAAA_"+strings.Repeat("A", 38)))
	if status != http.StatusUnauthorized {
		t.Fatalf("upgrade with an unknown key: %d %s", status, raw)
	}
	if body := decode("upgrade with an unknown key", []byte(raw)); body.Code != protocol.CodeAuthRequired || strings.Contains(body.Message, "gateway:") {
		t.Errorf("upgrade with an unknown key: %+v", body)
	}
}

// A revocation made elsewhere (here: by another hub's store, as `hub keys
// revoke` would) is counted by the hub that acted on it, once; the store
// that made it counts it once too.
func TestRevokedKeyCounterCountsRevocationsTheHubActedOn(t *testing.T) {
	e := newAuthEnv(t)
	a, _ := e.hub(t, nil)
	b, _ := e.hub(t, func(c *Config) { useNATS(c, a.NATSURL(), a.NATSCredentials()) })
	secret, rec := e.key(t, a, auth.CreateRequest{Subscribe: []string{"ticks.>"}})
	testsupport.WaitFor(t, "hub B to see the key", 5*time.Second, func() bool { _, ok := b.auth.store.Get(rec.ID); return ok })
	closed := watchClose(dialKey(t, a, secret), 10*time.Second)

	revoke(t, b, rec.ID)
	awaitClose(t, closed, protocol.CloseKeyRevoked) // hub A acted on it
	const series = `streamhub_key_events_total{event="revoked"}`
	testsupport.WaitFor(t, "hub A to count the revocation", 5*time.Second, func() bool { return metricValue(scrape(t, a), series) == 1 })
	if got := metricValue(scrape(t, b), series); got != 1 {
		t.Errorf("the revoking hub counts %v revocations, want 1", got)
	}
	revoke(t, b, rec.ID) // revoking again changes nothing
	if got := metricValue(scrape(t, a), series); got != 1 {
		t.Errorf("after a second revoke, hub A counts %v, want 1", got)
	}
}

// Live deliveries are observed in streamhub_delivery_latency_seconds, once
// per written batch; the build is exported as streamhub_build_info.
func TestDeliveryLatencyAndBuildInfoMetrics(t *testing.T) {
	s := startHub(t, func(c *Config) {
		fastDemo(c)
		c.Build = BuildInfo{Version: "v9.8.7", Commit: "abc123"}
	})
	if got := metricValue(scrape(t, s), "streamhub_delivery_latency_seconds_count"); got != 0 {
		t.Fatalf("latency count before any delivery: %v", got)
	}
	c := dial(t, s, "")
	c.subscribe(protocol.Command{}, "ticks.>")
	c.events(5*time.Second, func(e []protocol.EventFrame) bool { return len(e) >= 5 })

	body := scrape(t, s)
	count := metricValue(body, "streamhub_delivery_latency_seconds_count")
	batches := metricValue(body, "streamhub_batches_total")
	if count < 1 || count > batches {
		t.Fatalf("latency observations %v, want 1 to %v (one per batch)", count, batches)
	}
	if sum := metricValue(body, "streamhub_delivery_latency_seconds_sum"); sum <= 0 || sum/count > 1 {
		t.Errorf("latency sum %v over %v batches: want a positive mean below 1 s on loopback", sum, count)
	}
	if inf := metricValue(body, `streamhub_delivery_latency_seconds_bucket{le="+Inf"}`); inf != count {
		t.Errorf("+Inf bucket %v, want the count %v", inf, count)
	}
	build := regexp.MustCompile(`(?m)^streamhub_build_info\{commit="abc123",goversion="unknown",version="v9.8.7"\} 1$`)
	if !build.MatchString(body) {
		t.Errorf("no streamhub_build_info with the configured build in:\n%s", grepLines(body, "build_info"))
	}
}

func grepLines(body, substr string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The histogram puts each latency in the first bucket whose bound is not
// below it, and reports cumulative counts.
func TestLatencyHistogramBuckets(t *testing.T) {
	var h gateway.LatencyHistogram
	for _, d := range []time.Duration{-time.Millisecond, 100 * time.Microsecond, 150 * time.Microsecond, 3 * time.Millisecond, time.Minute} {
		h.Observe(d)
	}
	n, sum, buckets := h.Snapshot()
	if n != 5 {
		t.Fatalf("count %d, want 5", n)
	}
	if want := (100*time.Microsecond + 150*time.Microsecond + 3*time.Millisecond + time.Minute).Seconds(); sum < want-1e-9 || sum > want+1e-9 {
		t.Errorf("sum %v, want %v (a negative latency counts as 0)", sum, want)
	}
	for bound, want := range map[float64]uint64{0.0001: 2, 0.00025: 3, 0.001: 3, 0.005: 4, 10: 4} {
		if buckets[bound] != want {
			t.Errorf("bucket le=%v: %d, want %d", bound, buckets[bound], want)
		}
	}
}

// A hub that cannot start returns an error and leaves nothing running: no
// panic from a teardown or a demo feed that used the server Start gave up.
func TestStartFailureIsAnErrorNotAPanic(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	s, err := Start(ctx10(t), Config{Listen: busy.Addr().String(), NATSListen: "127.0.0.1:-1", DataDir: dir, Demo: true})
	if s != nil || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Start on a busy port = %v, %v; want nil and address in use", s, err)
	}
	// Everything was stopped: the data dir is free for the next hub.
	unlock, err := bus.LockStoreDir(dir)
	if err != nil {
		t.Fatalf("the failed hub still holds its data dir: %v", err)
	}
	unlock()
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// apiKey matches an API key as hub keys create prints it; group 2 is its id.
var apiKey = regexp.MustCompile(`sh_(live|test)_([0-9A-Za-z]{12})_[0-9A-Za-z]{38}`)

// The commands the README shows, in its order, each on its success path
// against one real hub (serve, in-process, with its embedded NATS on
// loopback): health, subscribe with a demo token, publish, keys
// create/list, subscribe with the key, keys revoke. The one-shot commands
// run as the real binary; the subscribers run in-process, to be stopped. Along the way: the
// metrics that say the hub acted (revoked-key counter, delivery latency,
// build info), JSON logs, and a clean stop.
func TestREADMECommandsSucceedAgainstARealHub(t *testing.T) {
	addr, natsAddr := freeAddr(t), freeAddr(t)
	dataDir := t.TempDir()
	base, natsURL := "http://"+addr, "nats://"+natsAddr
	logs := &testsupport.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- runIO(ctx, []string{"serve", "--demo", "--listen", addr, "--nats-listen", natsAddr,
			"--data-dir", dataDir, "--log-format", "json"}, env(nil), io.Discard, logs)
	}()

	// The commands see the environment the image sets (Dockerfile), as
	// `docker exec … /hub keys create --nats-url …` does: --nats-url must
	// win over STREAMHUB_DATA_DIR, which names the running hub's locked
	// store.
	cliEnv := map[string]string{"STREAMHUB_DATA_DIR": dataDir, "STREAMHUB_LISTEN": "0.0.0.0:8080", "STREAMHUB_DEMO": "false"}
	// mustCLI runs one command of the real binary to its end, as a user at
	// a terminal would (with no deadline on its context), requiring exit 0.
	mustCLI := func(args ...string) string {
		t.Helper()
		r := hub(t, cliEnv, args...)
		if r.code != exitOK {
			t.Fatalf("hub %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		return r.stdout
	}

	// hub health: the container's health check, here the wait for startup.
	testsupport.WaitFor(t, "hub health to pass", 30*time.Second, func() bool {
		return hub(t, nil, "health", "--url", base, "--timeout", "1s").code == exitOK
	})

	// As the image's HEALTHCHECK runs it: no flags, the address from
	// STREAMHUB_LISTEN (all interfaces, asked on loopback).
	_, port, _ := net.SplitHostPort(addr)
	if r := hub(t, map[string]string{"STREAMHUB_LISTEN": "0.0.0.0:" + port}, "health"); r.code != exitOK {
		t.Fatalf("hub health with STREAMHUB_LISTEN=0.0.0.0:%s: exit %d %s", port, r.code, r.stderr)
	}

	// hub subscribe (demo token), then hub publish of the README's job.
	const job = `{"tenant":"acme","job_id":"j_hello","state":"done","percent":100}`
	watched := &testsupport.Buffer{}
	watching := make(chan error, 1)
	go func() {
		watching <- runIO(ctx, []string{"subscribe", "--url", base, "--count", "1", "jobs.acme.j_hello"}, env(nil), watched, io.Discard)
	}()
	// The subscription may not be in place for the first publish: publish
	// until the watcher has the job; every publish must succeed.
	arrived := false
	deadline := time.Now().Add(20 * time.Second)
	for !arrived && time.Now().Before(deadline) {
		out := mustCLI("publish", "--nats-url", natsURL, "--critical", "jobs.acme.j_hello", job)
		if want := fmt.Sprintf("published %d bytes to jobs.acme.j_hello\n", len(job)); out != want {
			t.Fatalf("hub publish printed %q, want %q", out, want)
		}
		select {
		case err := <-watching:
			if err != nil {
				t.Fatalf("hub subscribe: %v", err)
			}
			arrived = true
		case <-time.After(200 * time.Millisecond):
		}
	}
	if !arrived {
		t.Fatal("the published job never reached hub subscribe")
	}
	if got := watched.String(); !regexp.MustCompile(`^jobs\.acme\.j_hello seq=\d+ critical \{.*"state":"done".*\}\n$`).MatchString(got) {
		t.Fatalf("hub subscribe printed %q", got)
	}

	// hub keys create / list, through the hub's NATS.
	created := mustCLI("keys", "create", "--nats-url", natsURL, "--name", "trader", "--subscribe", "ticks.>", "--expires", "720h")
	m := apiKey.FindStringSubmatch(created)
	if m == nil {
		t.Fatalf("hub keys create printed no key:\n%s", created)
	}
	key, id := m[0], m[2]
	if listed := mustCLI("keys", "list", "--nats-url", natsURL); !strings.Contains(listed, id) || !strings.Contains(listed, "trader") || strings.Contains(listed, key) {
		t.Fatalf("hub keys list:\n%s", listed)
	}

	// hub subscribe with the key, running while the key is revoked.
	keyed := &testsupport.Buffer{}
	keyedDone := make(chan error, 1)
	go func() {
		keyedDone <- runIO(ctx, []string{"subscribe", "--url", base, "--key", key, "ticks.*.BTC-USD"}, env(nil), keyed, io.Discard)
	}()
	testsupport.WaitFor(t, "ticks for the key's subscriber", 20*time.Second, func() bool {
		return strings.Contains(keyed.String(), "BTC-USD seq=")
	})
	if out := mustCLI("keys", "revoke", "--nats-url", natsURL, id); !strings.Contains(out, "Revoked key "+id) {
		t.Fatalf("hub keys revoke printed:\n%s", out)
	}
	// hub keys audit: who created and revoked it, from the journal.
	if out := mustCLI("keys", "audit", "--nats-url", natsURL, "--key", id); !regexp.MustCompile(`key_created +`+id+` +cli `).MatchString(out) ||
		!regexp.MustCompile(`key_revoked +`+id+` +cli `).MatchString(out) || strings.Contains(out, key) {
		t.Fatalf("hub keys audit printed:\n%s", out)
	}
	select {
	case err := <-keyedDone:
		if err == nil || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("the revoked key's subscriber ended with %v, want a revocation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the revoked key's subscriber is still running")
	}

	// The hub counted what it did.
	metrics := func() string {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
		req.Close = true
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	testsupport.WaitFor(t, "the revocation in the hub's metrics", 10*time.Second, func() bool {
		return strings.Contains(metrics(), "streamhub_key_events_total{event=\"revoked\"} 1\n")
	})
	body := metrics()
	if !regexp.MustCompile(`(?m)^streamhub_delivery_latency_seconds_count [1-9]`).MatchString(body) {
		t.Error("no delivery latency observed")
	}
	if !regexp.MustCompile(`(?m)^streamhub_build_info\{commit="[^"]+",goversion="` + regexp.QuoteMeta(runtime.Version()) + `",version="[^"]+"\} 1$`).MatchString(body) {
		t.Error("no streamhub_build_info with this Go version")
	}

	// Ctrl-C: an orderly shutdown, and run returns nil (exit 0).
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve returned %v after its context ended", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not return after cancel")
	}

	// --log-format json: every line is a JSON object; the demo key, which
	// never expires, is logged as such and not as year 1.
	sawDemoKey := false
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["msg"] == nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["event"] == "key_created" && strings.HasPrefix(rec["name"].(string), "demo") {
			sawDemoKey = true
			if rec["expires"] != "never" {
				t.Errorf("the demo key was logged with expires=%v, want never", rec["expires"])
			}
		}
	}
	if strings.Contains(logs.String(), "0001-01-01") {
		t.Error("a zero time (year 1) was logged")
	}
	if !sawDemoKey {
		t.Error("the demo key's creation was not logged")
	}
}

package tracing

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

func TestParseTraceparent(t *testing.T) {
	sc, ok := ParseTraceparent(parent)
	if !ok || !sc.IsSampled() || !sc.IsRemote() || sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" ||
		sc.SpanID().String() != "00f067aa0ba902b7" {
		t.Fatalf("%s: %v %v", parent, sc, ok)
	}
	if sc, ok := ParseTraceparent(strings.TrimSuffix(parent, "01") + "00"); !ok || sc.IsSampled() {
		t.Fatalf("unsampled parent: %v %v", sc, ok)
	}
	if _, ok := ParseTraceparent("01" + parent[2:] + "-future"); !ok {
		t.Fatal("a later version with more fields is read by its first fields")
	}
	for _, bad := range []string{
		"", "00", parent + "-x", "ff" + parent[2:], strings.ToUpper(parent),
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
	} {
		if _, ok := ParseTraceparent(bad); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}

func FuzzParseTraceparent(f *testing.F) {
	for _, s := range []string{parent, "", "ff" + parent[2:], "01" + parent[2:] + "-x", strings.ToUpper(parent)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, ok := ParseTraceparent(s)
		if !ok {
			return
		}
		if !sc.IsValid() || len(s) < 55 {
			t.Fatalf("accepted %q as %v", s, sc)
		}
		// What it accepts, it passes on unchanged (the fields it read).
		if got := s[3:35] + s[36:52]; got != sc.TraceID().String()+sc.SpanID().String() {
			t.Fatalf("%q read as %v", s, sc)
		}
	})
}

// FromHTTP passes on a valid trace context only.
func TestFromHTTP(t *testing.T) {
	h := http.Header{"Traceparent": {parent}, "Tracestate": {"vendor=x"}}
	if tp, ts := FromHTTP(h); tp != parent || ts != "vendor=x" {
		t.Fatalf("valid: %q %q", tp, ts)
	}
	h.Set("Tracestate", strings.Repeat("a=b,", 200))
	if tp, ts := FromHTTP(h); tp != parent || ts != "" {
		t.Fatalf("oversized tracestate: %q %q", tp, ts)
	}
	h.Set("Traceparent", "junk")
	if tp, ts := FromHTTP(h); tp != "" || ts != "" {
		t.Fatalf("junk traceparent: %q %q", tp, ts)
	}
}

// Sampling: a sampled parent is always traced, an unsampled one never, and
// messages without a parent at the ratio; off means a nil tracer.
func TestSampling(t *testing.T) {
	if tr, err := New(context.Background(), Config{}); tr != nil || err != nil {
		t.Fatalf("no endpoint: %v %v", tr, err)
	}
	if _, err := New(context.Background(), Config{Endpoint: "collector:4318"}); err == nil {
		t.Fatal("an endpoint without a scheme was accepted")
	}
	exp := tracetest.NewInMemoryExporter()
	never, err := New(context.Background(), Config{Exporter: exp, SampleRatio: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer never.Shutdown(context.Background())
	now := time.Now()
	if never.Start("a", "", "", now) != nil || never.Start("a", strings.TrimSuffix(parent, "01")+"00", "", now) != nil {
		t.Fatal("traced a message that was not to be sampled")
	}
	tr := never.Start("a", parent, "", now)
	if tr == nil {
		t.Fatal("a sampled parent was not followed")
	}
	tr.End()
	always, err := New(context.Background(), Config{Exporter: exp, SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer always.Shutdown(context.Background())
	if always.Start("a", "", "", now) == nil {
		t.Fatal("ratio 1 did not trace")
	}
	half, err := New(context.Background(), Config{Exporter: exp, SampleRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	defer half.Shutdown(context.Background())
	n := 0
	for range 2000 {
		if tr := half.Start("a", "", "", now); tr != nil {
			n++
			tr.End()
		}
	}
	if n < 800 || n > 1200 { // 2000 draws at 1/2: 9 standard deviations either side
		t.Fatalf("ratio 0.5 traced %d of 2000", n)
	}
}

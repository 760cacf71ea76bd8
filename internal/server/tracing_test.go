package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
	"github.com/streamhub/streamhub/internal/tracing"
)

const (
	pubTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	pubSpan  = "00f067aa0ba902b7"
)

// spansOf waits for the spans of trace id: one of each name in want (and
// as many write spans as writes), and returns them by name.
func spansOf(t *testing.T, exp *tracetest.InMemoryExporter, traceID string, want ...string) map[string]tracetest.SpanStub {
	t.Helper()
	got := map[string]tracetest.SpanStub{}
	testsupport.WaitFor(t, "spans "+strings.Join(want, ", "), 20*time.Second, func() bool {
		clear(got)
		for _, s := range exp.GetSpans() {
			if s.SpanContext.TraceID().String() == traceID {
				got[s.Name] = s
			}
		}
		for _, n := range want {
			if _, ok := got[n]; !ok {
				return false
			}
		}
		return true
	})
	return got
}

// A publisher's traceparent on a NATS message is carried through ingest,
// fan-out and the socket write: the hub's spans join the publisher's
// trace, ingest as the publisher span's child, fan-out and write as
// children of ingest. A message whose traceparent says "not sampled", and
// one without any (ratio: never), leave no span.
func TestTraceFromNATSPublisher(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	s := startHub(t, func(c *Config) { c.Tracing = tracing.Config{Exporter: exp, SampleRatio: -1} })
	c := dial(t, s, "")
	c.subscribe(protocol.Command{}, "ticks.tr.*")
	waitPatterns(t, s, "ticks.tr.*")
	nc := natsPublisher(t, s)
	publish := func(subj, traceparent string) {
		m := nats.NewMsg(subj)
		m.Data = []byte(`{"p":1}`)
		if traceparent != "" {
			m.Header.Set("traceparent", traceparent)
		}
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	publish("ticks.tr.none", "")
	publish("ticks.tr.off", "00-"+strings.Repeat("1", 32)+"-"+pubSpan+"-00")
	publish("ticks.tr.on", "00-"+pubTrace+"-"+pubSpan+"-01")
	c.events(10*time.Second, func(evs []protocol.EventFrame) bool { return len(evs) >= 3 })

	sp := spansOf(t, exp, pubTrace, tracing.SpanIngest, tracing.SpanFanout, tracing.SpanWrite)
	ing, fan, wr := sp[tracing.SpanIngest], sp[tracing.SpanFanout], sp[tracing.SpanWrite]
	if ing.Parent.SpanID().String() != pubSpan || !ing.Parent.IsRemote() {
		t.Fatalf("ingest span's parent %v, want the publisher's span %s", ing.Parent, pubSpan)
	}
	for name, s := range map[string]tracetest.SpanStub{"fan-out": fan, "write": wr} {
		if s.Parent.SpanID() != ing.SpanContext.SpanID() {
			t.Fatalf("%s span's parent %v, want the ingest span %v", name, s.Parent.SpanID(), ing.SpanContext.SpanID())
		}
		if s.StartTime.Before(ing.StartTime) || s.EndTime.Before(s.StartTime) {
			t.Fatalf("%s span [%v, %v] outside ingest's start %v", name, s.StartTime, s.EndTime, ing.StartTime)
		}
	}
	if !hasAttr(fan, "streamhub.subscribers", "1") || !hasAttr(ing, "messaging.destination.name", "ticks.tr.on") {
		t.Fatalf("attributes: fan-out %v, ingest %v", fan.Attributes, ing.Attributes)
	}
	for _, s := range exp.GetSpans() {
		if id := s.SpanContext.TraceID().String(); id != pubTrace {
			t.Fatalf("an unsampled message left span %s in trace %s", s.Name, id)
		}
	}
	if n := len(exp.GetSpans()); n != 3 {
		t.Fatalf("%d spans, want 3: %v", n, exp.GetSpans())
	}
}

func hasAttr(s tracetest.SpanStub, key, value string) bool {
	for _, a := range s.Attributes {
		if string(a.Key) == key && a.Value.Emit() == value {
			return true
		}
	}
	return false
}

// An HTTP publish with a traceparent gets a span of its own, the child of
// the caller's; the message's ingest span is its child.
func TestTraceFromHTTPPublish(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	e := newAuthEnv(t)
	s, _ := e.hub(t, func(c *Config) { c.Tracing = tracing.Config{Exporter: exp, SampleRatio: -1} })
	secret, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"jobs.acme.>"}, Publish: []string{"jobs.acme.>"}})
	c := dialKey(t, s, secret)
	c.subscribe(protocol.Command{}, "jobs.acme.>")
	waitPatterns(t, s, "jobs.acme.>")
	r := callAPI(t, s, http.MethodPost, "/v1/publish", secret, strings.NewReader(`{"subject":"jobs.acme.j1","data":{"x":1}}`),
		http.Header{"Traceparent": {"00-" + pubTrace + "-" + pubSpan + "-01"}})
	if r.status != http.StatusOK {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	c.events(10*time.Second, func(evs []protocol.EventFrame) bool { return len(evs) >= 1 })
	sp := spansOf(t, exp, pubTrace, tracing.SpanPublish, tracing.SpanIngest, tracing.SpanWrite)
	pub, ing := sp[tracing.SpanPublish], sp[tracing.SpanIngest]
	if pub.Parent.SpanID().String() != pubSpan || ing.Parent.SpanID() != pub.SpanContext.SpanID() ||
		sp[tracing.SpanWrite].Parent.SpanID() != ing.SpanContext.SpanID() || pub.SpanKind != trace.SpanKindServer {
		t.Fatalf("publish %v ← ingest %v ← write %v", pub.Parent, ing.Parent, sp[tracing.SpanWrite].Parent)
	}
}

// Package tracing follows sampled messages through the hub with
// OpenTelemetry: a span for ingest (child of the publisher's span when the
// message carried a W3C traceparent), one for the fan-out, one per socket
// write. It is optional: without an OTLP endpoint [New] returns nil and the
// hub pays nothing.
//
// Sampling is decided once per message, at ingest: a message whose
// traceparent says sampled is traced, one whose traceparent says not
// sampled is not, and one without a traceparent starts a trace with
// probability Config.SampleRatio. An unsampled message carries no trace
// (fanout.Message.Trace is nil): the fan-out and the writers test one nil
// pointer and do nothing else.
//
// A [Tracer] is safe for concurrent use; it owns the SDK's export
// goroutine, which Shutdown stops.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/streamhub/streamhub/internal/ingest"
)

// Environment variables of the OTLP exporter that turn tracing on when
// Config.Endpoint is empty (the exporter reads them itself).
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
)

// DefaultSampleRatio is Config.SampleRatio's default: 1 % of the messages
// that come without a trace context start one.
const DefaultSampleRatio = 0.01

// Span names.
const (
	SpanIngest  = "streamhub.ingest"
	SpanFanout  = "streamhub.fanout"
	SpanWrite   = "streamhub.write"
	SpanPublish = "streamhub.http.publish"
)

// Config configures tracing. The zero value, with no OTLP variable in the
// environment, means off.
type Config struct {
	// Endpoint is the OTLP/HTTP collector URL, e.g. http://127.0.0.1:4318.
	// Empty means the standard OTEL_EXPORTER_OTLP_ENDPOINT (or
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) variable; with neither, tracing
	// is off.
	Endpoint string
	// SampleRatio is the probability, 0 to 1, that a message without a
	// traceparent starts a trace; 0 means DefaultSampleRatio (1 %), a
	// negative value never. Messages with a traceparent follow its
	// sampled flag.
	SampleRatio float64
	// ServiceName is the service.name resource attribute. Default
	// "streamhub".
	ServiceName string
	// Exporter, when set, receives the spans instead of OTLP, one by one
	// as they end (tests use tracetest.InMemoryExporter). Tracing is on.
	Exporter sdktrace.SpanExporter
	// Getenv reads the environment; nil means no environment.
	Getenv func(string) string
}

// Enabled reports whether c turns tracing on.
func (c Config) Enabled() bool {
	env := func(k string) string {
		if c.Getenv == nil {
			return ""
		}
		return c.Getenv(k)
	}
	return c.Exporter != nil || c.Endpoint != "" || env(EnvEndpoint) != "" || env(EnvTracesEndpoint) != ""
}

// Validate checks the endpoint and the ratio.
func (c Config) Validate() error {
	if c.SampleRatio > 1 || math.IsNaN(c.SampleRatio) {
		return fmt.Errorf("tracing: sample ratio %v is not between 0 and 1", c.SampleRatio)
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("tracing: OTLP endpoint %q: want an http or https URL, e.g. http://127.0.0.1:4318", c.Endpoint)
		}
	}
	return nil
}

// Tracer creates the hub's spans. Its methods are safe for concurrent use.
type Tracer struct {
	tp        *sdktrace.TracerProvider
	tr        trace.Tracer
	threshold uint64 // a message without traceparent is sampled when rand.Uint64() < threshold
	always    bool   // ratio 1: no draw
}

var _ ingest.Tracer = (*Tracer)(nil)

// New returns the tracer cfg describes, or nil (and no error) when tracing
// is off.
func New(ctx context.Context, cfg Config) (*Tracer, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ServiceName == "" {
		cfg.ServiceName = "streamhub"
	}
	ratio := cfg.SampleRatio
	switch {
	case ratio == 0:
		ratio = DefaultSampleRatio
	case ratio < 0:
		ratio = 0
	}
	var proc sdktrace.SpanProcessor
	if cfg.Exporter != nil {
		proc = sdktrace.NewSimpleSpanProcessor(cfg.Exporter)
	} else {
		var opts []otlptracehttp.Option
		if cfg.Endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(cfg.Endpoint))
		}
		exp, err := otlptracehttp.New(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
		}
		proc = sdktrace.NewBatchSpanProcessor(exp)
	}
	return newTracer(proc, ratio, cfg.ServiceName), nil
}

// newTracer returns a tracer exporting through proc that starts traces for
// the share ratio (0 to 1) of messages without a traceparent.
func newTracer(proc sdktrace.SpanProcessor, ratio float64, service string) *Tracer {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.AlwaysSample()), // decided per message, before a span exists
		sdktrace.WithSpanProcessor(proc),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))),
	)
	t := &Tracer{tp: tp, tr: tp.Tracer("github.com/streamhub/streamhub"), always: ratio >= 1}
	if !t.always {
		t.threshold = uint64(ratio * math.MaxUint64)
	}
	return t
}

// Shutdown exports what is buffered and stops the exporter, bounded by
// ctx. A nil Tracer does nothing.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if err := t.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// sample decides a message's fate from its traceparent: the parent's
// context when it is valid, and whether to trace.
func (t *Tracer) sample(traceparent string) (trace.SpanContext, bool) {
	if traceparent != "" {
		if sc, ok := ParseTraceparent(traceparent); ok {
			return sc, sc.IsSampled()
		}
	}
	return trace.SpanContext{}, t.always || rand.Uint64() < t.threshold
}

// Start implements ingest.Tracer: it decides whether the message is traced
// and, if so, starts its ingest span at received.
func (t *Tracer) Start(subject, traceparent, tracestate string, received time.Time) ingest.Trace {
	parent, ok := t.sample(traceparent)
	if !ok {
		return nil
	}
	ctx := context.Background()
	if parent.IsValid() {
		if ts, err := trace.ParseTraceState(tracestate); err == nil {
			parent = parent.WithTraceState(ts)
		}
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	ctx, span := t.tr.Start(ctx, SpanIngest, trace.WithTimestamp(received), trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "nats"), attribute.String("messaging.destination.name", subject)))
	return &messageTrace{t: t, ctx: ctx, span: span}
}

// messageTrace is one sampled message's trace: its ingest span and the
// context its fan-out and write spans are children of.
type messageTrace struct {
	t    *Tracer
	ctx  context.Context // carries the ingest span
	span trace.Span
}

func (m *messageTrace) End() { m.span.End() }

func (m *messageTrace) FannedOut(start, end time.Time, subscribers int) {
	_, s := m.t.tr.Start(m.ctx, SpanFanout, trace.WithTimestamp(start),
		trace.WithAttributes(attribute.Int("streamhub.subscribers", subscribers)))
	s.End(trace.WithTimestamp(end))
}

func (m *messageTrace) Written(start, end time.Time, client string, err error) {
	_, s := m.t.tr.Start(m.ctx, SpanWrite, trace.WithTimestamp(start), trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("streamhub.session", client)))
	if err != nil && !errors.Is(err, context.Canceled) {
		s.SetStatus(codes.Error, err.Error())
	}
	s.End(trace.WithTimestamp(end))
}

// StartPublish starts the span of an HTTP publish whose request carried
// traceparent and tracestate (either may be empty), deciding its sampling
// like ingest does. It returns the traceparent and tracestate to put on
// the NATS messages it publishes, so that their ingest spans are its
// children, and the function that ends the span (ok false: not sampled,
// nothing to end; the request's own context, if any, is passed on as is).
func (t *Tracer) StartPublish(traceparent, tracestate string, messages int) (tp, ts string, end func(err error), ok bool) {
	parent, sampled := t.sample(traceparent)
	if !sampled {
		return traceparent, tracestate, nil, false
	}
	ctx := context.Background()
	if parent.IsValid() {
		if st, err := trace.ParseTraceState(tracestate); err == nil {
			parent = parent.WithTraceState(st)
		}
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	ctx, span := t.tr.Start(ctx, SpanPublish, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.Int("streamhub.messages", messages)))
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier.Get("traceparent"), carrier.Get("tracestate"), func(err error) {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}, true
}

// FromHTTP returns the W3C trace context of an HTTP request, to be passed
// on: its traceparent when it parses (else ""), and its tracestate when
// the traceparent does and the state is valid and at most 512 bytes.
func FromHTTP(h http.Header) (traceparent, tracestate string) {
	tp := h.Get("Traceparent")
	if _, ok := ParseTraceparent(tp); !ok {
		return "", ""
	}
	ts := h.Get("Tracestate")
	if _, err := trace.ParseTraceState(ts); err != nil || len(ts) > 512 {
		ts = ""
	}
	return tp, ts
}

// ParseTraceparent parses a W3C traceparent header,
// "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>" (future versions:
// the same fields first). It reports false for anything else, an all-zero
// id included.
func ParseTraceparent(s string) (trace.SpanContext, bool) {
	if len(s) < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return trace.SpanContext{}, false
	}
	ver, ok := hexByte(s[0:2])
	if !ok || ver == 0xff || (ver == 0 && len(s) != 55) || (ver != 0 && len(s) > 55 && s[55] != '-') {
		return trace.SpanContext{}, false
	}
	var tid trace.TraceID
	var sid trace.SpanID
	for i := range tid {
		if tid[i], ok = hexByte(s[3+2*i : 5+2*i]); !ok {
			return trace.SpanContext{}, false
		}
	}
	for i := range sid {
		if sid[i], ok = hexByte(s[36+2*i : 38+2*i]); !ok {
			return trace.SpanContext{}, false
		}
	}
	flags, ok := hexByte(s[53:55])
	if !ok || !tid.IsValid() || !sid.IsValid() {
		return trace.SpanContext{}, false
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags) & trace.FlagsSampled, Remote: true,
	}), true
}

// hexByte decodes two lowercase hex digits (W3C forbids uppercase).
func hexByte(s string) (byte, bool) {
	var b byte
	for i := 0; i < 2; i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			b = b<<4 | (c - '0')
		case 'a' <= c && c <= 'f':
			b = b<<4 | (c - 'a' + 10)
		default:
			return 0, false
		}
	}
	return b, true
}

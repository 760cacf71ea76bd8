package tracing

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/ingest"
)

// benchSink counts deliveries and reports its writes to the traces of the
// messages it carries, as the WebSocket sink does; the socket itself is not
// part of the cost measured.
type benchSink struct{ n atomic.Int64 }

func (s *benchSink) WriteBatch(_ context.Context, b *fanout.Batch) error {
	start := time.Now()
	var end time.Time
	for _, m := range b.Messages {
		if m.Trace != nil {
			if end.IsZero() {
				end = time.Now()
			}
			m.Trace.Written(start, end, "s_bench", nil)
		}
	}
	s.n.Add(int64(len(b.Messages)))
	return nil
}
func (s *benchSink) Close(fanout.CloseReason) error { return nil }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTracingDelivery measures the CPU per delivery of messages from
// NATS (ingest: decode, encode once) through the fan-out to 100
// subscribers' writers, with tracing off, and on with 0 % (the sampling
// decision alone), 1 % and 100 % of the messages sampled (no traceparent:
// the ratio decides). Spans go through
// the SDK's batch span processor to an exporter that discards them, as in
// production minus the network. Reported: cpu-ns/delivery (process CPU
// time, every goroutine, divided by deliveries) and allocs per message.
func BenchmarkTracingDelivery(b *testing.B) {
	for _, c := range []struct {
		name  string
		ratio float64 // < 0: tracing off
	}{{"off", -1}, {"sampled=0%", 0}, {"sampled=1%", 0.01}, {"sampled=100%", 1}} {
		b.Run(c.name, func(b *testing.B) {
			var tr *Tracer
			if c.ratio >= 0 {
				tr = newTracer(sdktrace.NewBatchSpanProcessor(tracetest.NewNoopExporter()), c.ratio, "bench")
				defer tr.Shutdown(context.Background())
			}
			benchDelivery(b, tr, 100)
		})
	}
}

func benchDelivery(b *testing.B, tr *Tracer, n int) {
	h := fanout.New(fanout.Config{})
	icfg := ingest.Config{}
	if tr != nil {
		icfg.Tracer = tr
	}
	in := ingest.New(h, icfg)
	sinks := make([]*benchSink, n)
	done := make(chan struct{}, n)
	for i := range sinks {
		sinks[i] = &benchSink{}
		c, err := h.Register(sinks[i], fanout.EncodingJSON)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Subscribe("bench.>", fanout.SubOptions{Policy: fanout.DropOldest}); err != nil {
			b.Fatal(err)
		}
		go func() { c.Run(); done <- struct{}{} }()
	}
	defer func() {
		h.Close()
		for range n {
			<-done
		}
	}()
	const subjects = 64
	msgs := make([]*nats.Msg, subjects)
	for i := range msgs {
		msgs[i] = &nats.Msg{Subject: fmt.Sprintf("bench.s%d", i), Data: []byte(`{"bid":"1.25","ask":"1.26"}`), Header: nats.Header{}}
	}
	chunk := 64
	want := int64(0)
	drain := func() {
		for _, s := range sinks {
			for s.n.Load() < want {
				time.Sleep(20 * time.Microsecond) // sleep, not spin: only the hub's CPU counts
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; {
		for j := 0; j < chunk && i < b.N; j++ {
			in.Handle(msgs[j%subjects], bus.Copy{Primary: true})
			i++
			want++
		}
		drain()
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(cpu.Nanoseconds())/(float64(b.N)*float64(n)), "cpu-ns/delivery")
	if st := h.Stats(); st.Dropped > 0 {
		b.Fatalf("%d messages dropped; the benchmark must deliver everything", st.Dropped)
	}
}

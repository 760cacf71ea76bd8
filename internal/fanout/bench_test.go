package fanout

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchSink does the least a sink can: it counts. The socket write is not
// part of the core's cost.
type benchSink struct{ n atomic.Int64 }

func (s *benchSink) WriteBatch(_ context.Context, b *Batch) error {
	s.n.Add(int64(len(b.Messages)))
	return nil
}
func (s *benchSink) Close(CloseReason) error { return nil }

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPublish measures publishing one message to n matching
// subscribers, including the writers' work: it publishes in chunks small
// enough for every queue and waits for all writers to drain each chunk
// (the bounded drain), so every message is delivered, none dropped.
// Reported: ns/op and allocs/op per publish, cpu-ns/delivery (process CPU
// time, all goroutines, divided by deliveries).
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{1, 100, 1_000, 10_000} {
		for _, policy := range []Policy{DropOldest, KeepLatest} {
			b.Run(fmt.Sprintf("subs=%d/%v", n, policy), func(b *testing.B) {
				benchPublish(b, n, policy)
			})
		}
	}
}

func benchPublish(b *testing.B, n int, policy Policy) {
	h := New(Config{})
	defer h.Close()
	sinks := make([]*benchSink, n)
	done := make(chan struct{}, n)
	for i := range sinks {
		sinks[i] = &benchSink{}
		c, err := h.Register(sinks[i], EncodingJSON)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Subscribe("ticks.>", SubOptions{Policy: policy}); err != nil {
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
	// Distinct subjects so keep-latest has nothing to conflate: every
	// message is delivered and the numbers compare with drop-oldest.
	const subjects = 64
	msgs := make([]*Message, subjects)
	frame := []byte(`{"subject":"ticks.coinbase.BTC-USD","epoch":1,"seq":1,"ts":1,"ingest":1,"data":{"bid":"1"}}`)
	for i := range msgs {
		msgs[i] = &Message{Subject: fmt.Sprintf("ticks.v.S%d", i), Epoch: 1, Seq: 1, Frames: [NumEncodings][]byte{frame, frame}}
	}
	chunk := max(1, min(subjects, 4096*64/n))
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
			h.Publish(msgs[j%subjects])
			i++
			want++
		}
		drain()
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	deliveries := float64(b.N) * float64(n)
	b.ReportMetric(float64(cpu.Nanoseconds())/deliveries, "cpu-ns/delivery")
	if st := h.Stats(); st.Dropped > 0 {
		b.Fatalf("%d messages dropped; the benchmark must deliver everything", st.Dropped)
	}
}

// BenchmarkMatch measures matching one subject against 10,000 distinct
// subscriptions (literal, "*" and ">" patterns), with the match cache (the
// steady state of a hot subject) and without it (every subject new).
func BenchmarkMatch(b *testing.B) {
	h := New(Config{MatchCacheSize: 1})
	defer h.Close()
	c, err := h.Register(&benchSink{}, EncodingJSON)
	if err != nil {
		b.Fatal(err)
	}
	h.cfg.MaxSubscriptions = 20_000
	for i := range 10_000 {
		var p string
		switch i % 4 {
		case 0, 1:
			p = fmt.Sprintf("ticks.v%d.S%d", i%50, i)
		case 2:
			p = fmt.Sprintf("chain.n%d.*", i)
		case 3:
			p = fmt.Sprintf("jobs.t%d.>", i)
		}
		if err := h.subscribe(c, &subscription{client: c, pattern: p, policy: DropOldest}); err != nil {
			b.Fatal(err)
		}
	}
	subject := "ticks.v0.S5000"
	b.Run("cached", func(b *testing.B) {
		h.reg.cacheMax = 4096
		b.ReportAllocs()
		for b.Loop() {
			if len(h.reg.match(subject)) != 1 {
				b.Fatal("no match")
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			h.reg.mu.Lock()
			subs := collect(&h.reg.root, subject, nil)
			h.reg.mu.Unlock()
			if len(subs) != 1 {
				b.Fatal("no match")
			}
		}
	})
}

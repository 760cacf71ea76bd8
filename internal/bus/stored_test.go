package bus

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// Stored families are delivered through one JetStream consumer per stream,
// so each message carries its stream position; the consumer is gone from
// the server once interest in the family ends, and their subjects never
// come through core subscriptions.
func TestRouterRoutesStoredPatternsThroughJetStream(t *testing.T) {
	e := startServer(t, -1, t.TempDir())
	c := connect(t, ConnConfig{URLs: e.ClientURL(), Credentials: e.Credentials()})
	js, err := jetstream.New(c.NATS())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := EnsureStreams(ctx, js, StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []StoredMsg
	core := &recorder{}
	r := NewRouter(c, core.handle, RouterConfig{JetStream: js, Stored: func(m StoredMsg) {
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}})
	w := newWantedSet()
	r.Start(w)
	t.Cleanup(func() { _ = r.Close() })
	// A wildcard reaching into every family: the consumers serve chain
	// and jobs, a core subscription the rest.
	w.want(t, r, "jobs.acme.>", "*.acme.>")
	if got := r.Patterns(); !slices.Equal(got, []string{"*.acme.>", StreamChainSubjects, StreamJobsSubjects}) {
		t.Fatalf("Patterns() = %v", got)
	}

	pub := publisher(t, e)
	pjs, _ := jetstream.New(pub)
	var want []uint64
	for _, subj := range []string{"jobs.acme.j1", "jobs.globex.j2", "jobs.acme.j3"} {
		ack, err := pjs.Publish(ctx, subj, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ack.Sequence)
	}
	publish(t, pub, "ticks.acme.X", "t")
	// The consumer serves the whole stream; the hub's matcher picks.
	testsupport.WaitFor(t, "three stored messages and a tick", waitTimeout, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 3 && core.count("ticks.acme.X") == 1
	})
	if n := core.count(""); n != 1 {
		t.Fatalf("core subscriptions handed on %d messages, want only the tick: %v", n, core.snapshot())
	}
	epoch, err := r.Epoch(ctx, StreamJobs)
	if err != nil || epoch == 0 {
		t.Fatalf("epoch %d, %v", epoch, err)
	}
	mu.Lock()
	for i, m := range got {
		if m.Seq != want[i] || m.Epoch != epoch {
			t.Errorf("message %d: seq %d epoch %d, want %d %d", i, m.Seq, m.Epoch, want[i], epoch)
		}
	}
	mu.Unlock()

	w.want(t, r, "ticks.>")
	stream, err := js.Stream(ctx, StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	if n := stream.CachedInfo().State.Consumers; n != 0 {
		info, _ := stream.Info(ctx)
		t.Fatalf("%d consumers left on JOBS after interest ended", info.State.Consumers)
	}
	if _, ok := StoredStream("ticks.>"); ok {
		t.Fatal("ticks are not a stored family")
	}
	if s, ok := SnapshotStream("ticks.*.BTC-USD"); !ok || s != StreamTicks {
		t.Fatalf("snapshot stream of ticks: %q %v", s, ok)
	}
}

// While NATS is down, a stored family cannot be served: Ready says so at
// once instead of waiting, and the router retries until it can.
func TestStoredPatternFailsFastWhileDisconnected(t *testing.T) {
	storeDir := t.TempDir()
	e := startServer(t, -1, storeDir)
	port := serverPort(t, e)
	c := connect(t, ConnConfig{URLs: e.ClientURL(), Credentials: e.Credentials(), ReconnectWait: 20 * time.Millisecond})
	js, err := jetstream.New(c.NATS())
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureStreams(context.Background(), js, StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	r := NewRouter(c, func(*nats.Msg, Copy) {}, RouterConfig{JetStream: js, Stored: func(StoredMsg) {}, RetryInterval: 50 * time.Millisecond})
	w := newWantedSet()
	r.Start(w)
	t.Cleanup(func() { _ = r.Close() })
	e.Shutdown()
	testsupport.WaitFor(t, "disconnected", waitTimeout, func() bool { return !c.Connected() })
	w.replace("jobs.acme.>")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	start := time.Now()
	if err := r.Ready(ctx, "jobs.acme.>"); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Ready while disconnected: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %v to fail", d)
	}
	if len(r.Patterns()) != 0 {
		t.Fatalf("patterns %v after a failed interest", r.Patterns())
	}
	// Once NATS is back, the router's retry makes the family ready.
	startServer(t, port, storeDir)
	testsupport.WaitFor(t, "the family to become ready", waitTimeout, func() bool {
		return r.Ready(ctx, "jobs.acme.>") == nil
	})
}

package bus

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// Stored patterns are routed through a JetStream consumer, so each message
// carries its stream position; the consumer is gone from the server once
// interest ends.
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
	r := NewRouter(c, func(string, *nats.Msg) {}, RouterConfig{JetStream: js, Stored: func(p string, m StoredMsg) {
		if p != "jobs.acme.>" {
			t.Errorf("stored message for pattern %q", p)
		}
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
	}})
	t.Cleanup(func() { _ = r.Close() })
	mustSet(t, r, "jobs.acme.>", true)

	pub := publisher(t, e)
	pjs, _ := jetstream.New(pub)
	var want []uint64
	for _, subj := range []string{"jobs.acme.j1", "jobs.globex.j2", "jobs.acme.j3"} {
		ack, err := pjs.Publish(ctx, subj, []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if subj != "jobs.globex.j2" {
			want = append(want, ack.Sequence)
		}
	}
	testsupport.WaitFor(t, "two stored messages", waitTimeout, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 2
	})
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

	mustSet(t, r, "jobs.acme.>", false)
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

// While NATS is down, a stored pattern fails fast instead of stalling every
// other subscription change behind a consumer that cannot be created.
func TestStoredPatternFailsFastWhileDisconnected(t *testing.T) {
	e := startServer(t, -1, t.TempDir())
	c := connect(t, ConnConfig{URLs: e.ClientURL(), Credentials: e.Credentials()})
	js, err := jetstream.New(c.NATS())
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsureStreams(context.Background(), js, StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	r := NewRouter(c, func(string, *nats.Msg) {}, RouterConfig{JetStream: js, Stored: func(string, StoredMsg) {}})
	t.Cleanup(func() { _ = r.Close() })
	e.Shutdown()
	testsupport.WaitFor(t, "disconnected", waitTimeout, func() bool { return !c.Connected() })
	start := time.Now()
	if err := r.SetInterest("jobs.acme.>", true); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("SetInterest while disconnected: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v to fail", d)
	}
	if len(r.Patterns()) != 0 {
		t.Fatalf("patterns %v after a failed interest", r.Patterns())
	}
}

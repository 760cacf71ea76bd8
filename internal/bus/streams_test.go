package bus

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// jetStream starts a server and returns its JetStream with a context
// bounded for the test.
func jetStream(t *testing.T) (jetstream.JetStream, context.Context) {
	t.Helper()
	e := startServer(t, -1, t.TempDir())
	c := connect(t, ConnConfig{URLs: e.ClientURL(), Credentials: e.Credentials()})
	js, err := jetstream.New(c.NATS())
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	t.Cleanup(cancel)
	return js, ctx
}

func TestEnsureStreams(t *testing.T) {
	js, ctx := jetStream(t)

	for i := range 2 {
		if err := EnsureStreams(ctx, js, StreamsConfig{}); err != nil {
			t.Fatalf("EnsureStreams #%d: %v", i+1, err)
		}
	}
	for name, subject := range map[string]string{StreamChain: "chain.>", StreamJobs: "jobs.>"} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		cfg := s.CachedInfo().Config
		if len(cfg.Subjects) != 1 || cfg.Subjects[0] != subject || cfg.Storage != jetstream.FileStorage ||
			cfg.Discard != jetstream.DiscardOld || cfg.MaxAge != 24*time.Hour || cfg.MaxBytes != 256<<20 || cfg.Replicas != 1 {
			t.Errorf("stream %s config = %+v", name, cfg)
		}
	}

	ack, err := js.Publish(ctx, "jobs.acme.j1", []byte(`{"state":"running"}`))
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	if ack.Stream != StreamJobs || ack.Sequence != 1 {
		t.Fatalf("ack = %+v, want JOBS seq 1", ack)
	}
	jobs, err := js.Stream(ctx, StreamJobs)
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	m, err := jobs.GetLastMsgForSubject(ctx, "jobs.acme.j1")
	if err != nil || string(m.Data) != `{"state":"running"}` {
		t.Fatalf("stored message = %v, %v", m, err)
	}
	if ack, err := js.Publish(ctx, "chain.eth.block", []byte(`{}`)); err != nil || ack.Stream != StreamChain {
		t.Fatalf("chain publish: %+v, %v", ack, err)
	}

	// A changed config updates the stream and keeps its messages.
	if err := EnsureStreams(ctx, js, StreamsConfig{JobsMaxAge: time.Hour, JobsMaxBytes: 8 << 20}); err != nil {
		t.Fatalf("EnsureStreams with new limits: %v", err)
	}
	info, err := jobs.Info(ctx)
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if info.Config.MaxAge != time.Hour || info.Config.MaxBytes != 8<<20 || info.State.Msgs != 1 {
		t.Fatalf("after update: max age %s, max bytes %d, msgs %d", info.Config.MaxAge, info.Config.MaxBytes, info.State.Msgs)
	}

	if err := EnsureStreams(ctx, js, StreamsConfig{ChainMaxAge: -time.Second}); err == nil {
		t.Fatalf("negative max age accepted")
	}
}

// A stream whose settings NATS cannot change stops the hub with one line
// naming the stream and what differs: here more replicas than a single
// server has, and a storage type changed behind the hub's back.
func TestEnsureStreamsRefusedUpdateSaysWhatDiffers(t *testing.T) {
	js, ctx := jetStream(t)
	if err := EnsureStreams(ctx, js, StreamsConfig{}); err != nil {
		t.Fatal(err)
	}

	err := EnsureStreams(ctx, js, StreamsConfig{Replicas: 3})
	if err == nil || !strings.Contains(err.Error(), "stream CHAIN exists with other settings (replicas 1→3)") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("replicas 3 on one server: %v", err)
	}

	s, err := js.Stream(ctx, StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	cfg := s.CachedInfo().Config
	if err := js.DeleteStream(ctx, StreamJobs); err != nil {
		t.Fatal(err)
	}
	cfg.Storage = jetstream.MemoryStorage
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	err = EnsureStreams(ctx, js, StreamsConfig{})
	if err == nil || !strings.Contains(err.Error(), "stream JOBS exists with other settings (storage Memory→File)") {
		t.Fatalf("memory JOBS stream: %v", err)
	}

	// The key bucket's replicas the same way.
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b"}); err != nil {
		t.Fatal(err)
	}
	if err := EnsureReplicas(ctx, js, "KV_b", 1); err != nil {
		t.Fatalf("replicas unchanged: %v", err)
	}
	if err := EnsureReplicas(ctx, js, "KV_b", 3); err == nil || !strings.Contains(err.Error(), "stream KV_b has 1 replicas, want 3") {
		t.Fatalf("bucket replicas 3 on one server: %v", err)
	}
}

package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names and subjects of the JetStream streams of the stored families.
const (
	StreamChain         = "CHAIN"
	StreamChainSubjects = "chain.>"
	StreamJobs          = "JOBS"
	StreamJobsSubjects  = "jobs.>"
	// StreamTicks keeps the last tick of every subject, for snapshots.
	// Ticks are delivered live through core NATS (at most once); this
	// stream only remembers the latest value.
	StreamTicks         = "TICKS"
	StreamTicksSubjects = "ticks.>"
)

// StoredStream returns the stream that stores every message matching
// pattern and delivers it live with its stream sequence ("chain.…" →
// CHAIN, "jobs.…" → JOBS), or false for patterns outside the stored
// families (ticks, or a first token that is a wildcard).
func StoredStream(pattern string) (string, bool) {
	first, _, _ := strings.Cut(pattern, ".")
	switch first {
	case "chain":
		return StreamChain, true
	case "jobs":
		return StreamJobs, true
	}
	return "", false
}

// SnapshotStream returns the stream holding the last value of subjects
// matching pattern: the stored family's stream, or TICKS for ticks.
func SnapshotStream(pattern string) (string, bool) {
	if s, ok := StoredStream(pattern); ok {
		return s, true
	}
	if first, _, _ := strings.Cut(pattern, "."); first == "ticks" {
		return StreamTicks, true
	}
	return "", false
}

// Defaults of [StreamsConfig].
const (
	DefaultStreamMaxAge   = 24 * time.Hour
	DefaultStreamMaxBytes = 256 << 20
	DefaultStreamReplicas = 1
)

// StreamsConfig sets the limits of the CHAIN and JOBS streams. Every zero
// field means the default its comment states; negative values are errors.
type StreamsConfig struct {
	// ChainMaxAge and JobsMaxAge bound how long a message is kept.
	// Default 24h.
	ChainMaxAge, JobsMaxAge time.Duration
	// ChainMaxBytes and JobsMaxBytes bound each stream's size; the oldest
	// messages are discarded past it. Default 256 MiB.
	ChainMaxBytes, JobsMaxBytes int64
	// TicksMaxAge bounds how old a remembered last tick may be. Default 1h.
	TicksMaxAge time.Duration
	// Replicas is the number of copies of each stream (and of the key
	// bucket) in a cluster: 3 survives the loss of any one server.
	// Default 1 (and the only valid value on a single server).
	Replicas int
}

// EnsureStreams creates the CHAIN (subjects "chain.>"), JOBS (subjects
// "jobs.>") and TICKS streams with limits retention and discard-old, or,
// when one exists with other settings (limits, replicas), updates it to
// cfg's. Where NATS refuses the update (a storage type cannot change; more
// replicas than the cluster has servers) it returns one line naming the
// stream, what differs and NATS's reason. It is idempotent and safe to
// call from several hubs at once.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, cfg StreamsConfig) error {
	if cfg.ChainMaxAge < 0 || cfg.JobsMaxAge < 0 || cfg.ChainMaxBytes < 0 || cfg.JobsMaxBytes < 0 || cfg.Replicas < 0 {
		return fmt.Errorf("bus: ensure streams: negative limit in %+v", cfg)
	}
	replicas := orDefault(cfg.Replicas, DefaultStreamReplicas)
	streams := []jetstream.StreamConfig{
		streamConfig(StreamChain, StreamChainSubjects, "On-chain signals (chain.<network>.<kind>)",
			orDefault(cfg.ChainMaxAge, DefaultStreamMaxAge), orDefault(cfg.ChainMaxBytes, DefaultStreamMaxBytes), replicas),
		streamConfig(StreamJobs, StreamJobsSubjects, "AI job progress (jobs.<tenant>.<job>)",
			orDefault(cfg.JobsMaxAge, DefaultStreamMaxAge), orDefault(cfg.JobsMaxBytes, DefaultStreamMaxBytes), replicas),
	}
	ticks := streamConfig(StreamTicks, StreamTicksSubjects, "Last tick per subject, for snapshots (ticks.<venue>.<symbol>)",
		orDefault(cfg.TicksMaxAge, time.Hour), 64<<20, replicas)
	ticks.Storage, ticks.MaxMsgsPerSubject = jetstream.MemoryStorage, 1
	streams = append(streams, ticks)
	for _, sc := range streams {
		if err := Retry(ctx, RetryPolicy{Within: startupRetry}, func(ctx context.Context) error { return ensureStream(ctx, js, sc) }); err != nil {
			return err
		}
	}
	return nil
}

// startupRetry bounds how long EnsureStreams and EnsureReplicas wait for a
// JetStream that is not answering yet (a cluster electing its first
// leader while the hubs start with it).
const startupRetry = 30 * time.Second

// RetryPolicy says how [Retry] tries. Every zero field means the default
// its comment states.
type RetryPolicy struct {
	// Within bounds all attempts together. Default: only ctx bounds them.
	Within time.Duration
	// Attempts bounds how often attempt runs. Default unbounded.
	Attempts int
	// AttemptTimeout bounds each attempt. Default 5 s.
	AttemptTimeout time.Duration
	// Transient says which errors are worth another attempt. Default
	// [Transient].
	Transient func(error) bool
}

// Retry runs attempt until it succeeds, fails for a reason that is not
// transient, ctx ends, or p's bounds are reached, pausing 100 ms, then
// twice as long each time up to 1 s, between attempts. It returns the last
// attempt's error.
func Retry(ctx context.Context, p RetryPolicy, attempt func(context.Context) error) error {
	if p.Within > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.Within)
		defer cancel()
	}
	if p.AttemptTimeout <= 0 {
		p.AttemptTimeout = 5 * time.Second
	}
	if p.Transient == nil {
		p.Transient = Transient
	}
	pause := 100 * time.Millisecond
	for n := 1; ; n++ {
		actx, acancel := context.WithTimeout(ctx, p.AttemptTimeout)
		err := attempt(actx)
		acancel()
		if err == nil || !p.Transient(err) || ctx.Err() != nil || (p.Attempts > 0 && n >= p.Attempts) {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		pause = min(2*pause, time.Second)
	}
}

// Transient reports whether err is a JetStream failure that may pass by
// itself within moments: no responders (a stream or consumer moving between
// servers, JetStream not up yet), a request that timed out, a consumer not
// found right after its creation on another server, a missed heartbeat, a
// connection between servers, or an API answer with status 503 (no leader
// for a moment).
func Transient(err error) bool {
	if errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrNoHeartbeat) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, ErrNotConnected) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code == 503
}

// ensureStream creates sc's stream, or updates it where it differs from sc.
func ensureStream(ctx context.Context, js jetstream.JetStream, sc jetstream.StreamConfig) error {
	s, err := js.Stream(ctx, sc.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, sc)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return ensureStream(ctx, js, sc) // another hub created it first
		}
		if err != nil {
			return fmt.Errorf("bus: create stream %s: %w", sc.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("bus: stream %s: %w", sc.Name, err)
	}
	have := s.CachedInfo().Config
	diff := StreamDiff(have, sc)
	if diff == "" {
		return nil
	}
	// Keep what the hub does not manage (placement, mirrors, metadata).
	want := have
	want.Description, want.Subjects, want.Retention, want.Storage, want.Discard = sc.Description, sc.Subjects, sc.Retention, sc.Storage, sc.Discard
	want.MaxAge, want.MaxBytes, want.MaxMsgsPerSubject, want.Replicas = sc.MaxAge, sc.MaxBytes, sc.MaxMsgsPerSubject, sc.Replicas
	if _, err := js.UpdateStream(ctx, want); err != nil {
		return fmt.Errorf("bus: stream %s exists with other settings (%s) and NATS refused to update it: %w", sc.Name, diff, err)
	}
	return nil
}

// StreamDiff lists, as "field have→want" pairs, the settings the hub
// manages in which have differs from want; "" when none does.
func StreamDiff(have, want jetstream.StreamConfig) string {
	var d []string
	add := func(field string, h, w any) {
		if h != w {
			d = append(d, fmt.Sprintf("%s %v→%v", field, h, w))
		}
	}
	add("subjects", strings.Join(have.Subjects, ","), strings.Join(want.Subjects, ","))
	add("retention", have.Retention, want.Retention)
	add("storage", have.Storage, want.Storage)
	add("discard", have.Discard, want.Discard)
	add("max_age", have.MaxAge, want.MaxAge)
	add("max_bytes", have.MaxBytes, want.MaxBytes)
	add("max_msgs_per_subject", max(have.MaxMsgsPerSubject, 0), max(want.MaxMsgsPerSubject, 0))
	add("replicas", max(have.Replicas, 1), max(want.Replicas, 1))
	return strings.Join(d, ", ")
}

// EnsureReplicas sets the replica count of an existing stream (a KV
// bucket's is "KV_<bucket>") to replicas, or returns one line saying what
// NATS refused.
func EnsureReplicas(ctx context.Context, js jetstream.JetStream, stream string, replicas int) error {
	return Retry(ctx, RetryPolicy{Within: startupRetry}, func(ctx context.Context) error { return ensureReplicas(ctx, js, stream, replicas) })
}

func ensureReplicas(ctx context.Context, js jetstream.JetStream, stream string, replicas int) error {
	replicas = max(replicas, 1)
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("bus: stream %s: %w", stream, err)
	}
	cfg := s.CachedInfo().Config
	if max(cfg.Replicas, 1) == replicas {
		return nil
	}
	have := cfg.Replicas
	cfg.Replicas = replicas
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("bus: stream %s has %d replicas, want %d, and NATS refused to change it: %w", stream, have, replicas, err)
	}
	return nil
}

func streamConfig(name, subject, desc string, maxAge time.Duration, maxBytes int64, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: desc,
		Subjects:    []string{subject},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxAge:      maxAge,
		MaxBytes:    maxBytes,
		Replicas:    replicas,
	}
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

package bus

import (
	"context"
	"fmt"
	"strings"
	"time"

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
	// Replicas is the number of copies of each stream in a cluster.
	// Default 1 (and the only valid value on a single server).
	Replicas int
}

// EnsureStreams creates the CHAIN (subjects "chain.>") and JOBS (subjects
// "jobs.>") streams with file storage, limits retention and discard-old, or
// updates them to cfg's limits if they exist. It is idempotent and safe to
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
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("bus: ensure stream %s: %w", sc.Name, err)
		}
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

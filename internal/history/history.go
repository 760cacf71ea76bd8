// Package history reads what a subscription must see before its live
// messages: the last value of every matching subject (a snapshot), and the
// messages a reconnecting client missed (a replay). Both come from
// JetStream, not from the hub, so any hub instance can serve them.
package history

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/ingest"
)

// Errors of Replay.
var (
	// ErrInsufficientState: what the client missed is no longer stored
	// (beyond retention, the stream was recreated, or more than MaxReplay
	// messages): it must take a snapshot instead.
	ErrInsufficientState = errors.New("history: insufficient state")
	// ErrFuturePosition: the client claims a position the stream has not
	// reached.
	ErrFuturePosition = errors.New("history: position beyond the newest message")
	// ErrNotStored: the pattern is not within a stored family.
	ErrNotStored = errors.New("history: pattern is not stored")
)

// Config configures a Reader; zero fields mean the documented defaults.
type Config struct {
	// MaxReplay bounds the messages one resume replays. Default 10,000.
	MaxReplay int
	// MaxSnapshot bounds the subjects one snapshot returns: past it, the
	// subjects that changed least recently are left out (and the snapshot
	// says it was truncated). Default 1,000.
	MaxSnapshot int
	// Timeout bounds each snapshot or replay, retries included. Default 10 s.
	Timeout time.Duration
	// Attempts bounds how often a read that failed with a transient
	// JetStream error (no responders, a timeout, a consumer not found
	// right after its creation on another server, a cluster without a
	// leader for a moment) is tried in all. Each attempt has a third of
	// Timeout; the pause before attempt n is 100 ms × 2^(n-2), at most
	// 1 s. Default 5.
	Attempts int
}

// Epochs gives a stream's epoch (bus.Router implements it).
type Epochs interface {
	Epoch(ctx context.Context, stream string) (uint64, error)
}

// Reader reads snapshots and replays. It is safe for concurrent use.
type Reader struct {
	js     jetstream.JetStream
	epochs Epochs
	cfg    Config
}

// New returns a Reader over js.
func New(js jetstream.JetStream, epochs Epochs, cfg Config) *Reader {
	if cfg.MaxReplay <= 0 {
		cfg.MaxReplay = 10_000
	}
	if cfg.MaxSnapshot <= 0 {
		cfg.MaxSnapshot = 1_000
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 5
	}
	return &Reader{js: js, epochs: epochs, cfg: cfg}
}

// Snapshot returns the last stored message of every subject matching
// pattern, flagged as snapshot events, in stream order. When more than
// MaxSnapshot subjects match, it keeps those that changed most recently
// (the running jobs, not the ones that finished long ago) and reports
// truncated. Patterns outside the families that keep last values give
// nothing.
func (r *Reader) Snapshot(ctx context.Context, pattern string) (msgs []*fanout.Message, truncated bool, err error) {
	stream, ok := bus.SnapshotStream(pattern)
	if !ok {
		return nil, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	err = r.retry(ctx, func(ctx context.Context) error {
		var err error
		msgs, truncated, err = r.read(ctx, stream, pattern, jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy}, r.cfg.MaxSnapshot, true)
		return err
	})
	return msgs, truncated, err
}

// Replay returns, in order, the messages matching pattern stored after
// position (epoch, after) — everything a client that last saw that
// position has missed, up to the newest message now.
func (r *Reader) Replay(ctx context.Context, pattern string, epoch, after uint64) (msgs []*fanout.Message, err error) {
	stream, ok := bus.StoredStream(pattern)
	if !ok {
		return nil, fmt.Errorf("%w: %q (resume works within chain.… and jobs.…)", ErrNotStored, pattern)
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	err = r.retry(ctx, func(ctx context.Context) error {
		var err error
		msgs, err = r.replay(ctx, stream, pattern, epoch, after)
		return err
	})
	return msgs, err
}

// replay is one attempt of Replay.
func (r *Reader) replay(ctx context.Context, stream, pattern string, epoch, after uint64) ([]*fanout.Message, error) {
	cur, err := r.epochs.Epoch(ctx, stream)
	if err != nil {
		return nil, err
	}
	if epoch != cur {
		return nil, fmt.Errorf("%w: the %s stream was recreated (epoch %d, now %d)", ErrInsufficientState, stream, epoch, cur)
	}
	s, err := r.js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("history: stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("history: stream %s: %w", stream, err)
	}
	st := info.State
	switch {
	case after > st.LastSeq:
		return nil, fmt.Errorf("%w: %d, the newest is %d", ErrFuturePosition, after, st.LastSeq)
	case after == st.LastSeq:
		return nil, nil
	case st.Msgs > 0 && after+1 < st.FirstSeq:
		return nil, fmt.Errorf("%w: messages after %d are no longer retained (oldest kept: %d)", ErrInsufficientState, after, st.FirstSeq)
	}
	msgs, _, err := r.read(ctx, stream, pattern, jetstream.ConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   after + 1,
	}, r.cfg.MaxReplay, false)
	return msgs, err
}

// retry runs attempt until it succeeds, fails for a reason that is not
// transient, ctx ends or Config.Attempts attempts failed; it returns the
// last attempt's error. Each attempt gets a third of Config.Timeout.
func (r *Reader) retry(ctx context.Context, attempt func(context.Context) error) error {
	return bus.Retry(ctx, bus.RetryPolicy{Attempts: r.cfg.Attempts, AttemptTimeout: r.cfg.Timeout / 3, Transient: Transient}, attempt)
}

// Transient reports whether err may pass by itself within moments: a
// transient JetStream failure (see bus.Transient). The errors of the
// history package itself (insufficient state, a future position) are not
// transient.
func Transient(err error) bool {
	if errors.Is(err, ErrInsufficientState) || errors.Is(err, ErrFuturePosition) || errors.Is(err, ErrNotStored) {
		return false
	}
	return bus.Transient(err)
}

// read creates an ephemeral consumer, fetches exactly the messages pending
// at its creation, and deletes it. A replay (snapshot false) refuses more
// than limit messages; a snapshot reads them all and keeps the newest limit,
// reporting truncated.
func (r *Reader) read(ctx context.Context, stream, pattern string, cc jetstream.ConsumerConfig, limit int, snapshot bool) (out []*fanout.Message, truncated bool, err error) {
	cc.FilterSubjects = []string{pattern}
	cc.AckPolicy = jetstream.AckNonePolicy
	cc.MemoryStorage = true
	cc.InactiveThreshold = time.Minute
	cons, err := r.js.CreateConsumer(ctx, stream, cc)
	if err != nil {
		return nil, false, fmt.Errorf("history: consumer on %s: %w", stream, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.js.DeleteConsumer(dctx, stream, cons.CachedInfo().Name)
	}()
	pending := int(cons.CachedInfo().NumPending)
	if pending > limit && !snapshot {
		return nil, false, fmt.Errorf("%w: %d messages missed, more than the %d a resume replays", ErrInsufficientState, pending, limit)
	}
	epoch := uint64(0)
	if !snapshot || stream != bus.StreamTicks {
		if epoch, err = r.epochs.Epoch(ctx, stream); err != nil {
			return nil, false, err
		}
	}
	// The newest limit messages, in a ring: a snapshot delivers last values
	// in stream order, so those that changed most recently come last.
	kept := make([]jetstream.Msg, 0, min(pending, limit))
	next := 0
	for seen := 0; seen < pending; {
		batch, err := cons.Fetch(min(pending-seen, 500), jetstream.FetchContext(ctx))
		if err != nil {
			return nil, false, fmt.Errorf("history: fetch from %s: %w", stream, err)
		}
		for m := range batch.Messages() {
			seen++
			if len(kept) < limit {
				kept = append(kept, m)
				continue
			}
			kept[next] = m
			next = (next + 1) % limit
			truncated = true
		}
		if err := batch.Error(); err != nil {
			return nil, false, fmt.Errorf("history: fetch from %s: %w", stream, err)
		}
		if ctx.Err() != nil {
			return nil, false, fmt.Errorf("history: fetch from %s: %w", stream, ctx.Err())
		}
	}
	out = make([]*fanout.Message, 0, len(kept))
	for i := range kept {
		msg, err := encode(kept[(next+i)%len(kept)], stream, epoch, snapshot)
		if err != nil {
			continue // ingest refused it live too
		}
		out = append(out, msg)
	}
	return out, truncated, nil
}

// encode positions a stored message the way its live copy is positioned:
// by stream sequence for the stored families, by the publisher's own
// numbering for ticks (whose live copies come through core NATS).
func encode(m jetstream.Msg, stream string, epoch uint64, snapshot bool) (*fanout.Message, error) {
	md, err := m.Metadata()
	if err != nil {
		return nil, err
	}
	ev := ingest.Event(m.Subject(), m.Headers(), m.Data(), md.Timestamp)
	ev.Snapshot = snapshot
	if stream == bus.StreamTicks {
		if !ingest.UpstreamSeq(m.Headers(), &ev) {
			ev.Epoch, ev.Seq = 0, md.Sequence.Stream
		}
	} else {
		ev.Epoch, ev.Seq = epoch, md.Sequence.Stream
	}
	return ingest.NewMessage(ev)
}

package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Publisher is what a feed publishes through. *nats.Conn satisfies it. A
// Publisher given to [Demo] must be safe for concurrent use, as *nats.Conn
// is: the three feeds publish from their own goroutines.
type Publisher interface {
	PublishMsg(*nats.Msg) error
}

// Header names of the upstream convention (see the package doc), for the
// ingestors in subpackages.
const (
	HeaderTs       = "Sh-Ts"
	HeaderEpoch    = "Sh-Epoch"
	HeaderSeq      = "Sh-Seq"
	HeaderCritical = "Sh-Critical"
)

const (
	headerTs       = HeaderTs
	headerEpoch    = HeaderEpoch
	headerSeq      = HeaderSeq
	headerCritical = HeaderCritical
)

// errorLogInterval is the least time between two publish-error log records
// of one feed.
const errorLogInterval = 10 * time.Second

// ErrRunning is returned by a Run method called while the same feed (or
// demo) is already running.
var ErrRunning = errors.New("upstream: already running")

// FamilyStats counts one feed's publishes.
type FamilyStats struct {
	// Published counts messages the Publisher accepted.
	Published uint64
	// Errors counts messages the Publisher refused (or that could not be
	// encoded); they are not retried and consume no sequence number.
	Errors uint64
}

// Stats counts publishes per stream family.
type Stats struct {
	Ticks FamilyStats
	Chain FamilyStats
	Jobs  FamilyStats
}

// counters are a feed's live counts; safe for concurrent use.
type counters struct {
	published atomic.Uint64
	errors    atomic.Uint64
}

func (c *counters) snapshot() FamilyStats {
	return FamilyStats{Published: c.published.Load(), Errors: c.errors.Load()}
}

// emitter encodes and publishes one feed's messages and numbers them per
// subject. It is used only by its feed's Run goroutine; only its counters
// are read concurrently.
type emitter struct {
	pub      Publisher
	family   string
	epochStr string // Sh-Epoch value, fixed for the feed's lifetime
	log      *slog.Logger
	stats    *counters
	// seq holds the last sequence number published per subject. Entries of
	// subjects that will not be used again are removed with forget, so the
	// map stays bounded by the number of live subjects.
	seq map[string]uint64
	// lastLog is the (monotonic) time of the last error record; suppressed
	// counts errors since then that were not logged.
	lastLog    time.Time
	suppressed uint64
}

func newEmitter(pub Publisher, family string, epochMs int64, log *slog.Logger, stats *counters) *emitter {
	return &emitter{
		pub:      pub,
		family:   family,
		epochStr: strconv.FormatInt(epochMs, 10),
		log:      log,
		stats:    stats,
		seq:      make(map[string]uint64),
	}
}

// emit publishes payload as JSON on subject with the convention's headers.
// tsMs is the source time, the same as the payload's own time field. It
// reports whether the Publisher accepted the message; a failure is counted
// and logged (rate-limited), never returned, so a feed keeps running while
// NATS is away.
func (e *emitter) emit(subject string, payload any, tsMs int64, critical bool) bool {
	data, err := json.Marshal(payload)
	if err != nil {
		e.fail(subject, err)
		return false
	}
	seq := e.seq[subject] + 1
	h := nats.Header{}
	h.Set(headerTs, strconv.FormatInt(tsMs, 10))
	h.Set(headerEpoch, e.epochStr)
	h.Set(headerSeq, strconv.FormatUint(seq, 10))
	if critical {
		h.Set(headerCritical, "1")
	}
	if err := e.pub.PublishMsg(&nats.Msg{Subject: subject, Header: h, Data: data}); err != nil {
		e.fail(subject, err)
		return false
	}
	e.seq[subject] = seq
	e.stats.published.Add(1)
	return true
}

// forget drops a subject's sequence counter; used for job subjects, which
// are never published on again after the job's terminal event.
func (e *emitter) forget(subject string) { delete(e.seq, subject) }

func (e *emitter) fail(subject string, err error) {
	total := e.stats.errors.Add(1)
	if !e.lastLog.IsZero() && time.Since(e.lastLog) < errorLogInterval {
		e.suppressed++
		return
	}
	e.log.Warn("upstream: publish failed",
		"family", e.family, "subject", subject, "errors_total", total,
		"suppressed", e.suppressed, "err", err)
	e.lastLog = time.Now()
	e.suppressed = 0
}

// newRand returns the random source of one family: seed and stream
// together, so the feeds of one Demo draw independent sequences.
func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// resolveSeed returns seed, or a time-based seed if it is 0.
func resolveSeed(seed int64) int64 {
	if seed != 0 {
		return seed
	}
	if s := time.Now().UnixNano(); s != 0 {
		return s
	}
	return 1
}

// unixMs returns t in Unix milliseconds.
func unixMs(t time.Time) int64 { return t.UnixMilli() }

// everyInterval calls step at once and then every interval until ctx is
// done. It owns its ticker and returns when ctx is done.
func everyInterval(ctx context.Context, interval time.Duration, step func()) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for ctx.Err() == nil {
		step()
		select {
		case <-ctx.Done():
		case <-ticker.C:
		}
	}
}

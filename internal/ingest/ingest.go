// Package ingest turns NATS messages into fan-out messages: it reads the
// upstream headers (source time, sequence, critical flag), numbers the
// messages that come without a sequence, encodes each message once per wire
// encoding and publishes it to the hub for the pattern it arrived through.
package ingest

import (
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/protocol"
)

// Upstream headers, as documented in docs/streams.md.
const (
	HeaderTS       = "Sh-Ts"       // source time, Unix milliseconds
	HeaderEpoch    = "Sh-Epoch"    // the publisher's sequence epoch
	HeaderSeq      = "Sh-Seq"      // the publisher's per-subject sequence
	HeaderCritical = "Sh-Critical" // "1" or "true": never conflated or dropped
)

// Publisher is what ingest needs from the fan-out core.
type Publisher interface {
	PublishPattern(pattern string, m *fanout.Message)
}

// Config configures an Ingester. The zero value of each field means its
// documented default.
type Config struct {
	// Epoch numbers the sequences the hub assigns itself (to messages that
	// arrive without Sh-Seq). Default: the hub's start time in Unix ms, so
	// a restarted hub starts a new epoch.
	Epoch uint64
	// MaxSequenced bounds the per-subject counters kept for hub-assigned
	// sequences; past it they are reset and the epoch advances, so clients
	// see a new epoch rather than a wrong sequence. Default 100,000.
	MaxSequenced int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives a sample of rejected messages (at most one line per
	// 10 s). Nil discards.
	Logger *slog.Logger
}

// Ingester converts and publishes. Handle is safe for concurrent use.
type Ingester struct {
	pub Publisher
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	epoch uint64
	seqs  map[seqKey]uint64

	received atomic.Uint64
	rejected atomic.Uint64
	lastLog  atomic.Int64
}

type seqKey struct{ pattern, subject string }

// New returns an Ingester that publishes to pub.
func New(pub Publisher, cfg Config) *Ingester {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Epoch == 0 {
		cfg.Epoch = uint64(cfg.Now().UnixMilli())
	}
	if cfg.MaxSequenced <= 0 {
		cfg.MaxSequenced = 100_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Ingester{pub: pub, cfg: cfg, log: cfg.Logger, epoch: cfg.Epoch, seqs: make(map[seqKey]uint64)}
}

// Received and Rejected count the messages handled and those refused
// (invalid payload or subject).
func (in *Ingester) Received() uint64 { return in.received.Load() }
func (in *Ingester) Rejected() uint64 { return in.rejected.Load() }

// Handle converts m, which arrived through the upstream subscription for
// pattern, and publishes it. Its signature matches bus.Handler.
func (in *Ingester) Handle(pattern string, m *nats.Msg) {
	if protocol.ReservedSubject(m.Subject) {
		return // NATS's own traffic (KV records, JetStream API) seen by a wildcard pattern
	}
	in.received.Add(1)
	now := in.cfg.Now()
	ev := Event(m.Subject, m.Header, m.Data, now)
	if !UpstreamSeq(m.Header, &ev) {
		ev.Epoch, ev.Seq = in.nextSeq(pattern, m.Subject)
	}
	in.publish(pattern, ev, now)
}

// HandleStored converts a message of a stored family, positioned by its
// stream sequence, and publishes it. Its signature matches
// bus.StoredHandler.
func (in *Ingester) HandleStored(pattern string, m bus.StoredMsg) {
	in.received.Add(1)
	now := in.cfg.Now()
	ev := Event(m.Subject, m.Header, m.Data, now)
	ev.Epoch, ev.Seq = m.Epoch, m.Seq
	in.publish(pattern, ev, now)
}

// publish encodes ev, received at now, and publishes it.
func (in *Ingester) publish(pattern string, ev protocol.Event, now time.Time) {
	msg, err := protocol.NewMessage(ev)
	if err != nil {
		in.reject(ev.Subject, err)
		return
	}
	msg.Ingested = now.UnixNano()
	in.pub.PublishPattern(pattern, msg)
}

// Event builds the protocol event of an upstream message received at now:
// source time and critical flag from the headers; no sequence.
func Event(subject string, h nats.Header, data []byte, now time.Time) protocol.Event {
	ms := now.UnixMilli()
	ev := protocol.Event{Subject: subject, Ingest: ms, TS: ms, Data: data}
	if v := h.Get(HeaderTS); v != "" {
		if ts, err := strconv.ParseInt(v, 10, 64); err == nil && ts > 0 {
			ev.TS = ts
		}
	}
	switch h.Get(HeaderCritical) {
	case "1", "true":
		ev.Critical = true
	}
	return ev
}

// UpstreamSeq takes the publisher's own numbering (Sh-Epoch, Sh-Seq) when
// it sent one, and reports whether it did.
func UpstreamSeq(h nats.Header, ev *protocol.Event) bool {
	if h == nil {
		return false
	}
	seq, err := strconv.ParseUint(h.Get(HeaderSeq), 10, 64)
	if err != nil || seq == 0 {
		return false
	}
	epoch, err := strconv.ParseUint(h.Get(HeaderEpoch), 10, 64)
	if err != nil {
		epoch = 0
	}
	ev.Epoch, ev.Seq = epoch, seq
	return true
}

// NewEpoch starts a new epoch for the sequences the hub assigns itself, so
// that the next message on every subject is numbered 1 in an epoch no
// client has seen: call it when messages may have been lost upstream (the
// NATS connection was re-established), so that subscribers take the next
// value as a fresh one rather than the continuation of what they had. The
// new epoch is the current time in Unix ms, or the old one plus one if that
// is not later. Safe for concurrent use with Handle.
func (in *Ingester) NewEpoch() uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	clear(in.seqs)
	in.epoch = max(in.epoch+1, uint64(in.cfg.Now().UnixMilli()))
	return in.epoch
}

// nextSeq numbers a message per (pattern, subject): each pattern's
// subscribers see their own contiguous sequence, because each upstream
// subscription receives its own copy of a message.
func (in *Ingester) nextSeq(pattern, subject string) (epoch, seq uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	k := seqKey{pattern, subject}
	seq, ok := in.seqs[k]
	if !ok && len(in.seqs) >= in.cfg.MaxSequenced {
		clear(in.seqs)
		in.epoch++
	}
	seq++
	in.seqs[k] = seq
	return in.epoch, seq
}

func (in *Ingester) reject(subject string, err error) {
	in.rejected.Add(1)
	now := in.cfg.Now().UnixNano()
	last := in.lastLog.Load()
	if now-last >= int64(10*time.Second) && in.lastLog.CompareAndSwap(last, now) {
		in.log.Warn("rejected upstream message", "subject", subject, "err", err, "rejected_total", in.rejected.Load())
	}
}

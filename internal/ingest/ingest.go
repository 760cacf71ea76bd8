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

// Publisher is what ingest needs from the fan-out core (fanout.Hub).
type Publisher interface {
	// Interested reports whether some subscription wants subject.
	Interested(subject string) bool
	// Publish delivers m to every subscription that matches it.
	Publish(m *fanout.Message)
}

// Config configures an Ingester. The zero value of each field means its
// documented default.
type Config struct {
	// Epoch numbers the sequences the hub assigns itself (to messages that
	// arrive without Sh-Seq). Default: the hub's start time in Unix ms, so
	// a restarted hub starts a new epoch.
	Epoch uint64
	// MaxSequenced bounds the per-subject state kept: the counters of
	// hub-assigned sequences, and the last publisher position seen per
	// subject. Past it the state is reset (and the hub's epoch advances,
	// so clients see a new epoch rather than a wrong sequence). Default
	// 100,000.
	MaxSequenced int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives a sample of rejected messages (at most one line per
	// 10 s). Nil discards.
	Logger *slog.Logger
	// Tracer, if set, decides once per message whether it is traced (see
	// Tracer). Nil traces nothing and costs nothing.
	Tracer Tracer
}

// HeaderTraceparent and HeaderTracestate carry a publisher's W3C trace
// context on a NATS message.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// Tracer decides at ingest, once per message, whether the message is
// traced, from the publisher's trace context (traceparent, tracestate;
// empty when absent). It returns nil for a message that is not: such a
// message then costs nothing more on its way. Safe for concurrent use.
type Tracer interface {
	Start(subject, traceparent, tracestate string, received time.Time) Trace
}

// Trace is a traced message's hook: its fan-out and writes (fanout.Trace),
// and End, called when ingest has handed the message to the hub.
type Trace interface {
	fanout.Trace
	End()
}

// trace asks the tracer, if any, about a message with headers h.
func (in *Ingester) trace(subject string, h nats.Header, now time.Time) Trace {
	if in.cfg.Tracer == nil {
		return nil
	}
	tp := h.Get(HeaderTraceparent)
	if tp == "" {
		tp = h.Get("Traceparent")
	}
	return in.cfg.Tracer.Start(subject, tp, h.Get(HeaderTracestate), now)
}

// Ingester converts and publishes. Handle is safe for concurrent use.
type Ingester struct {
	pub Publisher
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	epoch uint64
	seqs  map[string]uint64   // subject → the last hub-assigned sequence
	last  map[string]position // subject → the newest publisher position seen

	received   atomic.Uint64
	rejected   atomic.Uint64
	duplicates atomic.Uint64
	lastLog    atomic.Int64
}

// position is a publisher's (epoch, seq).
type position struct{ epoch, seq uint64 }

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
	return &Ingester{pub: pub, cfg: cfg, log: cfg.Logger, epoch: cfg.Epoch,
		seqs: make(map[string]uint64), last: make(map[string]position)}
}

// Received and Rejected count the messages handled and those refused
// (invalid payload or subject); Duplicates counts the copies dropped
// because a newer or the same position had already been published.
func (in *Ingester) Received() uint64   { return in.received.Load() }
func (in *Ingester) Rejected() uint64   { return in.rejected.Load() }
func (in *Ingester) Duplicates() uint64 { return in.duplicates.Load() }

// Handle converts a core NATS message and publishes it. Its signature
// matches bus.Handler. A message with a publisher position (Sh-Epoch,
// Sh-Seq) is kept only when that position is newer than the last one
// published for its subject, so that clients never see a position twice or
// out of order, whichever copy (see bus.Copy) brings it: within an epoch a
// publisher's sequence only grows (docs/streams.md), and one that restarts
// its numbering starts a new epoch. A message without a position is kept
// from the primary copy only.
func (in *Ingester) Handle(m *nats.Msg, c bus.Copy) {
	if protocol.ReservedSubject(m.Subject) {
		return // NATS's own traffic (KV records, JetStream API) seen by a wildcard pattern
	}
	if !in.pub.Interested(m.Subject) {
		return
	}
	in.received.Add(1)
	now := in.cfg.Now()
	ev := Event(m.Subject, m.Header, m.Data, now)
	if UpstreamSeq(m.Header, &ev) {
		if !in.advance(m.Subject, position{ev.Epoch, ev.Seq}) {
			in.duplicates.Add(1)
			return
		}
	} else {
		if !c.Primary {
			return // without a position a late copy cannot be told from a new message
		}
		ev.Epoch, ev.Seq = in.nextSeq(m.Subject)
	}
	in.publish(ev, now, in.trace(m.Subject, m.Header, now))
}

// HandleStored converts a message of a stored family, positioned by its
// stream sequence, and publishes it. Its signature matches
// bus.StoredHandler.
func (in *Ingester) HandleStored(m bus.StoredMsg) {
	if !in.pub.Interested(m.Subject) {
		return
	}
	in.received.Add(1)
	now := in.cfg.Now()
	ev := Event(m.Subject, m.Header, m.Data, now)
	ev.Epoch, ev.Seq = m.Epoch, m.Seq
	in.publish(ev, now, in.trace(m.Subject, m.Header, now))
}

// NewEpoch starts a new epoch for the sequences the hub assigns: the next
// message of every hub-numbered subject says so, telling its clients to
// take it as a fresh value rather than the next of a contiguous sequence.
// It is called when messages may have been lost upstream unseen (a
// subscription handover, a reconnect). Safe for concurrent use.
func (in *Ingester) NewEpoch() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.epoch++
	clear(in.seqs)
}

// publish encodes ev, received at now, and publishes it; tr is its trace,
// nil when it is not traced.
func (in *Ingester) publish(ev protocol.Event, now time.Time, tr Trace) {
	msg, err := NewMessage(ev)
	if err != nil {
		in.reject(ev.Subject, err)
		if tr != nil {
			tr.End()
		}
		return
	}
	msg.Ingested = now.UnixNano()
	if tr != nil {
		msg.Trace = tr
		defer tr.End()
	}
	in.pub.Publish(msg)
}

// NewMessage encodes ev once per wire encoding (protocol.EncodeEvent) and
// returns the fan-out message that carries it, ready for Hub.Publish.
func NewMessage(ev protocol.Event) (*fanout.Message, error) {
	frames, err := protocol.EncodeEvent(ev)
	if err != nil {
		return nil, err
	}
	return &fanout.Message{
		Subject:  ev.Subject,
		Epoch:    ev.Epoch,
		Seq:      ev.Seq,
		Critical: ev.Critical,
		Frames:   frames,
	}, nil
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

// nextSeq numbers a message of subject: every subscriber of the subject
// sees the same contiguous sequence.
func (in *Ingester) nextSeq(subject string) (epoch, seq uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	seq, ok := in.seqs[subject]
	if !ok && len(in.seqs) >= in.cfg.MaxSequenced {
		clear(in.seqs)
		in.epoch++
	}
	seq++
	in.seqs[subject] = seq
	return in.epoch, seq
}

// advance records p as subject's newest publisher position, or refuses
// (and returns false for) a position that is not newer than the last one of
// the same epoch.
func (in *Ingester) advance(subject string, p position) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	last, ok := in.last[subject]
	if ok && last.epoch == p.epoch && p.seq <= last.seq {
		return false
	}
	if !ok && len(in.last) >= in.cfg.MaxSequenced {
		clear(in.last)
	}
	in.last[subject] = p
	return true
}

func (in *Ingester) reject(subject string, err error) {
	in.rejected.Add(1)
	now := in.cfg.Now().UnixNano()
	last := in.lastLog.Load()
	if now-last >= int64(10*time.Second) && in.lastLog.CompareAndSwap(last, now) {
		in.log.Warn("rejected upstream message", "subject", subject, "err", err, "rejected_total", in.rejected.Load())
	}
}

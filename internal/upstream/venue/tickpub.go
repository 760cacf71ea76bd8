package venue

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/internal/upstream"
)

// tickPublisher publishes one venue's ticks with the upstream headers. It
// numbers them per subject and opens a new epoch on a subject when told
// that data of the subject may have been lost. Used by Run's goroutine
// only; its counters are read concurrently.
type tickPublisher struct {
	pub   upstream.Publisher
	venue string
	now   func() time.Time
	stats *counters
	log   *limitedLog
	// subjects holds the numbering per symbol; bounded by the configured
	// symbols, since adapters only emit configured symbols.
	subjects map[Symbol]*subjectSeq
}

// subjectSeq is one subject's position: Sh-Epoch and the last Sh-Seq.
type subjectSeq struct {
	subject string
	epoch   int64  // Unix ms; 0 before the first publish
	seq     uint64 // last number published in epoch
	fresh   bool   // the next publish opens a new epoch
}

func newTickPublisher(pub upstream.Publisher, venue string, now func() time.Time, stats *counters, log *limitedLog) *tickPublisher {
	return &tickPublisher{pub: pub, venue: venue, now: now, stats: stats, log: log, subjects: map[Symbol]*subjectSeq{}}
}

func (p *tickPublisher) state(sym Symbol) *subjectSeq {
	s := p.subjects[sym]
	if s == nil {
		s = &subjectSeq{subject: "ticks." + p.venue + "." + sym.String(), fresh: true}
		p.subjects[sym] = s
	}
	return s
}

// lost marks the given symbols (all known ones if none) so that their next
// tick opens a new epoch. Symbols never published yet start fresh anyway.
func (p *tickPublisher) lost(syms ...Symbol) {
	if len(syms) == 0 {
		for _, s := range p.subjects {
			s.fresh = true
		}
		return
	}
	for _, sym := range syms {
		p.state(sym).fresh = true
	}
}

// publish sends t (whose Venue is set here) on its subject. tsMs is the
// venue's event time (Sh-Ts). A refused publish is counted and logged,
// consumes no number and does not open an epoch.
func (p *tickPublisher) publish(sym Symbol, t *upstream.Tick) {
	t.Venue, t.Symbol = p.venue, sym.String()
	s := p.state(sym)
	data, err := json.Marshal(t)
	if err != nil {
		p.stats.publishErrors.Add(1)
		p.log.warn("upstream: tick not encoded", "subject", s.subject, "err", err)
		return
	}
	epoch, seq := s.epoch, s.seq+1
	if s.fresh {
		// A new epoch is strictly greater than the last one, even within
		// one millisecond.
		epoch, seq = max(p.now().UnixMilli(), s.epoch+1), 1
	}
	h := nats.Header{}
	h.Set(upstream.HeaderTs, strconv.FormatInt(t.TS, 10))
	h.Set(upstream.HeaderEpoch, strconv.FormatInt(epoch, 10))
	h.Set(upstream.HeaderSeq, strconv.FormatUint(seq, 10))
	if err := p.pub.PublishMsg(&nats.Msg{Subject: s.subject, Header: h, Data: data}); err != nil {
		p.stats.publishErrors.Add(1)
		p.log.warn("upstream: publish failed", "subject", s.subject, "err", err)
		return
	}
	if s.fresh {
		s.fresh = false
		if s.epoch != 0 {
			p.stats.epochs.Add(1)
		}
	}
	s.epoch, s.seq = epoch, seq
	p.stats.published.Add(1)
}

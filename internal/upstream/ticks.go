package upstream

import (
	"context"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Random streams of math/rand/v2's PCG, one per family, so the feeds of one
// Demo draw independent sequences from one seed.
const (
	streamTicks uint64 = 1 + iota
	streamChain
	streamJobs
)

// TickFeed publishes top-of-book ticks on ticks.<venue>.<symbol> for every
// configured venue and symbol: a mean-reverting random walk per symbol
// around a realistic price, with a small persistent premium per venue.
//
// Run may be called again after it returned; the walk and the sequence
// numbers continue. Stats may be called at any time.
type TickFeed struct {
	cfg     Config
	cfgErr  error
	em      *emitter
	rng     *rand.Rand
	stats   counters
	running atomic.Bool
	// streams are fixed at construction; their subject, venue and symbol
	// never change, the rest is owned by Run's goroutine.
	streams []*tickStream
}

// tickStream is one (venue, symbol) stream.
type tickStream struct {
	subject, venue, symbol string
	sym                    *symbolState
	offset                 int64     // venue premium, ticks
	next                   time.Time // when it ticks next
}

// NewTickFeed returns a feed publishing through pub. An invalid cfg is
// reported by Run.
func NewTickFeed(pub Publisher, cfg Config) *TickFeed {
	cfg = cfg.withDefaults()
	cfg.Seed = resolveSeed(cfg.Seed)
	return newTickFeed(pub, cfg, unixMs(cfg.Now()))
}

// newTickFeed builds the feed from a cfg that has defaults and a seed.
func newTickFeed(pub Publisher, cfg Config, epochMs int64) *TickFeed {
	f := &TickFeed{cfg: cfg, cfgErr: cfg.validate(), rng: newRand(cfg.Seed, streamTicks)}
	f.em = newEmitter(pub, "ticks", epochMs, cfg.Logger, &f.stats)
	syms := make(map[string]*symbolState, len(cfg.Symbols))
	for _, s := range cfg.Symbols {
		syms[s] = newSymbolState(profileFor(s))
	}
	for i, v := range cfg.Venues {
		for _, s := range cfg.Symbols {
			st := syms[s]
			f.streams = append(f.streams, &tickStream{
				subject: "ticks." + v + "." + s,
				venue:   v,
				symbol:  s,
				sym:     st,
				offset:  int64(math.Round(float64(st.base) * venueOffsetBp(v, i) / 1e4)),
			})
		}
	}
	return f
}

// Stats returns the feed's publish counts. Safe for concurrent use.
func (f *TickFeed) Stats() FamilyStats { return f.stats.snapshot() }

// Subjects returns the subjects the feed publishes on, one per stream.
// Safe for concurrent use.
func (f *TickFeed) Subjects() []string {
	out := make([]string, len(f.streams))
	for i, s := range f.streams {
		out[i] = s.subject
	}
	return out
}

// Run publishes ticks until ctx is done, then returns nil. It returns an
// error at once if the configuration is invalid or the feed is already
// running. Each stream ticks after a gap drawn uniformly from
// [0.5, 1.5] × TickInterval; a stream that fell more than one interval
// behind (a stalled machine) skips ahead instead of bursting.
func (f *TickFeed) Run(ctx context.Context) error {
	if f.cfgErr != nil {
		return f.cfgErr
	}
	if !f.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer f.running.Store(false)
	iv := f.cfg.TickInterval
	now := time.Now()
	for _, s := range f.streams {
		s.next = now.Add(time.Duration(f.rng.Int64N(int64(iv))))
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		now = time.Now()
		earliest := now.Add(iv)
		for _, s := range f.streams {
			if !s.next.After(now) {
				f.tick(s)
				s.next = s.next.Add(f.gap(iv))
				if s.next.Before(now.Add(-iv)) {
					s.next = now.Add(f.gap(iv))
				}
			}
			if s.next.Before(earliest) {
				earliest = s.next
			}
		}
		timer.Reset(time.Until(earliest))
	}
}

// gap draws the time to a stream's next tick.
func (f *TickFeed) gap(iv time.Duration) time.Duration {
	return iv/2 + time.Duration(f.rng.Int64N(int64(iv)+1))
}

// tick steps the symbol's fair value and publishes one tick of stream s.
func (f *TickFeed) tick(s *tickStream) {
	t := f.nextTick(s, unixMs(f.cfg.Now()))
	f.em.emit(s.subject, &t, t.TS, false)
}

// nextTick advances the model and returns the stream's next tick. Invariants:
// 1 <= bid < ask, bid <= last <= ask, size >= one lot.
func (f *TickFeed) nextTick(s *tickStream, ts int64) Tick {
	st, rng := s.sym, f.rng
	step := rng.NormFloat64()*st.sigma - st.reversion*float64(st.fair-st.base)
	st.fair = max(st.floor, st.fair+int64(math.Round(step)))
	mid := st.fair + s.offset + int64(math.Round(rng.NormFloat64()*st.sigma*st.noiseShare))
	spread := st.spread + rng.Int64N(3)
	bid := max(1, mid-spread/2)
	ask := bid + spread
	last := bid + rng.Int64N(spread+1)
	size := logUniform(rng, st.sizeLo, st.sizeHi)
	pd, sd := st.prof.priceDecimals, st.prof.sizeDecimals
	return Tick{
		Venue:  s.venue,
		Symbol: s.symbol,
		Bid:    formatFixed(bid, pd),
		Ask:    formatFixed(ask, pd),
		Last:   formatFixed(last, pd),
		Size:   formatFixed(size, sd),
		TS:     ts,
	}
}

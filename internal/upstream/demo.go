package upstream

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// Demo runs the three demo feeds (ticks, chain, jobs) together, sharing one
// epoch (Sh-Epoch) and one seed.
//
// Run may be called again after it returned; the feeds continue under the
// same epoch. Stats and Epoch may be called at any time, concurrently with
// Run.
type Demo struct {
	cfg     Config
	epochMs int64
	ticks   *TickFeed
	chain   *ChainFeed
	jobs    *JobFeed
	running atomic.Bool
}

// NewDemo returns a Demo publishing through pub, which must be safe for
// concurrent use (as *nats.Conn is). Its epoch is cfg.Now() at this call.
// An invalid cfg is reported by Run.
func NewDemo(pub Publisher, cfg Config) *Demo {
	cfg = cfg.withDefaults()
	cfg.Seed = resolveSeed(cfg.Seed)
	epoch := unixMs(cfg.Now())
	return &Demo{
		cfg:     cfg,
		epochMs: epoch,
		ticks:   newTickFeed(pub, cfg, epoch),
		chain:   newChainFeed(pub, cfg, epoch),
		jobs:    newJobFeed(pub, cfg, epoch),
	}
}

// Epoch returns the Sh-Epoch value of every message the Demo publishes:
// its start time in Unix ms.
func (d *Demo) Epoch() int64 { return d.epochMs }

// Stats returns the publish counts of each feed. Safe for concurrent use.
func (d *Demo) Stats() Stats {
	return Stats{Ticks: d.ticks.Stats(), Chain: d.chain.Stats(), Jobs: d.jobs.Stats()}
}

// Run runs the three feeds, each on a goroutine of its own, until ctx is
// done; it returns nil once all of them have stopped. Publish errors never
// stop a feed: they are counted in Stats and logged at most once per 10 s
// per feed. Run returns an error at once if the configuration is invalid or
// the Demo is already running.
func (d *Demo) Run(ctx context.Context) error {
	if err := d.cfg.validate(); err != nil {
		return err
	}
	if !d.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer d.running.Store(false)
	log := d.cfg.Logger
	log.Info("upstream: demo feeds started",
		"epoch", d.epochMs, "tick_rate", d.cfg.TickRate(),
		"block_interval", d.cfg.BlockInterval, "jobs", d.cfg.JobsConcurrent)
	var (
		wg   sync.WaitGroup
		errs [3]error
	)
	for i, run := range []func(context.Context) error{d.ticks.Run, d.chain.Run, d.jobs.Run} {
		wg.Go(func() { errs[i] = run(ctx) })
	}
	wg.Wait()
	s := d.Stats()
	log.Info("upstream: demo feeds stopped",
		"ticks", s.Ticks.Published, "chain", s.Chain.Published, "jobs", s.Jobs.Published,
		"errors", s.Ticks.Errors+s.Chain.Errors+s.Jobs.Errors)
	return errors.Join(errs[:]...)
}

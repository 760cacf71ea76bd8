package upstream

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/streamhub/streamhub/internal/subject"
)

// Defaults for the zero values of Config.
const (
	DefaultTickInterval      = 150 * time.Millisecond
	DefaultNetwork           = "eth"
	DefaultBlockInterval     = 2 * time.Second
	DefaultTransfersPerBlock = 3
	DefaultReorgEvery        = 15
	DefaultJobsConcurrent    = 4
	DefaultJobStepInterval   = 400 * time.Millisecond
	DefaultFailRate          = 0.15

	// maxJobsConcurrent bounds JobsConcurrent so a typo cannot start a
	// million jobs.
	maxJobsConcurrent = 10_000
	// maxTransfersPerBlock bounds TransfersPerBlock for the same reason.
	maxTransfersPerBlock = 1_000
)

// defaultVenues, defaultSymbols and defaultTenants are the spec's lists.
// They are unexported so nobody can change them at run time.
var (
	defaultVenues  = []string{"coinbase", "binance"}
	defaultSymbols = []string{
		"BTC-USD", "ETH-USD", "SOL-USD", "XRP-USD", "ADA-USD",
		"DOGE-USD", "AVAX-USD", "LINK-USD", "DOT-USD", "LTC-USD",
	}
	defaultTenants = []string{"acme", "globex"}
)

// Config configures the demo feeds. Every zero value means the documented
// default, so Config{} is the quickstart's configuration. A Config is copied
// by the constructors; changing it afterwards has no effect.
type Config struct {
	// Venues are the exchanges ticks are published for, one subject token
	// each. Default: coinbase, binance.
	Venues []string
	// Symbols are the instruments, one subject token each. Default: BTC-USD,
	// ETH-USD, SOL-USD, XRP-USD, ADA-USD, DOGE-USD, AVAX-USD, LINK-USD,
	// DOT-USD, LTC-USD. Unknown symbols get a generic profile around 100.00.
	Symbols []string
	// TickInterval is the mean time between two ticks of one (venue, symbol)
	// stream; each gap is drawn uniformly from [0.5, 1.5] × TickInterval.
	// Default 150ms, which with the default lists is about 133 ticks/s in
	// total (see [Config.TickRate]).
	TickInterval time.Duration
	// Network is the chain's subject token. Default "eth".
	Network string
	// BlockInterval is the time between two blocks. Default 2s.
	BlockInterval time.Duration
	// TransfersPerBlock is the number of large transfers published after
	// each block. Default 3; negative means none.
	TransfersPerBlock int
	// ReorgEvery makes a reorg happen with probability 1/ReorgEvery at each
	// block interval, so one every ReorgEvery blocks on average. Default 15;
	// negative means never.
	ReorgEvery int
	// Tenants are the job tenants, one subject token each. Default acme,
	// globex.
	Tenants []string
	// JobsConcurrent is the number of live jobs; a finished job is replaced
	// at once by a new one. Default 4; negative is invalid.
	JobsConcurrent int
	// JobStepInterval is the time between two progress events of a job.
	// Default 400ms.
	JobStepInterval time.Duration
	// FailRate is the probability that a job ends in failed rather than
	// done. Default 0.15; negative means jobs never fail; above 1 is invalid.
	FailRate float64
	// Seed seeds the feeds' random sources, so a fixed seed gives the same
	// sequence of values (not the same timestamps). 0 means time-based.
	Seed int64
	// Now gives source timestamps (Sh-Ts, ts fields, the epoch). Default
	// time.Now. It may be called from every feed's goroutine concurrently.
	Now func() time.Time
	// Logger receives start/stop notices and rate-limited publish errors.
	// Default: discard.
	Logger *slog.Logger
}

// withDefaults returns a copy of c with every zero value replaced by its
// default and every slice cloned.
func (c Config) withDefaults() Config {
	c.Venues = cloneOr(c.Venues, defaultVenues)
	c.Symbols = cloneOr(c.Symbols, defaultSymbols)
	c.Tenants = cloneOr(c.Tenants, defaultTenants)
	if c.TickInterval <= 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.Network == "" {
		c.Network = DefaultNetwork
	}
	if c.BlockInterval <= 0 {
		c.BlockInterval = DefaultBlockInterval
	}
	switch {
	case c.TransfersPerBlock == 0:
		c.TransfersPerBlock = DefaultTransfersPerBlock
	case c.TransfersPerBlock < 0:
		c.TransfersPerBlock = 0
	}
	if c.ReorgEvery == 0 {
		c.ReorgEvery = DefaultReorgEvery
	}
	if c.JobsConcurrent == 0 {
		c.JobsConcurrent = DefaultJobsConcurrent
	}
	if c.JobStepInterval <= 0 {
		c.JobStepInterval = DefaultJobStepInterval
	}
	switch {
	case c.FailRate == 0:
		c.FailRate = DefaultFailRate
	case c.FailRate < 0:
		c.FailRate = 0
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func cloneOr(s, def []string) []string {
	if len(s) == 0 {
		return slices.Clone(def)
	}
	return slices.Clone(s)
}

// TickRate returns the mean number of ticks per second the configuration
// produces in total: one stream per (venue, symbol), each ticking every
// TickInterval on average. It is a pure function of c (defaults applied).
func (c Config) TickRate() float64 {
	c = c.withDefaults()
	return float64(len(c.Venues)*len(c.Symbols)) / c.TickInterval.Seconds()
}

// validate checks a configuration with defaults applied.
func (c Config) validate() error {
	for _, l := range []struct {
		what string
		toks []string
	}{{"venue", c.Venues}, {"symbol", c.Symbols}, {"tenant", c.Tenants}, {"network", []string{c.Network}}} {
		seen := make(map[string]bool, len(l.toks))
		for _, t := range l.toks {
			if err := validToken(t); err != nil {
				return fmt.Errorf("upstream: %s %q: %w", l.what, t, err)
			}
			if seen[t] {
				return fmt.Errorf("upstream: duplicate %s %q", l.what, t)
			}
			seen[t] = true
		}
	}
	if c.JobsConcurrent < 0 || c.JobsConcurrent > maxJobsConcurrent {
		return fmt.Errorf("upstream: JobsConcurrent %d out of range [0, %d]", c.JobsConcurrent, maxJobsConcurrent)
	}
	if c.TransfersPerBlock > maxTransfersPerBlock {
		return fmt.Errorf("upstream: TransfersPerBlock %d over the limit of %d", c.TransfersPerBlock, maxTransfersPerBlock)
	}
	if c.FailRate > 1 {
		return fmt.Errorf("upstream: FailRate %v above 1", c.FailRate)
	}
	return nil
}

// validToken checks that t can be one token of a literal subject.
func validToken(t string) error {
	if strings.Contains(t, ".") {
		return fmt.Errorf("%w: token contains '.'", subject.ErrInvalid)
	}
	return subject.Validate(t)
}

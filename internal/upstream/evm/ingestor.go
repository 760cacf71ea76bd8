package evm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/rpc"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Publisher is the JetStream publish the ingestor needs; jetstream.JetStream
// satisfies it. It must be safe for concurrent use (one Ingestor calls it
// from one goroutine).
type Publisher interface {
	PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// ErrRunning is returned by Run while the same Ingestor is running.
var ErrRunning = errors.New("evm: already running")

// errChainChanged ends Run: the node now serves another chain.
var errChainChanged = errors.New("evm: the node changed chains")

// Stats counts an Ingestor's work. All counts only grow.
type Stats struct {
	// Published counts messages the stream stored; Duplicates those it
	// already had (another ingestor published them first).
	Published, Duplicates uint64
	// Errors counts messages given up after Config.PublishTries tries.
	Errors uint64
	// Blocks counts blocks that became canonical; Reorgs reorg notices.
	Blocks, Reorgs uint64
	// Reconnects counts sessions with the node after the first.
	Reconnects uint64
}

type counters struct {
	published, duplicates, errors, blocks, reorgs, reconnects atomic.Uint64
}

// Ingestor follows one EVM node and publishes its chain (see the package
// doc). Run may be called again after it returned; the chain it remembers
// carries over. Stats may be called at any time.
type Ingestor struct {
	cfg     Config
	cfgErr  error
	pub     Publisher
	running atomic.Bool
	stats   counters

	subjBlock, subjTransfer, subjReorg string

	// Owned by Run's goroutine. chain is the canonical chain as published,
	// oldest first, each block the parent of the next, at most cfg.Window
	// blocks; its last block is the head.
	chain       []*block
	chainID     uint64
	haveChainID bool
	tokens      *tokenCache
	// finalized is the height of the node's finalized block, -1 if unknown.
	finalized       int64
	noFinalizedSaid bool
	// lastErrLog and suppressedErrs rate-limit publish-failure records.
	lastErrLog     time.Time
	suppressedErrs uint64
}

// New returns an ingestor publishing through pub. An invalid cfg is
// reported by Run.
func New(pub Publisher, cfg Config) *Ingestor {
	err := cfg.Validate()
	cfg = cfg.withDefaults()
	return &Ingestor{
		cfg: cfg, cfgErr: err, pub: pub,
		subjBlock:    "chain." + cfg.Network + ".block",
		subjTransfer: "chain." + cfg.Network + ".transfer",
		subjReorg:    "chain." + cfg.Network + ".reorg",
		tokens:       newTokenCache(cfg.TokenCacheSize),
		finalized:    -1,
	}
}

// Stats returns the counts so far. Safe for concurrent use.
func (g *Ingestor) Stats() Stats {
	s := &g.stats
	return Stats{Published: s.published.Load(), Duplicates: s.duplicates.Load(), Errors: s.errors.Load(),
		Blocks: s.blocks.Load(), Reorgs: s.reorgs.Load(), Reconnects: s.reconnects.Load()}
}

// Run follows the node until ctx is done, then returns nil. It reconnects
// after any failure with jittered exponential backoff. It returns an error
// at once for an invalid configuration or when already running, and when
// the node turns out to serve another chain than before.
func (g *Ingestor) Run(ctx context.Context) error {
	if g.cfgErr != nil {
		return g.cfgErr
	}
	if !g.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer g.running.Store(false)
	backoff := g.cfg.BackoffMin
	for first := true; ; first = false {
		if !first {
			g.stats.reconnects.Add(1)
		}
		healthy, err := g.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errChainChanged) {
			return err
		}
		if healthy {
			backoff = g.cfg.BackoffMin
		}
		wait := backoff/2 + rand.N(backoff/2+1) // jitter: [backoff/2, backoff]
		g.cfg.Logger.Warn("evm: node connection lost; reconnecting", "network", g.cfg.Network, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, g.cfg.BackoffMax)
	}
}

// session is one connection: dial, subscribe to new heads, catch up with
// the latest block, then follow heads until an error, a silent node or ctx.
// healthy reports whether at least one head was processed.
func (g *Ingestor) session(ctx context.Context) (healthy bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, g.cfg.CallTimeout)
	c, err := rpc.DialContext(dctx, g.cfg.URL)
	cancel()
	if err != nil {
		return false, fmt.Errorf("evm: dial %s: %w", g.cfg.URL, err)
	}
	defer c.Close()
	n := &node{c: c, timeout: g.cfg.CallTimeout, tokens: g.cfg.Tokens}
	id, err := n.chainID(ctx)
	if err != nil {
		return false, err
	}
	if g.haveChainID && id != g.chainID {
		return false, fmt.Errorf("%w: chain ID %d, was %d", errChainChanged, id, g.chainID)
	}
	g.chainID, g.haveChainID = id, true
	g.tokens.setChain(id)

	heads := make(chan json.RawMessage, 64)
	sctx, cancel := context.WithTimeout(ctx, g.cfg.CallTimeout)
	sub, err := c.EthSubscribe(sctx, heads, "newHeads")
	cancel()
	if err != nil {
		return false, fmt.Errorf("evm: eth_subscribe newHeads: %w", err)
	}
	defer sub.Unsubscribe()
	latest, err := n.blockByTag(ctx, "latest")
	if err != nil {
		return false, fmt.Errorf("evm: latest block: %w", err)
	}
	if err := g.advance(ctx, n, latest); err != nil {
		return false, err
	}
	g.cfg.Logger.Info("evm: following the node", "network", g.cfg.Network, "chain_id", id, "head", latest.number)
	stale := time.NewTimer(g.cfg.StaleAfter)
	defer stale.Stop()
	for {
		select {
		case <-ctx.Done():
			return healthy, nil
		case err := <-sub.Err():
			return healthy, fmt.Errorf("evm: newHeads subscription ended: %w", err)
		case <-stale.C:
			return healthy, fmt.Errorf("evm: no new head for %v", g.cfg.StaleAfter)
		case raw := <-heads:
			h, err := decodeBlock(raw)
			if err != nil {
				return healthy, fmt.Errorf("evm: newHeads: %w", err)
			}
			if err := g.advance(ctx, n, h); err != nil {
				return healthy, err
			}
			healthy = true
			stale.Reset(g.cfg.StaleAfter)
		}
	}
}

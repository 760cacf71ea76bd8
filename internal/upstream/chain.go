package upstream

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"sync/atomic"
)

// Chain model constants.
const (
	// maxReorgDepth is the deepest reorg the feed produces.
	maxReorgDepth = 3
	// startHeight is near the Ethereum mainnet height of late 2024.
	startHeight = 21_000_000
	// gasLimit caps gas_used per block.
	gasLimit = 30_000_000
	// whalePoolSize is the number of recurring addresses (exchanges, funds)
	// that take part in about half of the transfers.
	whalePoolSize = 12
)

// assetProfile describes a transferable asset. Amounts are int64 units of
// 10^-decimals; USD values are computed in cents with integer arithmetic.
type assetProfile struct {
	symbol     string
	decimals   int
	min, max   float64 // transfer size range, whole units
	centsPerUn int64   // reference USD price of one whole unit, in cents
}

var assets = []assetProfile{
	{symbol: "USDC", decimals: 2, min: 250_000, max: 25_000_000, centsPerUn: 100},
	{symbol: "USDT", decimals: 2, min: 250_000, max: 25_000_000, centsPerUn: 100},
	{symbol: "ETH", decimals: 4, min: 100, max: 8_000, centsPerUn: 350_000},
	{symbol: "WBTC", decimals: 4, min: 5, max: 300, centsPerUn: 6_700_000},
}

// chainBlock is a block the feed knows: enough to fork from it.
type chainBlock struct {
	height uint64
	hash   [32]byte
}

// ChainFeed publishes an EVM-like chain on chain.<network>.block,
// chain.<network>.transfer and chain.<network>.reorg: one block per
// BlockInterval, each followed by TransfersPerBlock large transfers, and
// now and then a reorg notice (critical) followed by the new branch.
//
// Run may be called again after it returned; the chain continues. Stats may
// be called at any time.
type ChainFeed struct {
	cfg     Config
	cfgErr  error
	em      *emitter
	rng     *rand.Rand
	stats   counters
	running atomic.Bool

	subjBlock, subjTransfer, subjReorg string

	// Owned by Run's goroutine. recent holds the canonical chain's last
	// blocks, oldest first, at most maxReorgDepth+1 of them, and its last
	// element is the head; it starts with an unpublished genesis.
	recent []chainBlock
	whales [whalePoolSize][20]byte
}

// NewChainFeed returns a feed publishing through pub. An invalid cfg is
// reported by Run.
func NewChainFeed(pub Publisher, cfg Config) *ChainFeed {
	cfg = cfg.withDefaults()
	cfg.Seed = resolveSeed(cfg.Seed)
	return newChainFeed(pub, cfg, unixMs(cfg.Now()))
}

func newChainFeed(pub Publisher, cfg Config, epochMs int64) *ChainFeed {
	f := &ChainFeed{
		cfg:          cfg,
		cfgErr:       cfg.validate(),
		rng:          newRand(cfg.Seed, streamChain),
		subjBlock:    "chain." + cfg.Network + ".block",
		subjTransfer: "chain." + cfg.Network + ".transfer",
		subjReorg:    "chain." + cfg.Network + ".reorg",
	}
	f.em = newEmitter(pub, "chain", epochMs, cfg.Logger, &f.stats)
	f.recent = []chainBlock{{height: startHeight - 1 + uint64(f.rng.IntN(100_000)), hash: f.randHash()}}
	for i := range f.whales {
		f.whales[i] = f.randAddr()
	}
	return f
}

// Stats returns the feed's publish counts. Safe for concurrent use.
func (f *ChainFeed) Stats() FamilyStats { return f.stats.snapshot() }

// Run publishes the chain until ctx is done, then returns nil. The first
// block is published at once. It returns an error at once if the
// configuration is invalid or the feed is already running.
func (f *ChainFeed) Run(ctx context.Context) error {
	if f.cfgErr != nil {
		return f.cfgErr
	}
	if !f.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer f.running.Store(false)
	everyInterval(ctx, f.cfg.BlockInterval, f.step)
	return nil
}

// step produces one block interval: a reorg with probability 1/ReorgEvery
// (once there is history to fork from), else one new block.
func (f *ChainFeed) step() {
	if f.cfg.ReorgEvery > 0 && len(f.recent) >= 2 && f.rng.IntN(f.cfg.ReorgEvery) == 0 {
		f.reorg()
		return
	}
	head := f.recent[len(f.recent)-1]
	f.publishBlock(f.newBlock(head))
}

// reorg replaces the last depth blocks: it drops them, builds a new branch
// of depth+1 blocks on the fork point (the heavier chain that caused the
// reorg, so the head advances by one), publishes the notice and then the
// branch. Heights fork+1 … old head repeat with new hashes.
func (f *ChainFeed) reorg() {
	depth := 1 + f.rng.IntN(min(maxReorgDepth, len(f.recent)-1))
	oldHead := f.recent[len(f.recent)-1]
	f.recent = f.recent[:len(f.recent)-depth]
	fork := f.recent[len(f.recent)-1]
	branch := make([]chainBlock, depth+1)
	parent := fork
	for i := range branch {
		branch[i] = f.newBlock(parent)
		parent = branch[i]
	}
	ts := unixMs(f.cfg.Now())
	f.em.emit(f.subjReorg, &Reorg{
		Network:    f.cfg.Network,
		Depth:      depth,
		ForkHeight: fork.height,
		OldHead:    hexHash(oldHead.hash),
		NewHead:    hexHash(parent.hash),
		TS:         ts,
	}, ts, true)
	for _, b := range branch {
		f.publishBlock(b)
	}
}

// newBlock returns a block on top of parent (not yet canonical).
func (f *ChainFeed) newBlock(parent chainBlock) chainBlock {
	return chainBlock{height: parent.height + 1, hash: f.randHash()}
}

// publishBlock makes b the head (its parent must be the current head) and
// publishes it with its transfers.
func (f *ChainFeed) publishBlock(b chainBlock) {
	parent := f.recent[len(f.recent)-1]
	f.recent = append(f.recent, b)
	if len(f.recent) > maxReorgDepth+1 {
		f.recent = append(f.recent[:0], f.recent[len(f.recent)-maxReorgDepth-1:]...)
	}
	ts := unixMs(f.cfg.Now())
	txs := 60 + f.rng.IntN(300)
	gas := min(uint64(gasLimit), uint64(txs)*uint64(25_000+f.rng.IntN(45_000)))
	f.em.emit(f.subjBlock, &Block{
		Network:    f.cfg.Network,
		Height:     b.height,
		Hash:       hexHash(b.hash),
		ParentHash: hexHash(parent.hash),
		Time:       ts,
		TxCount:    txs,
		GasUsed:    gas,
	}, ts, false)
	for range f.cfg.TransfersPerBlock {
		t := f.newTransfer(b.height, ts)
		f.em.emit(f.subjTransfer, &t, ts, false)
	}
}

// newTransfer draws a large transfer included at height.
func (f *ChainFeed) newTransfer(height uint64, ts int64) Transfer {
	a := assets[f.rng.IntN(len(assets))]
	p := pow10(a.decimals)
	amount := logUniform(f.rng, toUnits(a.min, a.decimals), toUnits(a.max, a.decimals))
	usdCents := amount * a.centsPerUn / p // < 2^53 for every profile above
	from := f.addr()
	to := f.addr()
	for to == from {
		to = f.randAddr()
	}
	return Transfer{
		Network:     f.cfg.Network,
		TxHash:      hexHash(f.randHash()),
		BlockHeight: height,
		From:        "0x" + hex.EncodeToString(from[:]),
		To:          "0x" + hex.EncodeToString(to[:]),
		Asset:       a.symbol,
		Amount:      formatFixed(amount, a.decimals),
		USDValue:    formatFixed(usdCents, 2),
		TS:          ts,
	}
}

// addr returns a recurring whale address half of the time, else a fresh one.
func (f *ChainFeed) addr() [20]byte {
	if f.rng.IntN(2) == 0 {
		return f.whales[f.rng.IntN(len(f.whales))]
	}
	return f.randAddr()
}

func (f *ChainFeed) randHash() (h [32]byte) {
	for i := 0; i < len(h); i += 8 {
		binary.BigEndian.PutUint64(h[i:], f.rng.Uint64())
	}
	return h
}

func (f *ChainFeed) randAddr() (a [20]byte) {
	h := f.randHash()
	copy(a[:], h[:])
	return a
}

func hexHash(h [32]byte) string { return "0x" + hex.EncodeToString(h[:]) }

package upstream

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

var (
	hashRE = regexp.MustCompile(`^0x[0-9a-f]{64}$`)
	addrRE = regexp.MustCompile(`^0x[0-9a-f]{40}$`)
)

// chainChecker replays chain messages in order and fails on any
// inconsistency: blocks must chain by parent_hash, except that a reorg
// notice announces a fork, after which the new branch starts at
// fork_height+1 on the fork block and ends at new_head.
type chainChecker struct {
	t            *testing.T
	perBlock     int
	hashAt       map[uint64]string // canonical hash per height, as seen so far
	head         Block
	started      bool
	branchLeft   int    // blocks of the announced branch still to come
	branchHead   string // expected hash of the branch's last block
	transfers    int    // transfers since the last block
	reorgs       int
	repeats      int // blocks whose height was already seen
	blocks       int
	lastWasReorg bool
}

func (c *chainChecker) check(m received) {
	t := c.t
	critical := m.hdr.Get(headerCritical) == "1"
	switch m.subject {
	case "chain.eth.block":
		var b Block
		mustUnmarshal(t, m, &b)
		if critical || b.Network != "eth" || !hashRE.MatchString(b.Hash) || !hashRE.MatchString(b.ParentHash) ||
			b.TxCount <= 0 || b.GasUsed == 0 || b.GasUsed > gasLimit || b.Time != headerInt(t, m, headerTs) {
			t.Fatalf("bad block: %s (critical %v)", m.data, critical)
		}
		if c.started && c.transfers != c.perBlock {
			t.Fatalf("%d transfers after block %d, want %d", c.transfers, c.head.Height, c.perBlock)
		}
		switch {
		case !c.started:
			c.hashAt = map[uint64]string{b.Height - 1: b.ParentHash}
		case c.lastWasReorg:
			// first block of the branch: checked against the fork below
		default:
			if b.Height != c.head.Height+1 || b.ParentHash != c.head.Hash {
				t.Fatalf("block %d (parent %s) does not extend head %d (%s)", b.Height, b.ParentHash, c.head.Height, c.head.Hash)
			}
		}
		if c.lastWasReorg {
			if want, ok := c.hashAt[b.Height-1]; !ok || b.ParentHash != want {
				t.Fatalf("branch block %d: parent %s, want fork block %s", b.Height, b.ParentHash, want)
			}
		}
		if _, seen := c.hashAt[b.Height]; seen && c.started {
			c.repeats++
		}
		c.hashAt[b.Height] = b.Hash
		c.started, c.lastWasReorg, c.head, c.transfers = true, false, b, 0
		c.blocks++
		if c.branchLeft > 0 {
			c.branchLeft--
			if c.branchLeft == 0 && b.Hash != c.branchHead {
				t.Fatalf("branch ends at %s, reorg announced new_head %s", b.Hash, c.branchHead)
			}
		}
	case "chain.eth.transfer":
		var x Transfer
		mustUnmarshal(t, m, &x)
		if critical || !c.started || x.BlockHeight != c.head.Height {
			t.Fatalf("transfer %s: want height of the current block %d (critical %v)", m.data, c.head.Height, critical)
		}
		a := map[string]int{"USDC": 2, "USDT": 2, "ETH": 4, "WBTC": 4}
		dec, ok := a[x.Asset]
		if !ok || !hashRE.MatchString(x.TxHash) || !addrRE.MatchString(x.From) || !addrRE.MatchString(x.To) || x.From == x.To {
			t.Fatalf("bad transfer: %s", m.data)
		}
		amt, usd := parseDec(t, x.Amount), parseDec(t, x.USDValue)
		if decimalsOf(x.Amount) != dec || decimalsOf(x.USDValue) != 2 || amt.Sign() <= 0 || usd.Sign() <= 0 {
			t.Fatalf("bad transfer amounts: %s", m.data)
		}
		if f, _ := usd.Float64(); f < 100_000 {
			t.Fatalf("transfer worth $%.2f is not large: %s", f, m.data)
		}
		c.transfers++
	case "chain.eth.reorg":
		var r Reorg
		mustUnmarshal(t, m, &r)
		if !critical {
			t.Fatalf("reorg without Sh-Critical: %s", m.data)
		}
		if c.branchLeft != 0 || !c.started {
			t.Fatalf("reorg %s before the previous branch completed", m.data)
		}
		if r.Depth < 1 || r.Depth > maxReorgDepth || r.OldHead != c.head.Hash ||
			r.ForkHeight != c.head.Height-uint64(r.Depth) || !hashRE.MatchString(r.NewHead) {
			t.Fatalf("reorg %s inconsistent with head %d (%s)", m.data, c.head.Height, c.head.Hash)
		}
		if c.transfers != c.perBlock {
			t.Fatalf("%d transfers after block %d, want %d", c.transfers, c.head.Height, c.perBlock)
		}
		c.reorgs++
		c.branchLeft, c.branchHead, c.lastWasReorg = r.Depth+1, r.NewHead, true
	default:
		t.Fatalf("unexpected subject %s", m.subject)
	}
}

func mustUnmarshal(t *testing.T, m received, v any) {
	t.Helper()
	if err := json.Unmarshal(m.data, v); err != nil {
		t.Fatalf("%s: %v: %s", m.subject, err, m.data)
	}
}

func TestChainBlocksTransfersReorgs(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	rec := record(t, connect(t, url), "chain.>")
	f := NewChainFeed(connect(t, url), Config{BlockInterval: 30 * time.Millisecond, ReorgEvery: 3, TransfersPerBlock: 2, Seed: 5})
	stop := runFeed(t, f.Run)
	progress := func() *chainChecker {
		c := &chainChecker{t: t, perBlock: 2}
		for _, m := range rec.snapshot() {
			c.check(m)
		}
		return c
	}
	testsupport.WaitFor(t, "3 reorgs followed by their branches", 30*time.Second, func() bool {
		c := progress()
		return c.reorgs >= 3 && c.branchLeft == 0 && c.transfers == 2
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	msgs := rec.snapshot()
	checkConvention(t, msgs)
	c := progress()
	if c.repeats == 0 {
		t.Fatal("no height repeated after a reorg")
	}
	if got := f.Stats(); got.Published != uint64(len(msgs)) || got.Errors != 0 {
		t.Fatalf("stats %+v, received %d", got, len(msgs))
	}
}

// TestChainReorgSettings drives the model directly: ReorgEvery 1 reorgs at
// every step once possible, and a negative ReorgEvery never does.
func TestChainReorgSettings(t *testing.T) {
	for _, tc := range []struct {
		every      int
		wantReorgs int
	}{{1, 29}, {-1, 0}} {
		pub := &fakePublisher{}
		f := NewChainFeed(pub, Config{ReorgEvery: tc.every, TransfersPerBlock: -1, Seed: 9})
		for range 30 {
			f.step()
		}
		c := &chainChecker{t: t, perBlock: 0}
		for _, m := range pub.received() {
			c.check(m)
		}
		checkConvention(t, pub.received())
		if c.reorgs != tc.wantReorgs {
			t.Fatalf("ReorgEvery %d: %d reorgs in 30 steps, want %d", tc.every, c.reorgs, tc.wantReorgs)
		}
	}
}

package evm

import (
	"context"
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
)

// advance makes head the canonical head: it publishes the blocks between
// the last published head and head (backfill), or the reorg that leads to
// head, and then the marks that became due. head may be a bare header (from
// newHeads); blocks are fetched by hash as needed. Everything is fetched
// before anything is published, so a failed call leaves the chain as it
// was (to be tried again after a reconnect); once publishing started, only
// ctx ending interrupts it.
func (g *Ingestor) advance(ctx context.Context, n *node, head *block) error {
	if len(g.chain) > 0 {
		tip := g.chain[len(g.chain)-1]
		if head.hash == tip.hash {
			return nil
		}
		if i := g.indexOf(head.hash); i >= 0 {
			// The node rewound to a block already published (a reorg whose
			// new branch has not arrived yet, or a set-head).
			if err := g.refreshFinalized(ctx, n); err != nil {
				return err
			}
			return g.reorg(ctx, i, nil)
		}
		if head.number > tip.number+uint64(g.cfg.Window) {
			g.cfg.Logger.Warn("evm: gap larger than the window; resuming at the head without backfill",
				"network", g.cfg.Network, "last", tip.number, "head", head.number)
			prev := g.chain
			g.chain = nil
			defer func() {
				if g.chain == nil {
					g.chain = prev // failed before publishing: keep what was
				}
			}()
		}
	}
	path, anc, err := g.pathTo(ctx, n, head)
	if err != nil {
		return err
	}
	for _, b := range path {
		if b.transfers, err = n.transfers(ctx, b.hash); err != nil {
			return err
		}
		for _, t := range b.transfers { // warm the cache before publishing
			if _, err := g.tokens.meta(ctx, t.token, n.ethCall, isTransport); err != nil {
				return err
			}
		}
	}
	if err := g.refreshFinalized(ctx, n); err != nil {
		return err
	}
	if anc < len(g.chain)-1 {
		if err := g.reorg(ctx, anc, path); err != nil {
			return err
		}
	}
	// Each block is published as the head it is at that point of the
	// stream, so a message's confirmations always count the blocks a client
	// has been told of; publishMarks then marks the backfilled ones.
	for _, b := range path {
		g.chain = append(g.chain, b)
		g.stats.blocks.Add(1)
		if err := g.publishBlock(ctx, b, b.number); err != nil {
			return err
		}
	}
	if extra := len(g.chain) - g.cfg.Window; extra > 0 {
		g.chain = append(g.chain[:0:0], g.chain[extra:]...)
	}
	return g.publishMarks(ctx)
}

// pathTo walks back from head by parent hash to a published block. It
// returns the new blocks oldest first and the index in g.chain of their
// parent, -1 if none of the chain is an ancestor (an empty chain, or a
// reorg deeper than the window).
func (g *Ingestor) pathTo(ctx context.Context, n *node, head *block) (path []*block, anc int, err error) {
	cur := head
	for {
		if !cur.full { // a bare header (newHeads): fetch the block
			if cur, err = n.blockByHash(ctx, cur.hash); err != nil {
				return nil, 0, err
			}
		}
		if len(path) > 0 && cur.number+1 != path[len(path)-1].number {
			return nil, 0, fmt.Errorf("evm: block %s at %d is the parent of one at %d", cur.hash, cur.number, path[len(path)-1].number)
		}
		path = append(path, cur)
		if len(g.chain) == 0 {
			break
		}
		if i := g.indexOf(cur.parent); i >= 0 {
			anc = i
			reverse(path)
			return path, anc, nil
		}
		if cur.number == 0 || cur.number <= g.chain[0].number || len(path) > g.cfg.Window {
			break // the ancestor is below the window
		}
		parent := cur.parent
		if cur, err = n.blockByHash(ctx, parent); err != nil {
			return nil, 0, err
		}
	}
	reverse(path)
	return path, -1, nil
}

// reorg retracts g.chain above index anc (all of it for -1): it publishes
// the notice naming the retracted and the added blocks, then the retracted
// blocks' transfers with removed set, newest first.
func (g *Ingestor) reorg(ctx context.Context, anc int, added []*block) error {
	retracted := g.chain[anc+1:]
	oldHead := g.chain[len(g.chain)-1]
	r := &Reorg{Network: g.cfg.Network, Depth: len(retracted), OldHead: oldHead.hash.Hex(),
		TS: g.cfg.Now().UnixMilli(), Retracted: []BlockRef{}, Added: []BlockRef{}}
	switch {
	case anc >= 0:
		r.ForkHeight = g.chain[anc].number
		r.NewHead = g.chain[anc].hash.Hex()
	case len(added) > 0:
		r.ForkHeight = added[0].number - 1
	}
	for i := len(retracted) - 1; i >= 0; i-- {
		r.Retracted = append(r.Retracted, BlockRef{Height: retracted[i].number, Hash: retracted[i].hash.Hex()})
	}
	for _, b := range added {
		r.Added = append(r.Added, BlockRef{Height: b.number, Hash: b.hash.Hex()})
		r.NewHead = b.hash.Hex()
	}
	g.stats.reorgs.Add(1)
	g.cfg.Logger.Warn("evm: reorg", "network", g.cfg.Network, "depth", r.Depth, "fork_height", r.ForkHeight)
	id := fmt.Sprintf("%s:reorg:%s:%s", g.cfg.Network, r.OldHead, r.NewHead)
	if err := g.publish(ctx, g.subjReorg, r, id, r.TS, true); err != nil {
		return err
	}
	g.chain = g.chain[:anc+1]
	for i := len(retracted) - 1; i >= 0; i-- {
		b := retracted[i]
		for j := len(b.transfers) - 1; j >= 0; j-- {
			t := g.transfer(b, &b.transfers[j], 0)
			t.Removed = true
			if err := g.publish(ctx, g.subjTransfer, t, g.transferID(b, t, "removed"), t.TS, false); err != nil {
				return err
			}
		}
	}
	return nil
}

// refreshFinalized asks the node for its finalized block. A node without
// the tag (an error answer) is said once in the log and leaves the height
// unknown.
func (g *Ingestor) refreshFinalized(ctx context.Context, n *node) error {
	b, err := n.blockByTag(ctx, "finalized")
	switch {
	case errors.Is(err, errNotFound):
		return nil
	case err != nil && !isTransport(err):
		if !g.noFinalizedSaid {
			g.noFinalizedSaid = true
			g.cfg.Logger.Warn("evm: the node has no finalized block; nothing is marked finalized", "network", g.cfg.Network, "err", err)
		}
		return nil
	case err != nil:
		return err
	}
	g.finalized = int64(b.number)
	return nil
}

// publishMarks publishes each block (and its transfers) that reached the
// confirmation depth or finality since it was last published.
func (g *Ingestor) publishMarks(ctx context.Context) error {
	tip := g.chain[len(g.chain)-1].number
	for _, b := range g.chain {
		conf, fin := g.marks(b, tip)
		if (conf && !b.confirmedSent) || (fin && !b.finalizedSent) {
			if err := g.publishBlock(ctx, b, tip); err != nil {
				return err
			}
		}
	}
	return nil
}

// marks returns whether b counts as confirmed and finalized with the head
// at tip. A finalized block is confirmed too.
func (g *Ingestor) marks(b *block, tip uint64) (confirmed, finalized bool) {
	finalized = g.finalized >= 0 && b.number <= uint64(g.finalized)
	confirmed = finalized || tip-b.number+1 >= uint64(g.cfg.Confirmations)
	return confirmed, finalized
}

// publishBlock publishes b and then its transfers with their marks at tip.
func (g *Ingestor) publishBlock(ctx context.Context, b *block, tip uint64) error {
	conf, fin := g.marks(b, tip)
	b.confirmedSent, b.finalizedSent = conf, fin
	status := statusOf(conf, fin)
	msg := &Block{Network: g.cfg.Network, Height: b.number, Hash: b.hash.Hex(), ParentHash: b.parent.Hex(),
		Time: int64(b.timeSec) * 1000, TxCount: b.txCount, GasUsed: b.gasUsed,
		Confirmations: tip - b.number + 1, Confirmed: conf, Finalized: fin}
	id := fmt.Sprintf("%s:%s:block:%s", g.cfg.Network, b.hash.Hex(), status)
	if err := g.publish(ctx, g.subjBlock, msg, id, msg.Time, false); err != nil {
		return err
	}
	for i := range b.transfers {
		t := g.transfer(b, &b.transfers[i], tip)
		if err := g.publish(ctx, g.subjTransfer, t, g.transferID(b, t, status), t.TS, false); err != nil {
			return err
		}
	}
	return nil
}

func statusOf(confirmed, finalized bool) string {
	switch {
	case finalized:
		return "finalized"
	case confirmed:
		return "confirmed"
	}
	return "new"
}

func (g *Ingestor) transferID(b *block, t *Transfer, status string) string {
	return fmt.Sprintf("%s:%s:transfer:%d:%s", g.cfg.Network, b.hash.Hex(), t.LogIndex, status)
}

// transfer builds the payload of l in b with marks at tip (tip 0: no
// marks, for removed transfers). Token metadata was cached by advance; a
// token evicted since is shown as unknown rather than looked up again here.
func (g *Ingestor) transfer(b *block, l *transferLog, tip uint64) *Transfer {
	m, ok := bundledTokens[g.chainID][l.token]
	if !ok {
		m = g.tokens.m[l.token]
	}
	t := &Transfer{Network: g.cfg.Network, TxHash: l.txHash.Hex(), BlockHeight: b.number, BlockHash: b.hash.Hex(),
		LogIndex: l.logIndex, Token: hexAddr(l.token), From: hexAddr(l.from), To: hexAddr(l.to),
		Asset: m.symbol, Decimals: m.decimals, Amount: formatUnits(l.value, m.decimals), TS: int64(b.timeSec) * 1000}
	if m.usdRef {
		t.USDValue = usdOf(t.Amount)
	}
	if tip > 0 {
		t.Confirmations = tip - b.number + 1
		t.Confirmed, t.Finalized = g.marks(b, tip)
	}
	return t
}

func (g *Ingestor) indexOf(h common.Hash) int {
	for i := len(g.chain) - 1; i >= 0; i-- {
		if g.chain[i].hash == h {
			return i
		}
	}
	return -1
}

func reverse(bs []*block) {
	for i, j := 0, len(bs)-1; i < j; i, j = i+1, j-1 {
		bs[i], bs[j] = bs[j], bs[i]
	}
}

package evm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/upstream/evm/evmtest"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// stored is one message of the CHAIN stream.
type stored struct {
	seq     uint64
	subject string
	hdr     nats.Header
	data    []byte
}

// startStream starts a real nats-server with the hub's streams and returns
// a JetStream context on it.
func startStream(t *testing.T) (jetstream.JetStream, *nats.Conn) {
	t.Helper()
	ns := bustest.StartNATS(t)
	nc, err := nats.Connect(ns.ClientURL(), nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bus.EnsureStreams(ctx, js, bus.StreamsConfig{}); err != nil {
		t.Fatal(err)
	}
	return js, nc
}

// readStream returns every message of the CHAIN stream, in stream order.
func readStream(t *testing.T, js jetstream.JetStream) []stored {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, bus.StreamChain)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("get %d: %v", seq, err)
		}
		out = append(out, stored{seq: seq, subject: m.Subject, hdr: m.Header, data: m.Data})
	}
	return out
}

// runIngestor runs g until the test ends (or stop is called) and checks
// that Run returns nil promptly.
func runIngestor(t *testing.T, g *Ingestor) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := testsupport.Await(t, "Run to return after cancel", done, 20*time.Second); err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitStored waits until the stream holds a message for which match holds.
func waitStored(t *testing.T, js jetstream.JetStream, what string, match func(stored) bool) {
	t.Helper()
	testsupport.WaitFor(t, what, 60*time.Second, func() bool {
		for _, m := range readStream(t, js) {
			if match(m) {
				return true
			}
		}
		return false
	})
}

// blockMsg matches a block message of hash (any status if status is "").
func blockMsg(hash common.Hash, status string) func(stored) bool {
	return func(m stored) bool {
		var b Block
		if m.subject != "chain.sim.block" || json.Unmarshal(m.data, &b) != nil || b.Hash != hash.Hex() {
			return false
		}
		return status == "" || statusOf(b.Confirmed, b.Finalized) == status
	}
}

// chainModel replays the stored messages as a client would and checks each
// against the node, the ground truth.
type chainModel struct {
	t      *testing.T
	sim    *evmtest.Sim
	conf   uint64
	chain  []Block               // canonical as told, oldest first
	xfers  map[string][]Transfer // per block hash, as first published
	status map[string]string     // per block hash, the highest mark published
	ids    map[string]bool
	reorgs []Reorg
}

// check replays msgs; it fails the test at the first message that breaks
// the stream's contract.
func (c *chainModel) check(msgs []stored) {
	t := c.t
	t.Helper()
	c.xfers, c.status, c.ids = map[string][]Transfer{}, map[string]string{}, map[string]bool{}
	var pendingAdded []BlockRef
	for i := 0; i < len(msgs); i++ {
		m := msgs[i]
		where := fmt.Sprintf("message %d (seq %d, %s)", i, m.seq, m.subject)
		id := m.hdr.Get(jetstream.MsgIDHeader)
		if id == "" || c.ids[id] {
			t.Fatalf("%s: Nats-Msg-Id %q missing or repeated", where, id)
		}
		c.ids[id] = true
		if crit := m.hdr.Get(headerCritical) == "1"; crit != (m.subject == "chain.sim.reorg") {
			t.Fatalf("%s: Sh-Critical %q", where, m.hdr.Get(headerCritical))
		}
		ts, err := strconv.ParseInt(m.hdr.Get(headerTs), 10, 64)
		if err != nil || ts <= 0 {
			t.Fatalf("%s: Sh-Ts %q", where, m.hdr.Get(headerTs))
		}
		switch m.subject {
		case "chain.sim.reorg":
			var r Reorg
			mustJSON(t, where, m.data, &r)
			head := c.chain[len(c.chain)-1]
			if r.OldHead != head.Hash || r.Network != "sim" || r.TS != ts {
				t.Fatalf("%s: %+v; head was %s", where, r, head.Hash)
			}
			keep := len(c.chain) - r.Depth
			if r.Depth < 1 || keep < 1 || c.chain[keep-1].Height != r.ForkHeight || len(r.Retracted) != r.Depth {
				t.Fatalf("%s: depth %d fork %d with %d blocks told", where, r.Depth, r.ForkHeight, len(c.chain))
			}
			for k, ref := range r.Retracted {
				b := c.chain[len(c.chain)-1-k]
				if ref.Hash != b.Hash || ref.Height != b.Height {
					t.Fatalf("%s: retracted[%d] %+v, want %s at %d", where, k, ref, b.Hash, b.Height)
				}
			}
			wantNew := c.chain[keep-1].Hash
			if len(r.Added) > 0 {
				wantNew = r.Added[len(r.Added)-1].Hash
			}
			if r.NewHead != wantNew {
				t.Fatalf("%s: new_head %s, want %s", where, r.NewHead, wantNew)
			}
			c.reorgs = append(c.reorgs, r)
			retracted := c.chain[keep:]
			c.chain = c.chain[:keep]
			pendingAdded = r.Added
			// The retracted blocks' transfers follow, removed, newest first.
			for k := len(retracted) - 1; k >= 0; k-- {
				xs := c.xfers[retracted[k].Hash]
				for j := len(xs) - 1; j >= 0; j-- {
					i++
					if i >= len(msgs) {
						t.Fatalf("%s: stream ends before the removed transfers of %s", where, retracted[k].Hash)
					}
					var got Transfer
					mustJSON(t, where, msgs[i].data, &got)
					want := xs[j]
					want.Removed, want.Confirmations, want.Confirmed, want.Finalized = true, 0, false, false
					if msgs[i].subject != "chain.sim.transfer" || got != want {
						t.Fatalf("message %d: %s %+v, want removed %+v", i, msgs[i].subject, got, want)
					}
					c.ids[msgs[i].hdr.Get(jetstream.MsgIDHeader)] = true
				}
			}
		case "chain.sim.block":
			var b Block
			mustJSON(t, where, m.data, &b)
			if b.Time != ts || b.Network != "sim" {
				t.Fatalf("%s: %+v with Sh-Ts %d", where, b, ts)
			}
			known := false
			for _, k := range c.chain {
				known = known || k.Hash == b.Hash
			}
			if !known {
				if n := len(c.chain); n > 0 && (b.ParentHash != c.chain[n-1].Hash || b.Height != c.chain[n-1].Height+1) {
					t.Fatalf("%s: block %d %s does not extend the head %d %s", where, b.Height, b.Hash, c.chain[n-1].Height, c.chain[n-1].Hash)
				}
				if len(pendingAdded) > 0 {
					if pendingAdded[0].Hash != b.Hash {
						t.Fatalf("%s: block %s, the reorg announced %s", where, b.Hash, pendingAdded[0].Hash)
					}
					pendingAdded = pendingAdded[1:]
				}
				c.chain = append(c.chain, b)
				c.checkBlockAgainstNode(where, b)
			} else if statusOf(b.Confirmed, b.Finalized) == c.status[b.Hash] {
				t.Fatalf("%s: block %d published again without a new mark: %+v", where, b.Height, b)
			}
			head := c.chain[len(c.chain)-1]
			if b.Confirmations != head.Height-b.Height+1 || b.Confirmed != (b.Finalized || b.Confirmations >= c.conf) {
				t.Fatalf("%s: marks %+v with the head at %d", where, b, head.Height)
			}
			c.status[b.Hash] = statusOf(b.Confirmed, b.Finalized)
			want := c.nodeTransfers(b)
			if known {
				want = c.xfers[b.Hash]
			}
			for j, w := range want {
				i++
				if i >= len(msgs) {
					t.Fatalf("%s: stream ends before transfer %d of block %d", where, j, b.Height)
				}
				var got Transfer
				mustJSON(t, where, msgs[i].data, &got)
				w.Confirmations, w.Confirmed, w.Finalized = b.Confirmations, b.Confirmed, b.Finalized
				if msgs[i].subject != "chain.sim.transfer" || got != w {
					t.Fatalf("message %d: %s %+v, want %+v", i, msgs[i].subject, got, w)
				}
				c.ids[msgs[i].hdr.Get(jetstream.MsgIDHeader)] = true
			}
			if !known {
				c.xfers[b.Hash] = want
			}
		default:
			t.Fatalf("%s: unexpected message %s", where, m.data)
		}
	}
	if len(pendingAdded) > 0 {
		t.Fatalf("the reorg announced blocks never published: %+v", pendingAdded)
	}
	// What a client was told is the node's canonical chain.
	for _, b := range c.chain {
		h, err := c.sim.Client().HeaderByNumber(context.Background(), new(big.Int).SetUint64(b.Height))
		if err != nil || h.Hash().Hex() != b.Hash {
			t.Fatalf("block %d: told %s, the node has %v (%v)", b.Height, b.Hash, h.Hash(), err)
		}
	}
}

// checkBlockAgainstNode compares a new block's fields with the node's.
func (c *chainModel) checkBlockAgainstNode(where string, b Block) {
	c.t.Helper()
	blk, err := c.sim.Client().BlockByHash(context.Background(), common.HexToHash(b.Hash))
	if err != nil {
		c.t.Fatalf("%s: node has no block %s: %v", where, b.Hash, err)
	}
	if blk.NumberU64() != b.Height || blk.ParentHash().Hex() != b.ParentHash || int64(blk.Time())*1000 != b.Time ||
		len(blk.Transactions()) != b.TxCount || blk.GasUsed() != b.GasUsed {
		c.t.Fatalf("%s: %+v, node: number %d parent %s time %d txs %d gas %d", where, b, blk.NumberU64(),
			blk.ParentHash().Hex(), blk.Time(), len(blk.Transactions()), blk.GasUsed())
	}
}

// nodeTransfers is the node's ERC-20 Transfers of b, as the ingestor must
// publish them first (marks are set by the caller).
func (c *chainModel) nodeTransfers(b Block) []Transfer {
	c.t.Helper()
	h := common.HexToHash(b.Hash)
	logs, err := c.sim.Client().FilterLogs(context.Background(), ethereum.FilterQuery{BlockHash: &h, Topics: [][]common.Hash{{transferTopic}}})
	if err != nil {
		c.t.Fatalf("logs of %s: %v", b.Hash, err)
	}
	var out []Transfer
	for _, l := range logs {
		out = append(out, Transfer{Network: "sim", TxHash: l.TxHash.Hex(), BlockHeight: b.Height, BlockHash: b.Hash,
			LogIndex: l.Index, Token: hexAddr(l.Address), From: hexAddr(common.BytesToAddress(l.Topics[1][12:])),
			To: hexAddr(common.BytesToAddress(l.Topics[2][12:])), Asset: "TST", Decimals: 6,
			Amount: formatUnits(new(big.Int).SetBytes(l.Data), 6), TS: b.Time})
	}
	return out
}

func mustJSON(t *testing.T, where string, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v: %s", where, err, data)
	}
}

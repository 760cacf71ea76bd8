package evm

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/upstream/evm/evmtest"

	"github.com/ethereum/go-ethereum/common"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// The whole contract against a real node and a real stream: an ERC-20 is
// deployed and used, the chain is rewound under the ingestor (a reorg it
// sees live), forked again while the ingestor's connection is cut (a reorg
// found by the backfill after the reconnect), and extended past the node's
// first finalized block. Every stored message is replayed as a client
// would (chainModel.check): ids, headers, order, each block against the
// node, each transfer against the node's logs, the reorg notices, the
// removed transfers, the confirmation and finality marks.
func TestFollowsTheChainThroughReorgsAndAReconnect(t *testing.T) {
	js, _ := startStream(t)
	sim := evmtest.Start(t, 3)
	px := startProxy(t, strings.TrimPrefix(sim.WSURL, "ws://"))
	logs := &testsupport.Buffer{}
	g := New(js, Config{URL: px.url(), Network: "sim", Confirmations: 3, BackoffMin: 20_000_000, BackoffMax: 200_000_000,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	runIngestor(t, g)

	h := func(n uint64) common.Hash {
		hd, err := sim.Client().HeaderByNumber(context.Background(), bigU(n))
		if err != nil {
			t.Fatal(err)
		}
		return hd.Hash()
	}
	b1 := h(1)
	waitStored(t, js, "block 1", blockMsg(b1, ""))

	sim.Transfer(0, 1, 250_000) // 0.250000 TST
	b2 := sim.Commit()
	sim.Transfer(0, 2, 1_000)
	sim.Transfer(0, 1, 42)
	b3 := sim.Commit()
	b4 := sim.Commit()
	waitStored(t, js, "block 4", blockMsg(b4, ""))

	// Reorg seen live: the node rewinds to block 2, then a new branch grows.
	if err := sim.Fork(b2); err != nil {
		t.Fatal(err)
	}
	waitStored(t, js, "the rewind's reorg notice", func(m stored) bool { return m.subject == "chain.sim.reorg" })
	sim.ResetNonces()
	sim.Transfer(1, 2, 7)
	b3x := sim.Commit()
	sim.Commit()
	b5x := sim.Commit()
	waitStored(t, js, "block 5 of the new branch", blockMsg(b5x, ""))

	// Reorg while disconnected: found by the backfill after the reconnect.
	px.cut(true)
	if err := sim.Fork(b3x); err != nil {
		t.Fatal(err)
	}
	sim.ResetNonces()
	sim.Transfer(1, 0, 3)
	sim.Commit()
	sim.Commit()
	b6y := sim.Commit()
	px.cut(false)
	waitStored(t, js, "block 6 of the third branch, after the reconnect", blockMsg(b6y, ""))

	// Past the node's first finalized block (32, once the head is past it).
	for range 28 {
		sim.Commit()
	}
	waitStored(t, js, "block 32 finalized", blockMsg(h(32), "finalized"))
	waitStored(t, js, "block 34", blockMsg(h(34), ""))

	msgs := readStream(t, js)
	m := &chainModel{t: t, sim: sim, conf: 3}
	m.check(msgs)
	t.Logf("%d stored messages, %d blocks told, reorgs %+v", len(msgs), len(m.chain), m.reorgs)

	if len(m.reorgs) != 2 {
		t.Fatalf("%d reorg notices, want 2: %+v", len(m.reorgs), m.reorgs)
	}
	r1, r2 := m.reorgs[0], m.reorgs[1]
	if r1.ForkHeight != 2 || len(r1.Added) != 0 || r1.Retracted[0].Hash != b4.Hex() || r1.Retracted[1].Hash != b3.Hex() {
		t.Errorf("first reorg %+v: want blocks 4 and 3 retracted onto block 2", r1)
	}
	if r2.ForkHeight != 3 || r2.Depth != 2 || len(r2.Added) != 3 || r2.NewHead != b6y.Hex() {
		t.Errorf("second reorg %+v: want blocks 5, 4 retracted onto 3 and 4, 5, 6 added", r2)
	}
	if n := len(m.xfers[b3.Hex()]); n != 2 {
		t.Errorf("block 3 had %d transfers, want 2 (and so 2 removed)", n)
	}
	// Marks: every block of the final chain at depth 3 was marked
	// confirmed, and every one up to 32 finalized.
	head := m.chain[len(m.chain)-1].Height
	for _, b := range m.chain {
		want := "new"
		switch {
		case b.Height <= 32:
			want = "finalized"
		case head-b.Height+1 >= 3:
			want = "confirmed"
		}
		if got := m.status[b.Hash]; got != want {
			t.Errorf("block %d: last mark %q, want %q", b.Height, got, want)
		}
	}
	st := g.Stats()
	if st.Reorgs != 2 || st.Reconnects < 1 || st.Errors != 0 || st.Published != uint64(len(msgs)) {
		t.Errorf("stats %+v for %d stored messages", st, len(msgs))
	}
	if !strings.Contains(logs.String(), "reconnecting") {
		t.Errorf("no reconnect logged:\n%s", logs)
	}
}

// Beyond the window: a reorg whose common ancestor the ingestor no longer
// remembers retracts every remembered block and names the new branch as far
// as it walked; a gap longer than the window is not backfilled, the
// ingestor says so and resumes at the head.
func TestBeyondTheWindow(t *testing.T) {
	js, _ := startStream(t)
	sim := evmtest.Start(t, 2)
	px := startProxy(t, strings.TrimPrefix(sim.WSURL, "ws://"))
	logs := &testsupport.Buffer{}
	g := New(js, Config{URL: px.url(), Network: "sim", Window: 4, BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	runIngestor(t, g)
	waitStored(t, js, "block 1", blockMsg(sim.HeaderHash(1), ""))
	b2 := sim.Commit()
	var old []common.Hash
	for range 4 {
		old = append(old, sim.Commit()) // blocks 3..6: the window
	}
	waitStored(t, js, "block 6", blockMsg(old[3], ""))

	px.cut(true)
	if err := sim.Fork(b2); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		sim.Commit() // 3'..7'
	}
	px.cut(false)
	waitStored(t, js, "block 7'", blockMsg(sim.HeaderHash(7), ""))
	var reorgs []Reorg
	for _, m := range readStream(t, js) {
		if m.subject == "chain.sim.reorg" {
			var r Reorg
			mustJSON(t, "reorg", m.data, &r)
			reorgs = append(reorgs, r)
		}
	}
	if len(reorgs) != 1 {
		t.Fatalf("%d reorgs: %+v", len(reorgs), reorgs)
	}
	r := reorgs[0]
	if r.Depth != 4 || r.ForkHeight != 2 || r.OldHead != old[3].Hex() || r.Retracted[3].Hash != old[0].Hex() ||
		len(r.Added) != 5 || r.Added[0].Height != 3 || r.NewHead != sim.HeaderHash(7).Hex() {
		t.Fatalf("reorg %+v: want the 4 remembered blocks retracted onto block 2, 3'..7' added", r)
	}

	px.cut(true)
	for range 10 {
		sim.Commit() // 8'..17'
	}
	px.cut(false)
	waitStored(t, js, "block 17'", blockMsg(sim.HeaderHash(17), ""))
	for _, m := range readStream(t, js) {
		var b Block
		if m.subject == "chain.sim.block" && json.Unmarshal(m.data, &b) == nil && b.Height > 7 && b.Height < 17 {
			t.Fatalf("block %d published: a gap beyond the window is not backfilled", b.Height)
		}
	}
	if !strings.Contains(logs.String(), "gap larger than the window") {
		t.Errorf("the gap was not logged:\n%s", logs)
	}
}

package evm

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/streamhub/streamhub/internal/upstream/evm/evmtest"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// Two ingestors follow one node into one stream: the stream holds every
// message once (the ids dedup), the two together met duplicates, and when
// one is stopped the other goes on alone.
func TestTwoIngestorsStoreEachMessageOnce(t *testing.T) {
	js, _ := startStream(t)
	sim := evmtest.Start(t, 2)
	cfg := Config{URL: sim.WSURL, Network: "sim", Confirmations: 2, BackoffMin: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a, b := New(js, cfg), New(js, cfg)
	stopA := runIngestor(t, a)
	runIngestor(t, b)
	// Both must be following before the chain moves, or one would start
	// later than the other and publish less.
	testsupport.WaitFor(t, "both ingestors at block 1", 60*time.Second, func() bool {
		return a.Stats().Blocks > 0 && b.Stats().Blocks > 0
	})
	for i := range 4 {
		sim.Transfer(0, 1, int64(1000+i))
		sim.Commit()
	}
	last := sim.Commit()
	waitStored(t, js, "block 6 confirmed", blockMsg(last, ""))
	testsupport.WaitFor(t, "both ingestors at block 6", 60*time.Second, func() bool {
		return a.Stats().Blocks == 6 && b.Stats().Blocks == 6
	})
	msgs := readStream(t, js)
	(&chainModel{t: t, sim: sim, conf: 2}).check(msgs) // ids unique, order and content right
	sa, sb := a.Stats(), b.Stats()
	if sa.Published+sb.Published != uint64(len(msgs)) || sa.Duplicates+sb.Duplicates != uint64(len(msgs)) {
		t.Fatalf("stored %d; a %+v, b %+v: want each message stored once and refused once", len(msgs), sa, sb)
	}

	// One goes away; the other carries on.
	stopA()
	sim.Transfer(0, 1, 5)
	sim.Commit()
	next := sim.Commit()
	waitStored(t, js, "block 8 from the remaining ingestor", blockMsg(next, ""))
	msgs = readStream(t, js)
	m := &chainModel{t: t, sim: sim, conf: 2}
	m.check(msgs)
	if h := m.chain[len(m.chain)-1].Height; h != 8 {
		t.Fatalf("head %d, want 8", h)
	}
}

// --tokens: transfers of other tokens are not published; blocks are.
func TestTokensFilterTransfers(t *testing.T) {
	js, _ := startStream(t)
	sim := evmtest.Start(t, 2)
	other := common.HexToAddress("0x00000000000000000000000000000000000000ee")
	g := New(js, Config{URL: sim.WSURL, Network: "sim", Tokens: []common.Address{other}, Logger: slog.New(slog.DiscardHandler)})
	runIngestor(t, g)
	testsupport.WaitFor(t, "the ingestor at block 1", 60*time.Second, func() bool { return g.Stats().Blocks > 0 })
	sim.Transfer(0, 1, 99)
	b2 := sim.Commit()
	waitStored(t, js, "block 2", blockMsg(b2, ""))
	for _, m := range readStream(t, js) {
		if m.subject != "chain.sim.block" {
			t.Fatalf("%s published: %s", m.subject, m.data)
		}
	}
}

package fanout

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// TestFastClientsUnaffectedBySlowOnes is the core promise: 200 clients that
// keep up receive every message in order while 10 clients whose sinks never
// return are conflated, gap-noticed or disconnected exactly as their
// policies say, and memory stays within the configured bounds.
func TestFastClientsUnaffectedBySlowOnes(t *testing.T) {
	const (
		fast      = 200
		total     = 50_000
		chunk     = 200 // publish this many (under a queue's bytes), then let the fast clients catch up
		frameSize = 1024
		maxBytes  = 256 << 10
	)
	// The slow sinks block for the whole run, which takes minutes on a loaded
	// machine: the write timeout, a separate guarantee, must not end them.
	h := New(Config{MaxQueueBytes: maxBytes, WriteTimeout: 30 * time.Minute})
	defer h.Close()
	subjects := []string{"chain.eth.transfer", "chain.eth.block", "chain.btc.block", "chain.sol.block", "chain.eth.reorg"}

	fastSinks := make([]*fakeSink, fast)
	for i := range fastSinks {
		fastSinks[i] = newCountingSink()
		c, _ := runClient(t, h, fastSinks[i])
		must(t, c.Subscribe("chain.>", SubOptions{Policy: DropOldest}))
	}
	type slow struct {
		policy Policy
		sink   *fakeSink
		client *Client
	}
	var slows []slow
	for i, p := range []Policy{KeepLatest, KeepLatest, KeepLatest, KeepLatest, DropOldest, DropOldest, DropOldest, Disconnect, Disconnect, Disconnect} {
		s := newFakeSink()
		if i%2 == 0 {
			s.blocked = true // never returns until the client is closed
		} else {
			s.gate = make(chan struct{}) // never opens
		}
		c, _ := runClient(t, h, s)
		must(t, c.Subscribe("chain.>", SubOptions{Policy: p}))
		slows = append(slows, slow{p, s, c})
	}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	g := newSeqGen()
	published := 0
	for published < total {
		for range chunk {
			h.Publish(g.msg(subjects[published%len(subjects)], frameSize, false))
			published++
		}
		testsupport.WaitFor(t, "fast clients to catch up", 30*time.Second, func() bool {
			for _, s := range fastSinks {
				if s.count() != published {
					return false
				}
			}
			return true
		})
	}

	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	// Unbounded queues would hold 50,000 × 1 KiB for each slow client. The
	// bounds allow each slow queue maxBytes of frames (shared between clients)
	// plus its ring; fast clients hold nothing.
	growth := int64(after.HeapInuse) - int64(before.HeapInuse)
	limit := int64(len(slows)*maxBytes + 8<<20)
	t.Logf("heap in use grew by %.1f MiB (limit %.1f MiB) after %d messages of %d bytes", float64(growth)/(1<<20), float64(limit)/(1<<20), total, frameSize)
	if growth > limit {
		t.Errorf("heap grew by %d bytes, over the bound %d", growth, limit)
	}

	for i, s := range fastSinks {
		s.mu.Lock()
		n, disorder := s.counted, s.disorder
		s.mu.Unlock()
		if n != total || disorder != "" {
			t.Fatalf("fast client %d: %d of %d messages; disorder: %q", i, n, total, disorder)
		}
	}
	for i, s := range slows {
		st := s.client.Stats()
		switch s.policy {
		case KeepLatest:
			if s.sink.reason() != 0 {
				t.Errorf("slow keep-latest client %d closed: %v", i, s.sink.reason())
			}
			if st.QueuedMessages > len(subjects) {
				t.Errorf("slow keep-latest client %d holds %d messages for %d subjects", i, st.QueuedMessages, len(subjects))
			}
			if int(st.Conflated) < total-2*len(subjects)-h.cfg.MaxBatchMessages {
				t.Errorf("slow keep-latest client %d: only %d conflated", i, st.Conflated)
			}
		case DropOldest:
			if s.sink.reason() != 0 {
				t.Errorf("slow drop-oldest client %d closed: %v", i, s.sink.reason())
			}
			if st.QueuedBytes > maxBytes || st.QueuedMessages > maxBytes/frameSize {
				t.Errorf("slow drop-oldest client %d holds %d messages, %d bytes", i, st.QueuedMessages, st.QueuedBytes)
			}
			if int(st.Dropped) < total-maxBytes/frameSize-h.cfg.MaxBatchMessages {
				t.Errorf("slow drop-oldest client %d dropped only %d", i, st.Dropped)
			}
		case Disconnect:
			if s.sink.reason() != ReasonSlowConsumer {
				testsupport.WaitFor(t, "slow-consumer close", 5*time.Second, func() bool { return s.sink.reason() == ReasonSlowConsumer })
			}
		}
	}
}

// TestGapsAccountForEveryLoss checks, for random workloads and every policy,
// what a client can rely on:
//   - drop-oldest: delivered ∪ announced gaps = everything published, disjoint,
//     each gap announced before any later message of its subject;
//   - keep-latest: per subject, deliveries increase, and the newest message is
//     either delivered or announced as lost;
//   - disconnect: per subject, deliveries are exactly 1..k, and a client that
//     missed anything was closed as a slow consumer.
func TestGapsAccountForEveryLoss(t *testing.T) {
	for _, policy := range []Policy{DropOldest, KeepLatest, Disconnect} {
		for seed := range uint64(12) {
			t.Run(fmt.Sprintf("%v/seed=%d", policy, seed), func(t *testing.T) {
				checkGapProperty(t, policy, seed)
			})
		}
	}
}

func checkGapProperty(t *testing.T, policy Policy, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 99))
	h := New(Config{
		MaxQueueMessages: 4 + r.IntN(60),
		MaxQueueBytes:    200 + r.IntN(4000),
		MaxBatchMessages: 1 + r.IntN(20),
	})
	defer h.Close()
	sink := newFakeSink()
	sink.gate = make(chan struct{}, 1)
	c, _ := runClient(t, h, sink)
	must(t, c.Subscribe(">", SubOptions{Policy: policy}))
	subjects := []string{"s.a", "s.b", "s.c", "s.d", "s.e", "s.f"}[:1+r.IntN(6)]
	g := newSeqGen()
	last := map[string]uint64{}
	for range 2000 {
		s := subjects[r.IntN(len(subjects))]
		m := g.msg(s, 8+r.IntN(100), false)
		last[s] = m.Seq
		h.Publish(m)
		if r.IntN(8) == 0 { // let the writer take a batch now and then
			select {
			case sink.gate <- struct{}{}:
			default:
			}
		}
	}
	// Drain: open the gate for good and wait until the queue is empty.
	close(sink.gate)
	testsupport.WaitFor(t, "drain", 5*time.Second, func() bool {
		n, _ := c.QueueLen()
		return n == 0 || sink.reason() != 0
	})
	time.Sleep(5 * time.Millisecond) // the last WriteBatch may still be recording
	sink.mu.Lock()
	log := slices.Clone(sink.log)
	sink.mu.Unlock()

	for _, subj := range subjects {
		var delivered []uint64
		covered := map[uint64]int{}
		for _, it := range log {
			switch {
			case it.msg != nil && it.msg.Subject == subj:
				delivered = append(delivered, it.msg.Seq)
				covered[it.msg.Seq]++
			case it.gap != nil && it.gap.Subject == subj:
				for _, d := range delivered {
					if d >= it.gap.From {
						t.Fatalf("%s: gap %d-%d announced after seq %d was delivered", subj, it.gap.From, it.gap.To, d)
					}
				}
				for s := it.gap.From; s <= it.gap.To; s++ {
					covered[s]++
				}
			}
		}
		if !sort.SliceIsSorted(delivered, func(i, j int) bool { return delivered[i] < delivered[j] }) {
			t.Fatalf("%s: out of order %s", subj, describe(delivered))
		}
		switch policy {
		case DropOldest:
			for s := uint64(1); s <= last[subj]; s++ {
				if covered[s] != 1 {
					t.Fatalf("%s: seq %d delivered-or-announced %d times, want exactly once", subj, s, covered[s])
				}
			}
		case KeepLatest:
			if covered[last[subj]] != 1 {
				t.Fatalf("%s: newest seq %d neither delivered nor announced", subj, last[subj])
			}
		case Disconnect:
			for i, s := range delivered {
				if s != uint64(i+1) {
					t.Fatalf("%s: deliveries not a prefix: %s", subj, describe(delivered))
				}
			}
			if uint64(len(delivered)) < last[subj] && sink.reason() != ReasonSlowConsumer {
				t.Fatalf("%s: %d of %d delivered but client not closed as slow (reason %v)", subj, len(delivered), last[subj], sink.reason())
			}
		}
	}
}

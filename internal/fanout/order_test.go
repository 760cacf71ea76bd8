package fanout

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// stream numbers messages the way a JetStream stream does: one sequence
// across all its subjects. A client that resumes from the newest position it
// received relies on never having received a message ahead of an older one
// it is still owed.
type stream struct{ seq uint64 }

func (s *stream) msg(subject string, critical bool) *Message {
	s.seq++
	f := []byte("{}")
	return &Message{Subject: subject, Epoch: 1, Seq: s.seq, Critical: critical, Frames: [NumEncodings][]byte{f, f}}
}

// checkStreamOrder fails unless msgs arrive in stream order.
func checkStreamOrder(t *testing.T, msgs []*Message) {
	t.Helper()
	for i := 1; i < len(msgs); i++ {
		if msgs[i].Seq <= msgs[i-1].Seq {
			t.Fatalf("%s@%d was delivered after %s@%d: a client resuming from %d would never get it",
				msgs[i].Subject, msgs[i].Seq, msgs[i-1].Subject, msgs[i-1].Seq, msgs[i-1].Seq)
		}
	}
}

// Regression (issue 9, edge 1): conflation replaced the older entry in
// place, so a job's newer progress overtook another job's pending terminal
// event, and a resume from the progress's position skipped the terminal one.
func TestConflationNeverOvertakesOlderMessages(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	sink := newFakeSink()
	sink.gate = make(chan struct{})
	c, _ := runClient(t, h, sink)
	must(t, c.Subscribe("jobs.>", SubOptions{Policy: KeepLatest}))
	var st stream
	h.Publish(st.msg("jobs.acme.a", false)) // 1: taken by the writer, which waits at the gate
	testsupport.WaitFor(t, "writer busy", time.Second, func() bool { n, _ := c.QueueLen(); return n == 0 })
	h.Publish(st.msg("jobs.acme.a", false)) // 2: queued
	done := st.msg("jobs.acme.b", true)     // 3: b's terminal event, queued behind 2
	h.Publish(done)
	h.Publish(st.msg("jobs.acme.a", false)) // 4: supersedes 2
	close(sink.gate)
	testsupport.WaitFor(t, "newest value of a", 5*time.Second, func() bool {
		msgs, _ := sink.received()
		return len(msgs) > 0 && msgs[len(msgs)-1].Seq == 4
	})
	msgs, _ := sink.received()
	checkStreamOrder(t, msgs)
	if !slices.Contains(msgs, done) {
		t.Fatalf("terminal event lost: got %v", seqsOf(msgs, "jobs.acme.b"))
	}
	if got := seqsOf(msgs, "jobs.acme.a"); !slices.Equal(got, []uint64{1, 4}) {
		t.Fatalf("a delivered %v, want [1 4] (2 conflated)", got)
	}
}

// Regression (issue 9, edge 2): with a max rate, the value held for a
// subject was sent after that subject's critical message, so seq went
// backwards on the wire.
func TestMaxRateNeverSendsAHeldValueAfterACritical(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	sink := newFakeSink()
	c, _ := runClient(t, h, sink)
	const rate = 20 // 50 ms slots
	must(t, c.Subscribe("jobs.>", SubOptions{MaxRate: rate}))
	var st stream
	h.Publish(st.msg("jobs.acme.a", false)) // 1: goes at once, opens a's slot
	h.Publish(st.msg("jobs.acme.a", false)) // 2: held for a's next slot
	done := st.msg("jobs.acme.a", true)     // 3: critical: 2 is discarded
	h.Publish(done)
	testsupport.WaitFor(t, "critical", time.Second, func() bool {
		msgs, _ := sink.received()
		return slices.Contains(msgs, done)
	})
	// Give a held value every chance to come out after the critical one.
	time.Sleep(4 * time.Second / rate)
	msgs, _ := sink.received()
	if got := seqsOf(msgs, "jobs.acme.a"); !slices.Equal(got, []uint64{1, 3}) {
		t.Fatalf("delivered %v, want [1 3]: the held 2 is older than the critical 3", got)
	}
}

// Pacing keeps the subscription's order: a subject whose slot is open waits
// behind an older held message of another subject, at most one interval.
func TestMaxRateKeepsStreamOrderAcrossSubjects(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	sink := newFakeSink()
	c, _ := runClient(t, h, sink)
	const rate = 10
	must(t, c.Subscribe("jobs.>", SubOptions{MaxRate: rate}))
	var st stream
	rng := rand.New(rand.NewPCG(9, 9))
	subjects := []string{"jobs.acme.a", "jobs.acme.b", "jobs.acme.c"}
	var last [3]*Message
	start := time.Now()
	for range 300 {
		i := rng.IntN(len(subjects))
		last[i] = st.msg(subjects[i], rng.IntN(20) == 0)
		h.Publish(last[i])
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	testsupport.WaitFor(t, "newest value of every subject", 5*time.Second, func() bool {
		msgs, _ := sink.received()
		for i, s := range subjects {
			if got := seqsOf(msgs, s); len(got) == 0 || got[len(got)-1] != last[i].Seq {
				return false
			}
		}
		return true
	})
	msgs, _ := sink.received()
	checkStreamOrder(t, msgs)
	for _, s := range subjects {
		var n int
		for _, m := range msgs {
			if m.Subject == s && !m.Critical {
				n++
			}
		}
		if max := int(elapsed.Seconds()*rate) + 3; n > max {
			t.Errorf("%s: %d non-critical deliveries in %v at max rate %d; want at most %d", s, n, elapsed, rate, max)
		}
	}
}

// The queue keeps arrival order under every mix of policies, conflation,
// critical messages and eviction, and accounts for every message.
func TestQueueNeverReorders(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		q := newQueue(1+rng.IntN(40), 64+rng.IntN(400))
		var st stream
		var out Batch
		pushed, gone, closed := 0, 0, false
		for range 500 {
			if rng.IntN(4) == 0 {
				q.drain(&out, 1+rng.IntN(8), 1<<20)
				continue
			}
			m := st.msg([]string{"a", "b", "c", "d", "e"}[rng.IntN(5)], rng.IntN(30) == 0)
			pol := []Policy{KeepLatest, KeepLatest, DropOldest, Disconnect}[rng.IntN(4)]
			res, dropped := q.push(m, 1+rng.IntN(30), pol)
			if res == pushOverflow {
				closed = true // the client would be closed here, losing the rest
				break
			}
			pushed++
			gone += dropped
			if res == pushConflated || res == pushDropped {
				gone++
			}
			if q.live < 0 || q.live > q.n || q.live > q.maxMsgs || q.bytes > q.maxBytes || q.bytes < 0 {
				t.Fatalf("round %d: live %d, slots %d, bytes %d: bounds broken", round, q.live, q.n, q.bytes)
			}
		}
		q.drain(&out, 1<<30, 1<<30)
		if q.live != 0 || q.bytes != 0 {
			t.Fatalf("round %d: drained queue still holds %d entries, %d bytes", round, q.live, q.bytes)
		}
		checkStreamOrder(t, out.Messages)
		if !closed && len(out.Messages)+gone != pushed {
			t.Fatalf("round %d: delivered %d + conflated or dropped %d != pushed %d", round, len(out.Messages), gone, pushed)
		}
	}
}

// Replacing a subscription's options while messages flow neither repeats
// nor reorders anything: the new subscription takes the old one's place in
// line, held paced messages included. (Found by the model-based contract
// test; the window is microseconds wide, so this drives it directly.)
func TestResubscribeNeverReorders(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	sink := newFakeSink()
	c, _ := runClient(t, h, sink)
	must(t, c.Subscribe("jobs.>", SubOptions{MaxRate: 50}))
	var st stream // used by the publisher goroutine only
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		subjects := []string{"jobs.a", "jobs.b", "jobs.c"}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			h.Publish(st.msg(subjects[i%3], false))
		}
	}()
	for i, end := 0, time.Now().Add(2*time.Second); time.Now().Before(end); i++ {
		must(t, c.Subscribe("jobs.>", SubOptions{Policy: KeepLatest, MaxRate: float64(50 * (i % 2))}))
	}
	close(stop)
	<-done
	must(t, c.Subscribe("jobs.>", SubOptions{Policy: KeepLatest})) // flush what is held
	testsupport.WaitFor(t, "the queue to drain", 5*time.Second, func() bool { n, _ := c.QueueLen(); return n == 0 })
	msgs, _ := sink.received()
	last := map[string]uint64{}
	for _, m := range msgs {
		if m.Seq <= last[m.Subject] {
			t.Fatalf("%s@%d delivered after %s@%d", m.Subject, m.Seq, m.Subject, last[m.Subject])
		}
		last[m.Subject] = m.Seq
	}
	checkStreamOrder(t, msgs)
}

package fanout

import (
	"context"
	"errors"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/subject"
	"github.com/streamhub/streamhub/internal/testsupport"
)

func TestDependsOnStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/streamhub/streamhub/internal/fanout" || pkg == "github.com/streamhub/streamhub/internal/subject" {
			continue // the core and its one leaf, subject syntax
		}
		if strings.Contains(strings.SplitN(pkg, "/", 2)[0], ".") {
			t.Errorf("fanout depends on %s; it must import only the standard library", pkg)
		}
	}
}

func TestDeliversInOrderToMatchingSubscriptionsOnly(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	all, btc, eth := newFakeSink(), newFakeSink(), newFakeSink()
	ca, _ := runClient(t, h, all)
	cb, _ := runClient(t, h, btc)
	ce, _ := runClient(t, h, eth)
	must(t, ca.Subscribe("ticks.>", SubOptions{Policy: DropOldest}))
	must(t, cb.Subscribe("ticks.*.BTC-USD", SubOptions{Policy: DropOldest}))
	must(t, ce.Subscribe("ticks.coinbase.ETH-USD", SubOptions{Policy: DropOldest}))
	g := newSeqGen()
	for range 100 {
		for _, s := range []string{"ticks.coinbase.BTC-USD", "ticks.binance.BTC-USD", "ticks.coinbase.ETH-USD", "chain.eth.block"} {
			h.Publish(g.msg(s, 10, false))
		}
	}
	testsupport.WaitFor(t, "deliveries", 5*time.Second, func() bool { return all.count() == 300 && btc.count() == 200 && eth.count() == 100 })
	msgs, _ := all.received()
	for _, s := range []string{"ticks.coinbase.BTC-USD", "ticks.binance.BTC-USD", "ticks.coinbase.ETH-USD"} {
		if got := seqsOf(msgs, s); len(got) != 100 || !slices.IsSorted(got) || got[0] != 1 {
			t.Errorf("%s: got %s", s, describe(got))
		}
	}
	msgs, _ = btc.received()
	if n := len(seqsOf(msgs, "ticks.coinbase.ETH-USD")); n != 0 {
		t.Errorf("BTC client got %d ETH ticks", n)
	}

	must(t, cb.Unsubscribe("ticks.*.BTC-USD"))
	h.Publish(g.msg("ticks.coinbase.BTC-USD", 10, false))
	h.Publish(g.msg("ticks.coinbase.ETH-USD", 10, false))
	testsupport.WaitFor(t, "eth tick", 5*time.Second, func() bool { return eth.count() == 101 })
	if n := btc.count(); n != 200 {
		t.Errorf("after unsubscribe the BTC client got %d messages, want 200", n)
	}
	if err := cb.Unsubscribe("ticks.*.BTC-USD"); !errors.Is(err, ErrNotSubscribed) {
		t.Errorf("second unsubscribe: %v, want ErrNotSubscribed", err)
	}
}

func TestPublishMatchesEveryPatternOnce(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	wide, narrow, other := newFakeSink(), newFakeSink(), newFakeSink()
	cw, _ := runClient(t, h, wide)
	cn, _ := runClient(t, h, narrow)
	co, _ := runClient(t, h, other)
	// Overlapping subscriptions of one client each get their copy (rule 6
	// of the delivery contract): wide sees the BTC tick twice.
	must(t, cw.Subscribe("ticks.>", SubOptions{Policy: DropOldest}))
	must(t, cw.Subscribe("ticks.*.BTC-USD", SubOptions{Policy: DropOldest}))
	must(t, cn.Subscribe("ticks.*.BTC-USD", SubOptions{}))
	must(t, co.Subscribe("chain.>", SubOptions{}))
	g := newSeqGen()
	h.Publish(g.msg("ticks.coinbase.BTC-USD", 10, false))
	h.Publish(g.msg("ticks.coinbase.ETH-USD", 10, false))
	testsupport.WaitFor(t, "deliveries", 5*time.Second, func() bool { return wide.count() == 3 && narrow.count() == 1 })
	time.Sleep(20 * time.Millisecond) // give a wrong delivery the chance to show
	if wide.count() != 3 || narrow.count() != 1 || other.count() != 0 {
		t.Fatalf("wide got %d (want 3), narrow %d (want 1), other %d (want 0)", wide.count(), narrow.count(), other.count())
	}
	if !h.Interested("ticks.kraken.BTC-USD") || h.Interested("jobs.acme.1") {
		t.Fatal("Interested disagrees with the subscriptions")
	}
}

func TestInterestFollowsFirstAndLastSubscriber(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	// next waits for the interest set to change and returns it.
	_, version, changed := h.Interest()
	next := func(what string) []string {
		t.Helper()
		select {
		case <-changed:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: interest did not change", what)
		}
		p, v, ch := h.Interest()
		if v <= version || h.InterestVersion() != v {
			t.Fatalf("%s: interest version %d after %d (InterestVersion %d)", what, v, version, h.InterestVersion())
		}
		version, changed = v, ch
		return p
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case <-changed:
			t.Fatalf("%s changed the interest", what)
		default:
		}
	}
	c1, stop1 := runClient(t, h, newFakeSink())
	c2, stop2 := runClient(t, h, newFakeSink())
	must(t, c1.Subscribe("ticks.>", SubOptions{}))
	if p := next("first ticks.>"); !slices.Equal(p, []string{"ticks.>"}) {
		t.Fatalf("interest %v", p)
	}
	must(t, c2.Subscribe("ticks.>", SubOptions{}))
	quiet("a second subscriber of ticks.>")
	must(t, c2.Subscribe("ticks.>", SubOptions{Policy: Disconnect}))
	quiet("replacing options")
	must(t, c1.Subscribe("jobs.acme.>", SubOptions{}))
	if p := next("jobs.acme.>"); !slices.Equal(p, []string{"jobs.acme.>", "ticks.>"}) {
		t.Fatalf("interest %v", p)
	}
	must(t, c1.Unsubscribe("jobs.acme.>"))
	if p := next("unsubscribe"); !slices.Equal(p, []string{"ticks.>"}) {
		t.Fatalf("interest %v", p)
	}
	stop1()
	quiet("one of two subscribers leaving")
	stop2()
	if p := next("the last subscriber leaving"); len(p) != 0 {
		t.Fatalf("interest %v after everyone left", p)
	}
	if n := h.NumPatterns(); n != 0 {
		t.Fatalf("%d patterns left after everyone left", n)
	}
}

func TestSubscribeRejectsBadInput(t *testing.T) {
	h := New(Config{MaxSubscriptions: 2})
	defer h.Close()
	c, _ := runClient(t, h, newFakeSink())
	for _, p := range []string{"", "a..b", "a.>.b", "a b"} {
		if err := c.Subscribe(p, SubOptions{}); !errors.Is(err, subject.ErrInvalid) {
			t.Errorf("Subscribe(%q) = %v, want subject.ErrInvalid", p, err)
		}
	}
	for _, o := range []SubOptions{{MaxRate: -1}, {MaxRate: 5, Policy: DropOldest}, {MaxRate: 5, Policy: Disconnect}, {Policy: 9}} {
		if err := c.Subscribe("a", o); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("Subscribe with %+v = %v, want ErrInvalidOption", o, err)
		}
	}
	must(t, c.Subscribe("a", SubOptions{}))
	must(t, c.Subscribe("b", SubOptions{}))
	if err := c.Subscribe("c", SubOptions{}); !errors.Is(err, ErrTooManySubscriptions) {
		t.Errorf("third subscription: %v, want ErrTooManySubscriptions", err)
	}
	must(t, c.Subscribe("a", SubOptions{MaxRate: 3})) // replacing stays within the limit
}

func TestKeepLatestConflatesPerSubject(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	sink := newFakeSink()
	sink.gate = make(chan struct{})
	c, _ := runClient(t, h, sink)
	must(t, c.Subscribe("ticks.>", SubOptions{Policy: KeepLatest}))
	g := newSeqGen()
	subjects := []string{"ticks.a.X", "ticks.a.Y", "ticks.a.Z"}
	last := h.Publish // keep the loop readable
	for range 1000 {
		for _, s := range subjects {
			last(g.msg(s, 10, false))
		}
	}
	close(sink.gate) // let everything through
	testsupport.WaitFor(t, "newest values", 5*time.Second, func() bool {
		msgs, _ := sink.received()
		for _, s := range subjects {
			seqs := seqsOf(msgs, s)
			if len(seqs) == 0 || seqs[len(seqs)-1] != 1000 {
				return false
			}
		}
		return true
	})
	msgs, gaps := sink.received()
	if len(gaps) != 0 {
		t.Errorf("keep-latest within bounds sent gaps: %v", gaps)
	}
	// The writer may have taken one batch before the gate; after that only
	// the newest value per subject is left.
	if len(msgs) > 3+3 {
		t.Errorf("got %d messages, want at most 6 (one in-flight batch plus the newest of each subject)", len(msgs))
	}
	st := c.Stats()
	if st.Conflated+st.Delivered != 3000 {
		t.Errorf("conflated %d + delivered %d != 3000 published", st.Conflated, st.Delivered)
	}
}

func TestMaxRateDeliversNewestAtThePace(t *testing.T) {
	h := New(Config{})
	defer h.Close()
	sink := newFakeSink()
	c, _ := runClient(t, h, sink)
	const rate = 20
	must(t, c.Subscribe("ticks.>", SubOptions{MaxRate: rate}))
	g := newSeqGen()
	start := time.Now()
	var last *Message
	for time.Since(start) < 600*time.Millisecond {
		last = g.msg("ticks.a.X", 10, false)
		h.Publish(last)
		time.Sleep(500 * time.Microsecond)
	}
	elapsed := time.Since(start)
	testsupport.WaitFor(t, "the newest value", 2*time.Second, func() bool {
		msgs, _ := sink.received()
		return len(msgs) > 0 && msgs[len(msgs)-1] == last
	})
	msgs, _ := sink.received()
	// At most one per interval, plus the first and the final flush.
	if max := int(elapsed.Seconds()*rate) + 2; len(msgs) > max {
		t.Errorf("delivered %d messages in %v at max rate %d; want at most %d", len(msgs), elapsed, rate, max)
	}
	if len(msgs) < 3 {
		t.Errorf("delivered only %d messages; pacing should deliver about %d", len(msgs), int(elapsed.Seconds()*rate))
	}
	if seqs := seqsOf(msgs, "ticks.a.X"); !slices.IsSorted(seqs) {
		t.Errorf("out of order: %s", describe(seqs))
	}
	// Critical messages are not held back.
	crit := g.msg("ticks.a.X", 10, true)
	h.Publish(g.msg("ticks.a.X", 10, false))
	h.Publish(crit)
	testsupport.WaitFor(t, "critical message", 2*time.Second, func() bool {
		msgs, _ := sink.received()
		return slices.Contains(msgs, crit)
	})
}

func TestCriticalMessagesAreDeliveredOrTheClientIsClosed(t *testing.T) {
	for _, policy := range []Policy{KeepLatest, DropOldest} {
		t.Run(policy.String(), func(t *testing.T) {
			h := New(Config{MaxQueueMessages: 8})
			defer h.Close()
			sink := newFakeSink()
			sink.gate = make(chan struct{})
			c, _ := runClient(t, h, sink)
			must(t, c.Subscribe("jobs.>", SubOptions{Policy: policy}))
			g := newSeqGen()
			// The writer takes a first message and waits at the gate, so
			// that all of the following stay queued.
			h.Publish(g.msg("jobs.acme.j0", 10, false))
			testsupport.WaitFor(t, "writer busy", time.Second, func() bool { n, _ := c.QueueLen(); return n == 0 })
			var critical []*Message
			for i := range 40 {
				m := g.msg("jobs.acme.j1", 10, i%5 == 4)
				if m.Critical {
					critical = append(critical, m)
				}
				h.Publish(m)
			}
			close(sink.gate)
			testsupport.WaitFor(t, "close", 5*time.Second, func() bool { return sink.reason() != 0 || sink.count() > 0 })
			c.Close(ReasonNormal)
			<-sink.closedCh
			msgs, _ := sink.received()
			for _, m := range critical {
				if !slices.Contains(msgs, m) && sink.reason() != ReasonSlowConsumer {
					t.Fatalf("critical seq %d lost without a slow-consumer close (reason %v)", m.Seq, sink.reason())
				}
			}
			if sink.reason() != ReasonSlowConsumer {
				t.Fatalf("8-slot queue holding 8 critical messages survived; reason %v", sink.reason())
			}
		})
	}
	t.Run("two critical in a row are both kept", func(t *testing.T) {
		h := New(Config{})
		defer h.Close()
		sink := newFakeSink()
		sink.gate = make(chan struct{})
		c, _ := runClient(t, h, sink)
		must(t, c.Subscribe("jobs.>", SubOptions{Policy: KeepLatest}))
		g := newSeqGen()
		h.Publish(g.msg("jobs.acme.j1", 10, false))
		h.Publish(g.msg("jobs.acme.j1", 10, true))
		h.Publish(g.msg("jobs.acme.j1", 10, true))
		h.Publish(g.msg("jobs.acme.j1", 10, false))
		h.Publish(g.msg("jobs.acme.j1", 10, false))
		close(sink.gate)
		testsupport.WaitFor(t, "deliveries", 5*time.Second, func() bool {
			msgs, _ := sink.received()
			return len(msgs) > 0 && msgs[len(msgs)-1].Seq == 5
		})
		msgs, _ := sink.received()
		seqs := seqsOf(msgs, "jobs.acme.j1")
		if !slices.Contains(seqs, 2) || !slices.Contains(seqs, 3) || !slices.IsSorted(seqs) {
			t.Fatalf("got %v; want both critical (2, 3) in order, ending on 5", seqs)
		}
	})
}

func TestDisconnectPolicyClosesSlowConsumer(t *testing.T) {
	h := New(Config{MaxQueueMessages: 16})
	defer h.Close()
	sink := newFakeSink()
	sink.blocked = true
	c, _ := runClient(t, h, sink)
	must(t, c.Subscribe("chain.>", SubOptions{Policy: Disconnect}))
	g := newSeqGen()
	for range 100 {
		h.Publish(g.msg("chain.eth.block", 10, false))
	}
	testsupport.WaitFor(t, "slow consumer close", 5*time.Second, func() bool { return sink.reason() == ReasonSlowConsumer })
	if got := h.Stats().Disconnects[ReasonSlowConsumer]; got != 1 {
		t.Errorf("slow-consumer disconnects = %d, want 1", got)
	}
}

func TestWriteErrorsAndDeadlinesEndTheClient(t *testing.T) {
	h := New(Config{WriteTimeout: 30 * time.Millisecond})
	defer h.Close()
	failing, stuck := newFakeSink(), newFakeSink()
	failing.failWith = errBoom
	stuck.blocked = true
	cf, _ := runClient(t, h, failing)
	cs, _ := runClient(t, h, stuck)
	must(t, cf.Subscribe(">", SubOptions{}))
	must(t, cs.Subscribe(">", SubOptions{}))
	h.Publish(newSeqGen().msg("x", 10, false))
	testsupport.WaitFor(t, "both closed", 5*time.Second, func() bool {
		return failing.reason() == ReasonWriteFailed && stuck.reason() == ReasonWriteFailed
	})
	testsupport.WaitFor(t, "clients unregistered", 5*time.Second, func() bool { return h.NumClients() == 0 && h.NumPatterns() == 0 })
}

func TestBatchesAreCapped(t *testing.T) {
	h := New(Config{MaxBatchMessages: 50})
	defer h.Close()
	sink := newFakeSink()
	sink.gate = make(chan struct{}, 1000)
	c, _ := runClient(t, h, sink)
	must(t, c.Subscribe("chain.>", SubOptions{}))
	g := newSeqGen()
	for range 1000 {
		h.Publish(g.msg("chain.eth.transfer", 10, false))
	}
	for range 1000 {
		sink.gate <- struct{}{}
	}
	testsupport.WaitFor(t, "all messages", 5*time.Second, func() bool { return sink.count() == 1000 })
	sink.mu.Lock()
	batches := sink.batches
	sink.mu.Unlock()
	if batches < 20 || batches > 100 {
		t.Errorf("1000 queued messages took %d batches; want about 20 (cap 50), certainly not one per message", batches)
	}
}

func TestHubCloseShutsEveryClient(t *testing.T) {
	h := New(Config{})
	sinks := make([]*fakeSink, 5)
	for i := range sinks {
		sinks[i] = newFakeSink()
		c, _ := runClient(t, h, sinks[i])
		must(t, c.Subscribe("a.>", SubOptions{}))
	}
	h.Close()
	for _, s := range sinks {
		<-s.closedCh
		if s.reason() != ReasonShutdown {
			t.Errorf("reason %v, want shutdown", s.reason())
		}
	}
	if _, err := h.Register(newFakeSink(), EncodingJSON); !errors.Is(err, ErrHubClosed) {
		t.Errorf("Register after Close: %v", err)
	}
}

func TestRaceSubscribePublishClose(t *testing.T) {
	h := New(Config{MaxQueueMessages: 64})
	defer h.Close()
	g := newSeqGen()
	var wg sync.WaitGroup
	stopPub := make(chan struct{})
	for p := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			subjects := []string{"ticks.a.X", "chain.eth.block", "jobs.acme.j1", "ticks.b.Y"}
			for i := 0; ; i++ {
				select {
				case <-stopPub:
					return
				default:
				}
				h.Publish(g.msg(subjects[(i+p)%len(subjects)], 16, i%17 == 0))
				if i%64 == 0 {
					runtime.Gosched()
				}
			}
		}()
	}
	patterns := []string{"ticks.>", "chain.*.block", ">", "jobs.acme.*", "ticks.a.X"}
	var clients sync.WaitGroup
	for i := range 40 {
		clients.Add(1)
		go func() {
			defer clients.Done()
			sink := newFakeSink()
			sink.blocked = i%5 == 0
			c, err := h.Register(sink, EncodingJSON)
			if err != nil {
				t.Error(err)
				return
			}
			done := make(chan struct{})
			go func() { defer close(done); c.Run() }()
			for j := range 30 {
				p := patterns[(i+j)%len(patterns)]
				_ = c.Subscribe(p, SubOptions{MaxRate: float64(j % 3 * 50)})
				if j%3 == 0 {
					_ = c.Unsubscribe(p)
				}
			}
			c.Close(ReasonNormal)
			<-done
		}()
	}
	clients.Wait()
	close(stopPub)
	wg.Wait()
	if n, p := h.NumClients(), h.NumPatterns(); n != 0 || p != 0 {
		t.Fatalf("%d clients and %d patterns left", n, p)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// slowSink takes a while per batch, like a healthy but busy socket, and
// reports whether its write was cut short.
type slowSink struct {
	fakeSink
	took      time.Duration
	started   chan struct{}
	cancelled chan bool
}

func (s *slowSink) WriteBatch(ctx context.Context, b *Batch) error {
	select {
	case s.started <- struct{}{}:
	default:
	}
	select {
	case <-time.After(s.took):
		s.cancelled <- false
		return s.fakeSink.WriteBatch(ctx, b)
	case <-ctx.Done():
		s.cancelled <- true
		return ctx.Err()
	}
}

package bus

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/internal/subject"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// routerSetup starts a server, a Conn and a Router recording deliveries.
func routerSetup(t *testing.T, cfg RouterConfig) (*Embedded, *Conn, *Router, *recorder) {
	t.Helper()
	e := startServer(t, -1, t.TempDir())
	c := connect(t, ConnConfig{URLs: e.ClientURL(), Credentials: e.Credentials()})
	rec := &recorder{}
	r := NewRouter(c, rec.handle, cfg)
	t.Cleanup(func() { _ = r.Close() })
	return e, c, r, rec
}

// mustSet changes interest and, when connected, flushes the Router's
// connection so that the server has applied the change before the test
// publishes: SetInterest itself only buffers the SUB or UNSUB.
func mustSet(t *testing.T, r *Router, pattern string, on bool) {
	t.Helper()
	if err := r.SetInterest(pattern, on); err != nil {
		t.Fatalf("SetInterest(%q, %v): %v", pattern, on, err)
	}
	if r.conn.Connected() {
		if err := r.conn.NATS().FlushTimeout(waitTimeout); err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
}

func TestRouterOneServerSubscriptionPerPattern(t *testing.T) {
	e, c, r, rec := routerSetup(t, RouterConfig{})
	const p = "ticks.coinbase.*"
	mustSet(t, r, p, true)
	mustSet(t, r, p, true) // idempotent
	if n := serverSubs(t, e, c, p); n != 1 {
		t.Fatalf("server holds %d subscriptions for %q, want 1", n, p)
	}
	if got := r.Patterns(); !slices.Equal(got, []string{p}) {
		t.Fatalf("Patterns() = %v", got)
	}

	pub := publisher(t, e)
	publish(t, pub, "ticks.coinbase.BTC-USD", `{"price":1}`)
	testsupport.WaitFor(t, "the tick", waitTimeout, func() bool { return rec.count("", "") >= 1 })
	want := delivery{pattern: p, subject: "ticks.coinbase.BTC-USD", data: `{"price":1}`}
	// A marker published after it proves no duplicate is on its way.
	publish(t, pub, "ticks.coinbase.MARK", "m")
	testsupport.WaitFor(t, "the marker", waitTimeout, func() bool { return rec.count(p, "ticks.coinbase.MARK") == 1 })
	if got := rec.snapshot(); got[0] != want || len(got) != 2 {
		t.Fatalf("deliveries = %v, want %v then the marker", got, want)
	}
}

func TestRouterOverlappingPatternsEachGetTheirCopy(t *testing.T) {
	e, _, r, rec := routerSetup(t, RouterConfig{})
	mustSet(t, r, "ticks.>", true)
	mustSet(t, r, "ticks.*.BTC-USD", true)
	mustSet(t, r, "mark", true)
	if got := r.Patterns(); !slices.Equal(got, []string{"mark", "ticks.*.BTC-USD", "ticks.>"}) {
		t.Fatalf("Patterns() = %v", got)
	}

	pub := publisher(t, e)
	publish(t, pub, "ticks.coinbase.BTC-USD", "b")
	publish(t, pub, "ticks.coinbase.ETH-USD", "e")
	testsupport.WaitFor(t, "both copies of the BTC tick and the ETH tick", waitTimeout, func() bool {
		return rec.count("ticks.>", "") == 2 && rec.count("ticks.*.BTC-USD", "") == 1
	})
	if n := rec.count("ticks.*.BTC-USD", "ticks.coinbase.BTC-USD"); n != 1 {
		t.Errorf("ticks.*.BTC-USD got %d copies of the BTC tick, want 1", n)
	}
	if n := rec.count("ticks.>", "ticks.coinbase.BTC-USD"); n != 1 {
		t.Errorf("ticks.> got %d copies of the BTC tick, want 1", n)
	}
	if n := rec.count("", "ticks.coinbase.ETH-USD"); n != 1 {
		t.Errorf("the ETH tick was delivered %d times, want once (through ticks.>)", n)
	}
}

func TestRouterRemovingInterestUnsubscribes(t *testing.T) {
	e, c, r, rec := routerSetup(t, RouterConfig{})
	const p = "chain.eth.*"
	mustSet(t, r, p, true)
	mustSet(t, r, "mark", true)
	pub := publisher(t, e)
	publish(t, pub, "chain.eth.block", "1")
	testsupport.WaitFor(t, "the first block", waitTimeout, func() bool { return rec.count(p, "") == 1 })

	mustSet(t, r, p, false)
	mustSet(t, r, p, false)            // idempotent
	mustSet(t, r, "never.seen", false) // unknown pattern: no-op
	if n := serverSubs(t, e, c, p); n != 0 {
		t.Fatalf("server still holds %d subscriptions for %q", n, p)
	}
	if got := r.Patterns(); !slices.Equal(got, []string{"mark"}) {
		t.Fatalf("Patterns() = %v, want [mark]", got)
	}

	publish(t, pub, "chain.eth.block", "2")
	publish(t, pub, "mark", "m")
	testsupport.WaitFor(t, "the marker", waitTimeout, func() bool { return rec.count("mark", "") == 1 })
	if n := rec.count(p, ""); n != 1 {
		t.Fatalf("%d deliveries on %q, want only the one before unsubscribing", n, p)
	}

	// Interest can come back.
	mustSet(t, r, p, true)
	if n := serverSubs(t, e, c, p); n != 1 {
		t.Fatalf("server holds %d subscriptions after re-subscribing, want 1", n)
	}
	publish(t, pub, "chain.eth.block", "3")
	testsupport.WaitFor(t, "the third block", waitTimeout, func() bool { return rec.count(p, "") == 2 })
}

func TestRouterRejectsInvalidPatternsAndWorksNotAfterClose(t *testing.T) {
	e, c, r, _ := routerSetup(t, RouterConfig{})
	for _, p := range []string{"", "ticks..x", "ticks.>.x", "a b", "ticks.x*"} {
		if err := r.SetInterest(p, true); !errors.Is(err, subject.ErrInvalid) {
			t.Errorf("SetInterest(%q) = %v, want subject.ErrInvalid", p, err)
		}
	}
	if got := r.Patterns(); len(got) != 0 {
		t.Fatalf("invalid patterns became active: %v", got)
	}

	mustSet(t, r, "ticks.>", true)
	mustSet(t, r, "jobs.acme.*", true)
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := serverSubs(t, e, c, "ticks.>") + serverSubs(t, e, c, "jobs.acme.*"); n != 0 {
		t.Fatalf("server holds %d subscriptions after Close", n)
	}
	if err := r.SetInterest("ticks.>", true); !errors.Is(err, ErrRouterClosed) {
		t.Fatalf("SetInterest after Close = %v, want ErrRouterClosed", err)
	}
	if got := r.Patterns(); len(got) != 0 {
		t.Fatalf("Patterns() after Close = %v", got)
	}
}

func TestRouterConcurrentTogglesEndConsistent(t *testing.T) {
	e, c, r, _ := routerSetup(t, RouterConfig{})
	patterns := []string{"ticks.>", "ticks.*.BTC-USD", "chain.eth.block", "jobs.acme.*", "jobs.>"}
	const workers, ops = 8, 300
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range ops {
				p := patterns[(w*7+i*3)%len(patterns)]
				if err := r.SetInterest(p, (w+i)%3 != 0); err != nil {
					t.Errorf("SetInterest: %v", err)
					return
				}
				if i%50 == 0 {
					_ = r.Patterns()
				}
			}
		})
	}
	wg.Wait()

	active := r.Patterns()
	for _, p := range patterns {
		want := 0
		if slices.Contains(active, p) {
			want = 1
		}
		if n := serverSubs(t, e, c, p); n != want {
			t.Errorf("%q: server holds %d subscriptions, Router says %d", p, n, want)
		}
	}
	c.mu.Lock()
	tracked := len(c.tracked)
	c.mu.Unlock()
	if tracked != len(active) {
		t.Errorf("Conn tracks %d subscriptions, Router has %d", tracked, len(active))
	}

	// From any state, all on gives one each and all off gives none.
	for _, on := range []bool{true, false} {
		for _, p := range patterns {
			mustSet(t, r, p, on)
		}
		for _, p := range patterns {
			want := map[bool]int{true: 1, false: 0}[on]
			if n := serverSubs(t, e, c, p); n != want {
				t.Errorf("after setting all %v: %q has %d server subscriptions, want %d", on, p, n, want)
			}
		}
	}
}

func TestRouterSlowConsumerDropsAreCountedAndRecoverable(t *testing.T) {
	e := startServer(t, -1, t.TempDir())
	c := connect(t, ConnConfig{URLs: e.ClientURL(), Credentials: e.Credentials()})

	release := make(chan struct{})
	entered := make(chan struct{})
	var enterOnce sync.Once
	var mu sync.Mutex
	got := map[string]int{} // pattern -> deliveries
	h := func(pattern string, m *nats.Msg) {
		if pattern == "ticks.>" {
			enterOnce.Do(func() { close(entered) })
			<-release
		}
		mu.Lock()
		got[pattern]++
		mu.Unlock()
	}
	count := func(p string) int {
		mu.Lock()
		defer mu.Unlock()
		return got[p]
	}
	r := NewRouter(c, h, RouterConfig{PendingMsgs: 10, PendingBytes: 1 << 20})
	defer func() { _ = r.Close() }()
	defer func() {
		select {
		case <-release:
		default:
			close(release) // a failing test must not leave the handler blocked
		}
	}()
	mustSet(t, r, "ticks.>", true)

	pub := publisher(t, e)
	const total = 1000
	for i := range total {
		if err := pub.Publish(fmt.Sprintf("ticks.v.S%d", i), []byte("x")); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	if err := pub.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	select {
	case <-entered:
	case <-time.After(waitTimeout):
		t.Fatalf("the handler was never called")
	}
	testsupport.WaitFor(t, "drops to be counted", waitTimeout, func() bool { return c.Dropped() > 0 && c.SlowConsumerEvents() > 0 })

	// With one handler blocked, the rest of the router still works.
	mustSet(t, r, "other.*", true)
	publish(t, pub, "other.x", "y")
	testsupport.WaitFor(t, "a message on another pattern", waitTimeout, func() bool { return count("other.*") == 1 })
	if !c.Connected() {
		t.Fatalf("connection lost while a handler blocks")
	}

	close(release)
	// Every message was either delivered or counted as dropped.
	testsupport.WaitFor(t, "delivered + dropped to account for every message", waitTimeout, func() bool {
		return uint64(count("ticks.>"))+c.Dropped() == total
	})
	if d := c.Dropped(); d < total-20 {
		t.Errorf("dropped %d of %d with a pending limit of 10", d, total)
	}

	// After release the pattern delivers again.
	before := count("ticks.>")
	publish(t, pub, "ticks.v.after", "z")
	testsupport.WaitFor(t, "a message after release", waitTimeout, func() bool { return count("ticks.>") == before+1 })

	// Drops stay counted once the subscription is gone.
	dropped := c.Dropped()
	mustSet(t, r, "ticks.>", false)
	if got := c.Dropped(); got != dropped {
		t.Fatalf("Dropped() = %d after unsubscribing, was %d", got, dropped)
	}
}

package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/internal/subject"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// routerSetup starts a server, a Conn and a started Router recording
// deliveries, following a wanted set the test controls.
func routerSetup(t *testing.T, cfg RouterConfig) (*Embedded, *Conn, *Router, *recorder, *wantedSet) {
	t.Helper()
	e := startServer(t, -1, t.TempDir())
	c := connect(t, ConnConfig{URLs: e.ClientURL(), Credentials: e.Credentials()})
	rec := &recorder{}
	r := NewRouter(c, rec.handle, cfg)
	w := newWantedSet()
	r.Start(w)
	t.Cleanup(func() { _ = r.Close() })
	return e, c, r, rec, w
}

// marker publishes a message on subject and waits for it: everything
// published before it on the same connection has been handed on by then.
func marker(t *testing.T, pub *nats.Conn, rec *recorder, subject string) {
	t.Helper()
	n := rec.count(subject)
	publish(t, pub, subject, "mark")
	testsupport.WaitFor(t, "the marker on "+subject, waitTimeout, func() bool { return rec.count(subject) > n })
}

func TestRouterOneServerSubscriptionPerPattern(t *testing.T) {
	e, c, r, rec, w := routerSetup(t, RouterConfig{})
	const p = "ticks.coinbase.*"
	w.want(t, r, p, p)
	if n := serverSubs(t, e, c, p); n != 1 {
		t.Fatalf("server holds %d subscriptions for %q, want 1", n, p)
	}
	if got := r.Patterns(); !slices.Equal(got, []string{p}) {
		t.Fatalf("Patterns() = %v", got)
	}
	pub := publisher(t, e)
	publish(t, pub, "ticks.coinbase.BTC-USD", `{"price":1}`)
	marker(t, pub, rec, "ticks.coinbase.MARK")
	want := []delivery{
		{"ticks.coinbase.BTC-USD", `{"price":1}`, Copy{Primary: true}},
		{"ticks.coinbase.MARK", "mark", Copy{Primary: true}},
	}
	if got := rec.snapshot(); !slices.Equal(got, want) {
		t.Fatalf("deliveries = %v, want %v", got, want)
	}
}

// A pattern that a wider wanted one covers gets no subscription of its
// own, so each message is received once.
func TestRouterCoveredPatternsShareOneSubscription(t *testing.T) {
	e, c, r, rec, w := routerSetup(t, RouterConfig{})
	w.want(t, r, "ticks.>", "ticks.*.BTC-USD", "ticks.coinbase.BTC-USD", "mark")
	if got := r.Patterns(); !slices.Equal(got, []string{"mark", "ticks.>"}) {
		t.Fatalf("Patterns() = %v", got)
	}
	if n := serverSubs(t, e, c, "ticks.*.BTC-USD") + serverSubs(t, e, c, "ticks.coinbase.BTC-USD"); n != 0 {
		t.Fatalf("covered patterns hold %d server subscriptions", n)
	}
	pub := publisher(t, e)
	publish(t, pub, "ticks.coinbase.BTC-USD", "b")
	publish(t, pub, "ticks.coinbase.ETH-USD", "e")
	marker(t, pub, rec, "mark")
	if n := rec.count("ticks.coinbase.BTC-USD"); n != 1 {
		t.Errorf("the BTC tick was handed on %d times, want once", n)
	}
	if n := rec.count("ticks.coinbase.ETH-USD"); n != 1 {
		t.Errorf("the ETH tick was handed on %d times, want once", n)
	}
}

// Two patterns that overlap without one covering the other both subscribe;
// the older owns their common subjects, and each message is handed on once.
func TestRouterOverlappingPatternsHandOnEachMessageOnce(t *testing.T) {
	e, c, r, rec, w := routerSetup(t, RouterConfig{})
	w.want(t, r, "ticks.coinbase.*")
	w.want(t, r, "ticks.coinbase.*", "ticks.*.BTC-USD", "mark")
	if n := serverSubs(t, e, c, "ticks.coinbase.*") + serverSubs(t, e, c, "ticks.*.BTC-USD"); n != 2 {
		t.Fatalf("%d server subscriptions, want one per pattern", n)
	}
	pub := publisher(t, e)
	for _, s := range []string{"ticks.coinbase.BTC-USD", "ticks.coinbase.ETH-USD", "ticks.kraken.BTC-USD"} {
		publish(t, pub, s, "x")
	}
	marker(t, pub, rec, "mark")
	for _, s := range []string{"ticks.coinbase.BTC-USD", "ticks.coinbase.ETH-USD", "ticks.kraken.BTC-USD"} {
		if n := rec.count(s); n != 1 {
			t.Errorf("%s handed on %d times, want once", s, n)
		}
	}
	// The owner leaves: the other takes its common subjects over.
	w.want(t, r, "ticks.*.BTC-USD", "mark")
	testsupport.WaitFor(t, "the handover to end", waitTimeout, func() bool { return r.draining.Load() == 0 })
	publish(t, pub, "ticks.coinbase.BTC-USD", "y")
	marker(t, pub, rec, "mark")
	if n := rec.count("ticks.coinbase.BTC-USD"); n != 2 {
		t.Errorf("after the handover the common subject was handed on %d times in all, want 2", n)
	}
}

func TestRouterRemovingInterestUnsubscribes(t *testing.T) {
	e, c, r, rec, w := routerSetup(t, RouterConfig{})
	const p = "chain.eth.*" // no JetStream configured: routed through core NATS
	w.want(t, r, p, "mark")
	pub := publisher(t, e)
	publish(t, pub, "chain.eth.block", "1")
	testsupport.WaitFor(t, "the first block", waitTimeout, func() bool { return rec.count("chain.eth.block") == 1 })

	w.want(t, r, "mark")
	if n := serverSubs(t, e, c, p); n != 0 {
		t.Fatalf("server still holds %d subscriptions for %q", n, p)
	}
	if got := r.Patterns(); !slices.Equal(got, []string{"mark"}) {
		t.Fatalf("Patterns() = %v, want [mark]", got)
	}
	publish(t, pub, "chain.eth.block", "2")
	marker(t, pub, rec, "mark")
	if n := rec.count("chain.eth.block"); n != 1 {
		t.Fatalf("%d deliveries on %q, want only the one before unsubscribing", n, p)
	}

	// Interest can come back.
	w.want(t, r, p, "mark")
	if n := serverSubs(t, e, c, p); n != 1 {
		t.Fatalf("server holds %d subscriptions after re-subscribing, want 1", n)
	}
	publish(t, pub, "chain.eth.block", "3")
	testsupport.WaitFor(t, "the third block", waitTimeout, func() bool { return rec.count("chain.eth.block") == 2 })
}

func TestRouterIgnoresInvalidPatternsAndStopsOnClose(t *testing.T) {
	e, c, r, _, w := routerSetup(t, RouterConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, p := range []string{"", "ticks..x", "ticks.>.x", "a b", "ticks.x*"} {
		if err := r.Ready(ctx, p); !errors.Is(err, subject.ErrInvalid) {
			t.Errorf("Ready(%q) = %v, want subject.ErrInvalid", p, err)
		}
	}
	w.want(t, r, "ticks.>", "jobs.acme.*")
	w.mu.Lock()
	w.set = append(w.set, "a..b") // never comes from the hub; still harmless
	w.mu.Unlock()
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n := serverSubs(t, e, c, "ticks.>") + serverSubs(t, e, c, "jobs.acme.*"); n != 0 {
		t.Fatalf("server holds %d subscriptions after Close", n)
	}
	if err := r.Ready(ctx, "ticks.>"); !errors.Is(err, ErrRouterClosed) {
		t.Fatalf("Ready after Close = %v, want ErrRouterClosed", err)
	}
	if got := r.Patterns(); len(got) != 0 {
		t.Fatalf("Patterns() after Close = %v", got)
	}
}

// Ready waits for a pass that has seen the pattern; a context ends the wait.
func TestRouterReadyWaitsForThePattern(t *testing.T) {
	_, _, r, _, _ := routerSetup(t, RouterConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := r.Ready(ctx, "never.wanted"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ready for a pattern nobody wants = %v, want a deadline error", err)
	}
}

// Rapid changes of the wanted set end with the server holding exactly the
// covering subscriptions of the last set, and nothing tracked twice.
func TestRouterFollowsRapidChanges(t *testing.T) {
	e, c, r, _, w := routerSetup(t, RouterConfig{})
	patterns := []string{"ticks.>", "ticks.*.BTC-USD", "chain.eth.block", "jobs.acme.*", "jobs.>", "other.x"}
	for i := range 300 {
		var set []string
		for j, p := range patterns {
			if (i>>j)&1 == 1 || (i*7+j)%5 == 0 {
				set = append(set, p)
			}
		}
		w.replace(set...)
	}
	final := []string{"ticks.*.BTC-USD", "jobs.acme.*", "jobs.>", "other.x"}
	w.want(t, r, final...)
	testsupport.WaitFor(t, "handovers to end", waitTimeout, func() bool { return r.draining.Load() == 0 })
	want := []string{"jobs.>", "other.x", "ticks.*.BTC-USD"}
	if got := r.Patterns(); !slices.Equal(got, want) {
		t.Fatalf("Patterns() = %v, want %v", got, want)
	}
	for _, p := range patterns {
		n := serverSubs(t, e, c, p)
		if want := map[bool]int{true: 1, false: 0}[slices.Contains(want, p)]; n != want {
			t.Errorf("%q: server holds %d subscriptions, want %d", p, n, want)
		}
	}
	c.mu.Lock()
	tracked := len(c.tracked)
	c.mu.Unlock()
	if tracked != len(want) {
		t.Errorf("Conn tracks %d subscriptions, want %d", tracked, len(want))
	}
}

// When a wider pattern takes over from a narrower one while a publisher
// numbers its messages, the handler sees every number, in order, once it
// keeps a copy only when it is newer (what ingest does). This is the
// handover guarantee, under a continuous stream.
func TestRouterHandoverKeepsEveryNumberedMessageInOrder(t *testing.T) {
	e, _, r, rec, w := routerSetup(t, RouterConfig{})
	w.want(t, r, "ticks.a.*")
	pub := publisher(t, e)
	// The publisher numbers its messages until told to stop, for at most
	// 100,000 messages.
	stop := make(chan struct{})
	published := make(chan int, 1)
	go func() {
		n := 0
		defer func() { published <- n }()
		for n < 100_000 {
			select {
			case <-stop:
				return
			default:
			}
			m := nats.NewMsg("ticks.a.X")
			m.Data = []byte(strconv.Itoa(n + 1))
			if err := pub.PublishMsg(m); err != nil {
				t.Errorf("publish: %v", err)
				return
			}
			n++
			if n%50 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	testsupport.WaitFor(t, "the stream to start", waitTimeout, func() bool { return rec.count("") > 100 })
	setDelay := func(d time.Duration) {
		rec.mu.Lock()
		rec.delay = d
		rec.mu.Unlock()
	}
	// A slow handler leaves the retiring subscription a backlog to hand on.
	setDelay(200 * time.Microsecond)
	w.want(t, r, "ticks.a.*", "ticks.>") // the wider one arrives: ticks.a.* is retired
	testsupport.WaitFor(t, "the handover to end", waitTimeout, func() bool { return r.draining.Load() == 0 })
	setDelay(0)
	after := rec.count("")
	testsupport.WaitFor(t, "messages after the handover", waitTimeout, func() bool { return rec.count("") > after+100 })
	close(stop)
	total := <-published
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, "every message", waitTimeout, func() bool {
		kept := keptInOrder(rec.snapshot())
		return len(kept) > 0 && kept[len(kept)-1] == total
	})
	kept := keptInOrder(rec.snapshot())
	for i, n := range kept {
		if n != i+1 {
			t.Fatalf("kept %d at position %d of %d: a message was lost or reordered in the handover", n, i+1, total)
		}
	}
	if got := r.Patterns(); !slices.Equal(got, []string{"ticks.>"}) {
		t.Fatalf("Patterns() = %v after the handover", got)
	}
	late := 0
	for _, d := range rec.snapshot() {
		if !d.copy.Primary {
			late++
		}
	}
	t.Logf("%d messages, %d handed on, %d of them by the retiring subscription", total, rec.count(""), late)
}

// keptInOrder applies the rule a handler with publisher positions follows:
// a copy is kept only if it is newer than the last kept.
func keptInOrder(ds []delivery) []int {
	kept := []int{0}
	last := 0
	for _, d := range ds {
		n, _ := strconv.Atoi(d.data)
		if n > last {
			last = n
			kept = append(kept, n)
		}
	}
	return kept[1:]
}

func TestRouterSlowConsumerDropsAreCountedAndRecoverable(t *testing.T) {
	e := startServer(t, -1, t.TempDir())
	c := connect(t, ConnConfig{URLs: e.ClientURL(), Credentials: e.Credentials()})

	release := make(chan struct{})
	entered := make(chan struct{})
	var enterOnce sync.Once
	var mu sync.Mutex
	got := map[string]int{} // first token -> deliveries
	h := func(m *nats.Msg, _ Copy) {
		first, _, _ := subject.Cut(m.Subject)
		if first == "ticks" {
			enterOnce.Do(func() { close(entered) })
			<-release
		}
		mu.Lock()
		got[first]++
		mu.Unlock()
	}
	count := func(p string) int {
		mu.Lock()
		defer mu.Unlock()
		return got[p]
	}
	r := NewRouter(c, h, RouterConfig{PendingMsgs: 10, PendingBytes: 1 << 20})
	w := newWantedSet()
	r.Start(w)
	defer func() { _ = r.Close() }()
	defer func() {
		select {
		case <-release:
		default:
			close(release) // a failing test must not leave the handler blocked
		}
	}()
	w.want(t, r, "ticks.>")

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
	w.want(t, r, "ticks.>", "other.*")
	publish(t, pub, "other.x", "y")
	testsupport.WaitFor(t, "a message on another pattern", waitTimeout, func() bool { return count("other") == 1 })
	if !c.Connected() {
		t.Fatalf("connection lost while a handler blocks")
	}

	close(release)
	// Every message was either delivered or counted as dropped.
	testsupport.WaitFor(t, "delivered + dropped to account for every message", waitTimeout, func() bool {
		return uint64(count("ticks"))+c.Dropped() == total
	})
	if d := c.Dropped(); d < total-20 {
		t.Errorf("dropped %d of %d with a pending limit of 10", d, total)
	}

	// After release the pattern delivers again.
	before := count("ticks")
	publish(t, pub, "ticks.v.after", "z")
	testsupport.WaitFor(t, "a message after release", waitTimeout, func() bool { return count("ticks") == before+1 })

	// Drops stay counted once the subscription is gone.
	dropped := c.Dropped()
	w.want(t, r, "other.*")
	if got := c.Dropped(); got != dropped {
		t.Fatalf("Dropped() = %d after unsubscribing, was %d", got, dropped)
	}
}

package clustertest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/client"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// natsJS connects the test to the cluster's nodes at urls (the publisher
// of ingested messages, standing for an ingestor) and returns the
// connection and its JetStream.
func natsJS(t testing.TB, urls string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.PingInterval(time.Second), nats.MaxPingsOutstanding(2), nats.Timeout(time.Second))
	if err != nil {
		t.Fatalf("connect to the cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// jobPublisher publishes critical job events jobs.t1.j<n%5> with data
// {"n":n}, n = 1, 2, 3 …, as acknowledged JetStream publishes with the
// message id job-<n>: a publish that fails is retried with the same id
// until JetStream acknowledges it, so each n is stored exactly once.
type jobPublisher struct {
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	acked    int           // 1..acked are stored
	failures int           // publish attempts that failed
	maxStall time.Duration // the longest time from a message's first attempt to its ack
	stallAt  time.Time     // when the longest stall began
}

// startJobs starts publishing one job event every interval until Stop.
func startJobs(t testing.TB, js jetstream.JetStream, interval time.Duration) *jobPublisher {
	p := &jobPublisher{stop: make(chan struct{}), done: make(chan struct{})}
	go p.run(js, interval)
	t.Cleanup(p.Stop)
	return p
}

func (p *jobPublisher) run(js jetstream.JetStream, interval time.Duration) {
	defer close(p.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for n := 1; ; n++ {
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
		msg := nats.NewMsg(fmt.Sprintf("jobs.t1.j%d", n%5))
		msg.Header.Set("Sh-Critical", "1")
		msg.Data = []byte(`{"n":` + strconv.Itoa(n) + `}`)
		first := time.Now()
		// Retried until acknowledged, whatever Stop says meanwhile (at
		// most a minute), so that acked is exact.
		for time.Since(first) < time.Minute {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID("job-"+strconv.Itoa(n)))
			cancel()
			if err == nil {
				break
			}
			p.mu.Lock()
			p.failures++
			p.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
		p.mu.Lock()
		p.acked = n
		if d := time.Since(first); d > p.maxStall {
			p.maxStall, p.stallAt = d, first
		}
		p.mu.Unlock()
	}
}

// Acked returns how many job events are stored (1..Acked).
func (p *jobPublisher) Acked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.acked
}

// Stop stops publishing after the message in flight is acknowledged. It
// is idempotent.
func (p *jobPublisher) Stop() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// startTicks publishes a tick on ticks.c.BTC every interval through core
// NATS, without the publisher's own numbering (the hub numbers them),
// until the test ends.
func startTicks(t testing.TB, nc *nats.Conn, interval time.Duration) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				_ = nc.Publish("ticks.c.BTC", []byte(`{"last":"1"}`))
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// closeCodes is a slog handler that records the close codes of the
// client's "connection lost" lines.
type closeCodes struct {
	mu    sync.Mutex
	codes []int
}

func (h *closeCodes) Enabled(context.Context, slog.Level) bool { return true }
func (h *closeCodes) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *closeCodes) WithGroup(string) slog.Handler            { return h }
func (h *closeCodes) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "client: connection lost; reconnecting" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "code" {
			h.mu.Lock()
			h.codes = append(h.codes, int(a.Value.Int64()))
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *closeCodes) list() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.codes)
}

// user is one Go client application: it subscribes to jobs.t1.> (and,
// with ticks, to ticks.c.>) and records what it receives.
type user struct {
	c     *client.Client
	codes closeCodes

	mu        sync.Mutex
	jobs      map[int]int // n → times received
	recovered []string    // OnRecovered calls, "pattern=true|false"
	ticks     int
	epochs    map[uint64]bool // the epochs of the ticks received
	ended     error           // a subscription's OnEnd
}

// startUsers dials n clients to urls (the first with the others as
// fallbacks, rotated by one for every other client when spread is set) and
// subscribes each.
func startUsers(t testing.TB, n int, urls []string, spread, ticks bool) []*user {
	t.Helper()
	users := make([]*user, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range users {
		u := &user{jobs: make(map[int]int), epochs: make(map[uint64]bool)}
		users[i] = u
		order := urls
		if spread && i%2 == 1 {
			order = append(slices.Clone(urls[1:]), urls[0])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- u.start(order, ticks)
		}()
	}
	wg.Wait()
	close(errs)
	for _, u := range users {
		if u.c != nil {
			t.Cleanup(func() { _ = u.c.Close() })
		}
	}
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return users
}

func (u *user) start(urls []string, ticks bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, urls[0], "", &client.Options{
		FallbackURLs: urls[1:],
		Backoff:      client.Backoff{Base: 100 * time.Millisecond, Cap: 2 * time.Second},
		Logger:       slog.New(&u.codes),
		OnRecovered: func(pattern string, ok bool) {
			u.mu.Lock()
			u.recovered = append(u.recovered, pattern+"="+strconv.FormatBool(ok))
			u.mu.Unlock()
		},
	})
	if err != nil {
		return fmt.Errorf("dial %v: %w", urls, err)
	}
	u.c = c
	onEnd := func(err error) {
		u.mu.Lock()
		u.ended = err
		u.mu.Unlock()
	}
	_, err = c.SubscribeFunc(ctx, "jobs.t1.>", client.SubscribeOptions{OnEnd: onEnd}, func(ev client.Event) {
		var d struct{ N int }
		if ev.Decode(&d) != nil {
			return
		}
		u.mu.Lock()
		u.jobs[d.N]++
		u.mu.Unlock()
	})
	if err != nil || !ticks {
		return err
	}
	_, err = c.SubscribeFunc(ctx, "ticks.c.>", client.SubscribeOptions{OnEnd: onEnd}, func(ev client.Event) {
		u.mu.Lock()
		u.ticks++
		u.epochs[ev.Epoch] = true
		u.mu.Unlock()
	})
	return err
}

// recoveries returns the OnRecovered calls so far.
func (u *user) recoveries() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.recovered)
}

// has reports whether u received job event n.
func (u *user) has(n int) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.jobs[n] > 0
}

// tally returns how many of job events from the first u received (its
// subscription began there) up to upTo it has not received, how many it
// received more than once, and the first missing one.
func (u *user) tally(upTo int) (missing, dup, firstMissing int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	from := upTo + 1
	for n := range u.jobs {
		from = min(from, n)
	}
	for n := from; n <= upTo; n++ {
		switch c := u.jobs[n]; {
		case c == 0:
			if missing == 0 {
				firstMissing = n
			}
			missing++
		case c > 1:
			dup++
		}
	}
	return missing, dup, firstMissing
}

// waitStarted waits until every user has received job events (and ticks,
// when subscribed), so that each has positions to resume from.
func waitStarted(t testing.TB, users []*user, ticks bool) {
	t.Helper()
	testsupport.WaitFor(t, "every user receiving", 60*time.Second, func() bool {
		for _, u := range users {
			u.mu.Lock()
			ok := len(u.jobs) > 0 && (!ticks || u.ticks > 0)
			u.mu.Unlock()
			if !ok {
				return false
			}
		}
		return true
	})
}

// checkJobs stops pub and checks that every user received every acked job
// event exactly once and that no subscription ended.
func checkJobs(t testing.TB, pub *jobPublisher, users []*user) {
	t.Helper()
	pub.Stop()
	acked := pub.Acked()
	// Delivery of the last events may still be under way.
	deadline := time.Now().Add(60 * time.Second)
	for _, u := range users {
		for !u.has(acked) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	lost, dups, short := 0, 0, 0
	for i, u := range users {
		missing, dup, first := u.tally(acked)
		lost += missing
		dups += dup
		if missing > 0 || dup > 0 {
			short++
			if short <= 5 {
				t.Errorf("user %d: %d of %d job events missing (first %d), %d duplicated; recoveries %v",
					i, missing, acked, first, dup, u.recoveries())
			}
		}
		u.mu.Lock()
		ended := u.ended
		u.mu.Unlock()
		if ended != nil {
			t.Errorf("user %d: a subscription ended: %v", i, ended)
		}
	}
	pub.mu.Lock()
	failures, stall := pub.failures, pub.maxStall
	pub.mu.Unlock()
	t.Logf("jobs: %d published and acked (%d failed publish attempts, longest wait for an ack %v); %d users: %d events lost, %d duplicated",
		acked, failures, stall.Round(time.Millisecond), len(users), lost, dups)
}

// readiness polls a hub's /readyz every 10 ms from a goroutine of its own
// and records when the answer changes.
type readiness struct {
	stop, done chan struct{}
	mu         sync.Mutex
	changes    []readyChange
}

type readyChange struct {
	at   time.Time
	code int
}

func watchReady(t testing.TB, h *Hub) *readiness {
	r := &readiness{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		last := -1
		for {
			select {
			case <-r.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if code := h.Ready(); code != last {
				last = code
				r.mu.Lock()
				r.changes = append(r.changes, readyChange{time.Now(), code})
				r.mu.Unlock()
			}
		}
	}()
	t.Cleanup(r.end)
	return r
}

func (r *readiness) end() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

// unready returns how long, after since, the hub answered other than 200
// in all, and whether it did at all.
func (r *readiness) unready(since time.Time) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var total time.Duration
	seen := false
	for i, c := range r.changes {
		if c.code == http.StatusOK || c.at.Before(since) {
			continue
		}
		seen = true
		end := time.Now()
		if i+1 < len(r.changes) {
			end = r.changes[i+1].at
		}
		total += end.Sub(c.at)
	}
	return total, seen
}

// ready returns the latest /readyz status seen.
func (r *readiness) last() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.changes) == 0 {
		return 0
	}
	return r.changes[len(r.changes)-1].code
}

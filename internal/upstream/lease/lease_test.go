package lease

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// worker records when it works, and fails the test if two workers of one
// key ever work at once.
type worker struct {
	t      *testing.T
	active *atomic.Int32 // shared by the candidates of one key
	name   string
	mu     sync.Mutex
	starts int
	stops  int
}

func (w *worker) work(ctx context.Context) error {
	if n := w.active.Add(1); n != 1 {
		w.t.Errorf("%s started while %d others work", w.name, n-1)
	}
	w.mu.Lock()
	w.starts++
	w.mu.Unlock()
	<-ctx.Done()
	w.active.Add(-1)
	w.mu.Lock()
	w.stops++
	w.mu.Unlock()
	return nil
}

func (w *worker) counts() (starts, stops int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.starts, w.stops
}

// candidate is one process: its own NATS connection, its Lease, its Run.
type candidate struct {
	nc     *nats.Conn
	lease  *Lease
	w      *worker
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func start(t *testing.T, url string, active *atomic.Int32, name string) *candidate {
	t.Helper()
	nc, err := nats.Connect(url, nats.NoReconnect())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(context.Background(), js, Config{Key: "ingest.test", TTL: 2 * time.Second, Holder: name})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &candidate{nc: nc, lease: l, w: &worker{t: t, active: active, name: name}, cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- l.Run(ctx, c.w.work) }()
	t.Cleanup(c.stop)
	return c
}

func (c *candidate) stop() {
	c.once.Do(func() {
		c.cancel()
		select {
		case err := <-c.done:
			if err != nil {
				c.w.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			c.w.t.Error("Run did not return within 10s of cancel")
		}
	})
}

func leader(cs ...*candidate) *candidate {
	var l *candidate
	for _, c := range cs {
		if c.lease.Held() {
			if l != nil {
				return nil
			}
			l = c
		}
	}
	return l
}

// Exactly one of two candidates works; when the leader stops, it gives the
// lease up and the standby takes over at once (not after the TTL).
func TestOneLeaderAndHandoverOnStop(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	var active atomic.Int32
	a, b := start(t, url, &active, "a"), start(t, url, &active, "b")
	testsupport.WaitFor(t, "one leader", 10*time.Second, func() bool { return leader(a, b) != nil && active.Load() == 1 })
	first := leader(a, b)
	other := a
	if first == a {
		other = b
	}
	// Renewals keep it: after 3 TTLs the leader is still the same one.
	time.Sleep(6 * time.Second)
	if leader(a, b) != first {
		t.Fatal("leadership moved without a failure")
	}
	stopped := time.Now()
	first.stop()
	testsupport.WaitFor(t, "the standby to lead", 10*time.Second, func() bool { return other.lease.Held() })
	t.Logf("handover after a stop: %v", time.Since(stopped))
	if s, e := first.w.counts(); s != 1 || e != 1 {
		t.Fatalf("first leader worked %d times, stopped %d", s, e)
	}
}

// A leader that dies (its NATS connection is gone, nothing is released)
// loses the lease when it cannot renew it; the standby takes over once the
// key expired, within a few seconds, and the two never work at once.
func TestFailoverWhenTheLeaderDies(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	var active atomic.Int32
	a, b := start(t, url, &active, "a"), start(t, url, &active, "b")
	testsupport.WaitFor(t, "one leader", 10*time.Second, func() bool { return leader(a, b) != nil && active.Load() == 1 })
	dead := leader(a, b)
	standby := a
	if dead == a {
		standby = b
	}
	killed := time.Now()
	dead.nc.Close()
	testsupport.WaitFor(t, "the standby to lead", 30*time.Second, func() bool { return standby.lease.Held() })
	t.Logf("failover after the leader died: %v (TTL 2s)", time.Since(killed))
	if _, stops := dead.w.counts(); stops != 1 {
		t.Fatal("the dead leader's work was not stopped")
	}
	if s, _ := standby.w.counts(); s != 1 {
		t.Fatalf("standby started %d times", s)
	}
}

// A second process with another TTL uses the bucket's; a bad config is an
// error.
func TestConfig(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	l1, err := New(ctx, js, Config{Key: "k", TTL: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l2, err := New(ctx, js, Config{Key: "k", TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if l1.TTL() != 4*time.Second || l2.TTL() != 4*time.Second || l1.Holder() == l2.Holder() {
		t.Fatalf("TTLs %v %v, holders %q %q", l1.TTL(), l2.TTL(), l1.Holder(), l2.Holder())
	}
	if _, err := New(ctx, js, Config{}); err == nil {
		t.Fatal("no key accepted")
	}
	if _, err := New(ctx, js, Config{Key: "k", TTL: time.Millisecond}); err == nil {
		t.Fatal("1ms TTL accepted")
	}
}

package auth

import (
	"sync"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/testsupport"
)

func TestLimitsDefaults(t *testing.T) {
	d := Limits{}.WithDefaults()
	want := Limits{MaxConns: 100, MaxSubsPerConn: 128, CommandsPerSec: 20, CommandsBurst: 40, PublishPerSec: 100, PublishBurst: 200}
	if d != want {
		t.Fatalf("defaults %+v, want %+v", d, want)
	}
	if (Limits{MaxConns: 3}).WithDefaults().MaxConns != 3 {
		t.Fatal("explicit limit replaced by default")
	}
}

func TestLimiterConns(t *testing.T) {
	l := NewLimiter()
	lim := Limits{MaxConns: 3}
	var releases []func()
	for i := range 3 {
		rel, ok := l.AcquireConn("k1", lim)
		if !ok {
			t.Fatalf("connection %d refused under the limit", i)
		}
		releases = append(releases, rel)
	}
	if _, ok := l.AcquireConn("k1", lim); ok {
		t.Fatal("fourth connection accepted over MaxConns 3")
	}
	if _, ok := l.AcquireConn("k2", lim); !ok {
		t.Fatal("another key's slot taken by k1")
	}
	releases[0]()
	releases[0]() // idempotent: must not free a second slot
	if l.Conns("k1") != 2 {
		t.Fatalf("Conns = %d after one release", l.Conns("k1"))
	}
	if _, ok := l.AcquireConn("k1", lim); !ok {
		t.Fatal("freed slot not reusable")
	}
	if _, ok := l.AcquireConn("k1", lim); ok {
		t.Fatal("double release freed two slots")
	}

	// Concurrent acquirers never exceed the limit.
	l2 := NewLimiter()
	var wg sync.WaitGroup
	var mu sync.Mutex
	granted := 0
	for range 50 {
		wg.Go(func() {
			if _, ok := l2.AcquireConn("k", Limits{MaxConns: 7}); ok {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if granted != 7 || l2.Conns("k") != 7 {
		t.Fatalf("granted %d (Conns %d), want 7", granted, l2.Conns("k"))
	}
}

func TestLimiterPublishAndCommands(t *testing.T) {
	l := NewLimiter()
	lim := Limits{PublishPerSec: 1, PublishBurst: 10}
	if !l.AllowPublish("k", lim, 10) {
		t.Fatal("a burst-sized batch refused")
	}
	if l.AllowPublish("k", lim, 1) {
		t.Fatal("publish allowed with an empty bucket")
	}
	if !l.AllowPublish("other", lim, 1) {
		t.Fatal("buckets shared between keys")
	}
	if l.AllowPublish("k2", lim, 11) {
		t.Fatal("batch larger than the burst allowed")
	}
	// A raised burst applies to the key's existing bucket: a batch it could
	// never pass before passes once the bucket has refilled.
	if l.AllowPublish("k3", Limits{PublishPerSec: 100, PublishBurst: 10}, 15) {
		t.Fatal("batch over the burst allowed")
	}
	testsupport.WaitFor(t, "a 15-batch under the raised burst", 5*time.Second, func() bool {
		return l.AllowPublish("k3", Limits{PublishPerSec: 100, PublishBurst: 20}, 15)
	})
	testsupport.WaitFor(t, "the bucket to refill", 5*time.Second, func() bool { return l.AllowPublish("k", lim, 1) })
	l.Forget("k")
	if !l.AllowPublish("k", lim, 10) {
		t.Fatal("Forget did not drop the bucket")
	}

	c := NewCommandLimiter(Limits{})
	n := 0
	for c.Allow() {
		n++
		if n > 1000 {
			break
		}
	}
	if n != DefaultCommandsBurst {
		t.Fatalf("command burst %d, want %d", n, DefaultCommandsBurst)
	}
	if got := float64(NewCommandLimiter(Limits{CommandsPerSec: 5, CommandsBurst: 2}).Limit()); got != 5 {
		t.Fatalf("command rate %v", got)
	}
}

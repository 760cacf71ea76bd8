package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// openLeases opens a Leases of its own (one hub) on its own connection,
// closed at cleanup.
func openLeases(t *testing.T, js jetstream.JetStream, ttl time.Duration) *Leases {
	t.Helper()
	l, err := OpenLeases(ctxT(t), js, LeaseConfig{TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

// Three hubs race for one key's slots: exactly the limit is granted, never
// more, and slots given back are granted again.
func TestLeasesGrantExactlyTheLimitUnderContention(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	hubs := []*Leases{
		openLeases(t, connectJS(t, url), time.Minute),
		openLeases(t, connectJS(t, url), time.Minute),
		openLeases(t, connectJS(t, url), time.Minute),
	}
	const limit, tries = 7, 30
	var granted atomic.Int32
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() {
			if hubs[i%len(hubs)].Acquire(ctxT(t), "k1", limit) {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	if granted.Load() != limit {
		t.Fatalf("granted %d of %d tries, want the limit %d", granted.Load(), tries, limit)
	}
	if n, err := hubs[0].Count(ctxT(t), "k1"); err != nil || n != limit {
		t.Fatalf("Count = %d, %v; want %d", n, err, limit)
	}
	for _, h := range hubs {
		if h.FailOpen() != 0 {
			t.Fatalf("a grant failed open with NATS up")
		}
	}
	// Another key is not affected.
	if !hubs[1].Acquire(ctxT(t), "k2", 1) {
		t.Fatal("k2 refused")
	}
	// One slot back on the hub that holds one: one more grant anywhere.
	var holder *Leases
	for _, h := range hubs {
		if h.Held("k1") > 0 {
			holder = h
		}
	}
	holder.Release("k1")
	testsupport.WaitFor(t, "the release to be recorded", 10*time.Second, func() bool {
		n, err := hubs[0].Count(ctxT(t), "k1")
		return err == nil && n == limit-1
	})
	if !hubs[2].Acquire(ctxT(t), "k1", limit) || hubs[0].Acquire(ctxT(t), "k1", limit) {
		t.Fatal("after one release: want exactly one more grant")
	}
}

// A hub that loses NATS keeps admitting on its own limit (fail open,
// counted), and its leases expire for the others within the TTL.
func TestLeasesFailOpenAndExpire(t *testing.T) {
	ns := bustest.StartNATS(t)
	const ttl = 900 * time.Millisecond
	other := openLeases(t, connectJS(t, ns.ClientURL()), ttl)

	nc, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	hub := openLeases(t, js, ttl)
	if !hub.Acquire(ctxT(t), "k", 2) {
		t.Fatal("first slot refused")
	}

	// Cut the hub off. Without NATS it grants on its own judgement (the
	// Limiter has checked its own limit before).
	nc.Close()
	if !hub.Acquire(ctxT(t), "k", 2) || hub.FailOpen() != 1 {
		t.Fatalf("with NATS gone: want a grant that failed open, FailOpen=%d", hub.FailOpen())
	}
	if hub.Held("k") != 2 {
		t.Fatalf("Held = %d, want 2", hub.Held("k"))
	}
	testsupport.WaitFor(t, "the cut-off hub's lease to expire for the others", 10*ttl, func() bool {
		n, err := other.Count(ctxT(t), "k")
		return err == nil && n == 0
	})
	if !other.Acquire(ctxT(t), "k", 2) || !other.Acquire(ctxT(t), "k", 2) || other.Acquire(ctxT(t), "k", 2) {
		t.Fatal("the other hub: want both slots once the lost hub's lease expired, and no third")
	}
}

// Renewals write each hub's live count, so a lease entry that was lost or
// damaged is whole again within a renewal period, with nobody releasing or
// reconnecting.
func TestLeasesRenewalRepairsTheCount(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	const ttl = 600 * time.Millisecond
	js := connectJS(t, url)
	hub := openLeases(t, js, ttl)
	for range 2 {
		if !hub.Acquire(ctxT(t), "k", 5) {
			t.Fatal("refused")
		}
	}
	kv, err := js.KeyValue(ctxT(t), DefaultLeaseBucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctxT(t), leaseKey("k"), []byte("not json")); err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, "the renewal to restore the count", 10*ttl, func() bool {
		n, err := hub.Count(ctxT(t), "k")
		return err == nil && n == 2
	})
	// Released everywhere: the hub stops renewing it, and the entry goes.
	hub.Release("k")
	hub.Release("k")
	testsupport.WaitFor(t, "the entry to go with the last connection", 10*time.Second, func() bool {
		_, err := kv.Get(ctxT(t), leaseKey("k"))
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	if hub.Held("k") != 0 {
		t.Fatalf("Held = %d", hub.Held("k"))
	}
}

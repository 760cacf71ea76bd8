package auth

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// Two hub instances (two NATS connections) on one bucket: a revocation on
// one reaches the other within 1 s, and a store opened later refuses it.
func TestStoreTwoInstancesSeeRevocation(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	a := openStore(t, url, StoreConfig{})
	b := openStore(t, url, StoreConfig{})
	if string(a.signingSecret()) != string(b.signingSecret()) {
		t.Fatal("the two stores disagree on the signing secret")
	}
	ctx := ctxT(t)
	key, _, err := a.Create(ctx, basicRequest())
	if err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, "b sees the new key", 5*time.Second, func() bool {
		_, err := b.Authenticate(key.Reveal(), ipInside, time.Now())
		return err == nil
	})
	// A browser token issued by one instance verifies on the other.
	recA, err := a.Authenticate(key.Reveal(), ipInside, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := NewTokenIssuer(a, TokenConfig{}).Issue(recA, TokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	tiB := NewTokenIssuer(b, TokenConfig{})
	if _, err := tiB.Verify(tok, time.Now()); err != nil {
		t.Fatalf("token from instance a on b: %v", err)
	}
	revoked := make(chan time.Time, 1)
	cancel := b.OnChange(func(c Change) {
		if c.Kind == ChangeRevoked && c.Record.ID == key.ID() {
			select {
			case revoked <- time.Now():
			default:
			}
		}
	})
	defer cancel()
	start := time.Now()
	if _, err := a.Revoke(ctx, key.ID()); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-revoked:
		if d := at.Sub(start); d > time.Second {
			t.Fatalf("revocation reached the other instance after %v", d)
		}
	case <-time.After(time.Second):
		t.Fatal("the other instance did not announce the revocation within 1 s")
	}
	if _, err := b.Authenticate(key.Reveal(), ipInside, time.Now()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("b after revocation: %v", err)
	}
	if _, err := tiB.Verify(tok, time.Now()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("token of the revoked key on b: %v", err)
	}
	c := openStore(t, url, StoreConfig{})
	if _, err := c.Authenticate(key.Reveal(), ipInside, time.Now()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("store opened after revocation: %v", err)
	}
	if string(c.signingSecret()) != string(a.signingSecret()) {
		t.Fatal("a later store made its own signing secret")
	}
}

func TestStoreRotationOverlap(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	a := openStore(t, url, StoreConfig{})
	b := openStore(t, url, StoreConfig{})
	ctx := ctxT(t)
	req := basicRequest()
	req.TTL = time.Hour
	req.CIDRs = []string{"10.0.0.0/8"}
	old, oldRec, err := a.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	expired := make(chan string, 4)
	cancel := b.OnChange(func(c Change) {
		if c.Kind == ChangeExpired {
			expired <- c.Record.ID
		}
	})
	defer cancel()
	const overlap = 300 * time.Millisecond
	nu, nuRec, err := a.Rotate(ctx, old.ID(), overlap)
	if err != nil {
		t.Fatal(err)
	}
	if nu.ID() == old.ID() || nuRec.Name != oldRec.Name || nuRec.CIDRs[0] != "10.0.0.0/8" ||
		nuRec.Subscribe[0] != "ticks.>" || nuRec.Expires.Sub(nuRec.Created) != time.Hour {
		t.Fatalf("rotated record %+v", nuRec)
	}
	if r, _ := a.Get(old.ID()); r.RotatedTo != nu.ID() || r.Expires.After(time.Now().Add(overlap)) {
		t.Fatalf("old record after rotation %+v", r)
	}
	// Both keys work on both instances during the overlap.
	testsupport.WaitFor(t, "b sees the rotation", 5*time.Second, func() bool {
		r, ok := b.Get(old.ID())
		_, err := b.Authenticate(nu.Reveal(), ipInside, time.Now())
		return ok && r.RotatedTo == nu.ID() && err == nil
	})
	during := nuRec.Created.Add(overlap / 2)
	for _, s := range []*Store{a, b} {
		if _, err := s.Authenticate(old.Reveal(), ipInside, during); err != nil {
			t.Fatalf("old key refused during the overlap: %v", err)
		}
		if _, err := s.Authenticate(nu.Reveal(), ipInside, during); err != nil {
			t.Fatalf("new key refused during the overlap: %v", err)
		}
	}
	select {
	case id := <-expired:
		if id != old.ID() {
			t.Fatalf("expired %s, want the old key", id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no expiry event for the old key")
	}
	for _, s := range []*Store{a, b} {
		if _, err := s.Authenticate(old.Reveal(), ipInside, time.Now()); !errors.Is(err, ErrExpired) {
			t.Fatalf("old key after the overlap: %v", err)
		}
		if _, err := s.Authenticate(nu.Reveal(), ipInside, time.Now()); err != nil {
			t.Fatalf("new key after the overlap: %v", err)
		}
	}
	if _, _, err := a.Rotate(ctx, old.ID(), overlap); err == nil {
		t.Fatal("an expired, rotated key was rotated again")
	}
	if _, _, err := a.Rotate(ctx, nu.ID(), -time.Second); !errors.Is(err, ErrInvalidRequest) {
		t.Fatalf("negative overlap: %v", err)
	}
	if a.Counters().KeysRotated.Load() != 1 {
		t.Fatal("rotation not counted")
	}
}

func TestStoreTouch(t *testing.T) {
	s := openStore(t, bustest.StartNATS(t).ClientURL(), StoreConfig{TouchInterval: 300 * time.Millisecond})
	ctx := ctxT(t)
	key, _, err := s.Create(ctx, basicRequest())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Touch(ctx, key.ID()); err != nil {
		t.Fatal(err)
	}
	first, _ := s.Get(key.ID())
	if first.LastUsed.IsZero() {
		t.Fatal("Touch did not write LastUsed")
	}
	_, rev1, _ := s.read(ctx, key.ID())
	for range 20 {
		if err := s.Touch(ctx, key.ID()); err != nil {
			t.Fatal(err)
		}
	}
	_, rev2, _ := s.read(ctx, key.ID())
	if rev2 != rev1 {
		t.Fatalf("Touch wrote %d times within the interval", rev2-rev1)
	}
	testsupport.WaitFor(t, "a second LastUsed write after the interval", 5*time.Second, func() bool {
		if err := s.Touch(ctx, key.ID()); err != nil {
			t.Fatal(err)
		}
		r, _ := s.Get(key.ID())
		return r.LastUsed.After(first.LastUsed)
	})
	if err := s.Touch(ctx, "nosuchkey123"); err != nil {
		t.Fatalf("Touch of an unknown key: %v", err)
	}
}

// Hubs starting at the same time on an empty server create the bucket and
// the signing secret once and agree on it.
func TestStoresOpenedConcurrentlyAgree(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	const n = 4
	jss := make([]jetstream.JetStream, n)
	for i := range jss {
		jss[i] = connectJS(t, url)
	}
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = OpenStore(ctxT(t), jss[i], StoreConfig{}) })
	}
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			t.Cleanup(s.Close)
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("store %d: %v", i, err)
		}
	}
	for _, s := range stores[1:] {
		if string(s.signingSecret()) != string(stores[0].signingSecret()) {
			t.Fatal("concurrently opened stores disagree on the signing secret")
		}
	}
}

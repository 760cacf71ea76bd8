package auth

import (
	"context"
	"errors"
	"hash/crc32"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

var (
	ipInside  = netip.MustParseAddr("10.1.2.3")
	ipOutside = netip.MustParseAddr("192.0.2.7")
)

func basicRequest() CreateRequest {
	return CreateRequest{Name: "agent", Subscribe: []string{"ticks.>"}, Publish: []string{"jobs.acme.>"}}
}

func TestStoreCreateAuthenticate(t *testing.T) {
	s := openStore(t, bustest.StartNATS(t).ClientURL(), StoreConfig{})
	ctx := ctxT(t)
	req := basicRequest()
	req.CIDRs = []string{"10.0.0.0/8", "2001:db8::1/32"}
	req.Limits = Limits{MaxConns: 5}
	key, rec, err := s.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Hash != nil || rec.ID != key.ID() || rec.Env != EnvLive || rec.Created.IsZero() || !rec.Expires.IsZero() {
		t.Fatalf("unexpected record %+v", rec)
	}
	if rec.CIDRs[1] != "2001:db8::/32" {
		t.Fatalf("CIDR not canonical: %q", rec.CIDRs)
	}
	now := time.Now()
	got, err := s.Authenticate(key.Reveal(), ipInside, now)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if got.ID != key.ID() || got.Hash != nil || got.EffectiveLimits().MaxConns != 5 || got.EffectiveLimits().MaxSubsPerConn != DefaultMaxSubsPerConn {
		t.Fatalf("wrong record %+v", got)
	}
	// IPv4-mapped IPv6 of an allowed address is the same address.
	if _, err := s.Authenticate(key.Reveal(), netip.MustParseAddr("::ffff:10.1.2.3"), now); err != nil {
		t.Fatalf("mapped address: %v", err)
	}
	// A key with the right id and checksum but another secret.
	forged := forgeSecret(t, key)
	for _, tc := range []struct {
		name string
		in   string
		ip   netip.Addr
		want error
	}{
		{"wrong CIDR", key.Reveal(), ipOutside, ErrNetwork},
		{"no address", key.Reveal(), netip.Addr{}, ErrNetwork},
		{"typo", key.Reveal()[:20] + "x" + key.Reveal()[21:], ipInside, ErrMalformed},
		{"unknown id", mustNewKey(t).Reveal(), ipInside, ErrUnknown},
		{"wrong secret", forged, ipInside, ErrUnknown},
	} {
		_, err := s.Authenticate(tc.in, tc.ip, now)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
	c := s.Counters().Snapshot()
	if c.AuthOK != 2 || c.Failures["network"] != 2 || c.Failures["malformed"] != 1 ||
		c.Failures["unknown"] != 1 || c.Failures["secret_mismatch"] != 1 || c.KeysCreated != 1 {
		t.Fatalf("counters %+v", c)
	}
	if g, ok := s.Get(key.ID()); !ok || g.Hash != nil || g.Name != "agent" {
		t.Fatalf("Get = %+v %v", g, ok)
	}
	if l := s.List(); len(l) != 1 || l[0].Hash != nil {
		t.Fatalf("List = %+v", l)
	}
}

func mustNewKey(t *testing.T) Key {
	t.Helper()
	k, err := newKey(EnvLive)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// forgeSecret builds a well-formed key with k's id and a different secret.
func forgeSecret(t *testing.T, k Key) string {
	t.Helper()
	other := mustNewKey(t)
	body := keyPrefix + k.Env() + "_" + k.ID() + "_" + other.s().secret
	s := body + encodeBase62(uint64(crc32.ChecksumIEEE([]byte(body))), checksumLen)
	if _, err := ParseKey(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreCreateValidation(t *testing.T) {
	s := openStore(t, bustest.StartNATS(t).ClientURL(), StoreConfig{})
	ctx := ctxT(t)
	for name, mod := range map[string]func(*CreateRequest){
		"no name":         func(r *CreateRequest) { r.Name = "" },
		"control in name": func(r *CreateRequest) { r.Name = "a\nb" },
		"bad env":         func(r *CreateRequest) { r.Env = "prod" },
		"no scopes":       func(r *CreateRequest) { r.Subscribe, r.Publish = nil, nil },
		"bad pattern":     func(r *CreateRequest) { r.Subscribe = []string{"ticks.>.x"} },
		"bad publish":     func(r *CreateRequest) { r.Publish = []string{"jobs..x"} },
		"bad CIDR":        func(r *CreateRequest) { r.CIDRs = []string{"10.0.0.0/33"} },
		"negative TTL":    func(r *CreateRequest) { r.TTL = -time.Second },
		"negative limit":  func(r *CreateRequest) { r.Limits.MaxConns = -1 },
	} {
		req := basicRequest()
		mod(&req)
		if _, _, err := s.Create(ctx, req); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("%s: Create = %v, want ErrInvalidRequest", name, err)
		}
	}
	if len(s.List()) != 0 {
		t.Fatal("an invalid request stored a key")
	}
}

func TestStoreRevokeAndExpire(t *testing.T) {
	s := openStore(t, bustest.StartNATS(t).ClientURL(), StoreConfig{})
	ctx := ctxT(t)
	var mu sync.Mutex
	var changes []Change
	cancel := s.OnChange(func(c Change) {
		mu.Lock()
		changes = append(changes, c)
		mu.Unlock()
	})
	defer cancel()
	seen := func(kind ChangeKind, id string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range changes {
			if c.Kind == kind && c.Record.ID == id {
				return true
			}
		}
		return false
	}

	key, _, err := s.Create(ctx, basicRequest())
	if err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, "created change", 5*time.Second, func() bool { return seen(ChangeCreated, key.ID()) })
	rec, err := s.Revoke(ctx, key.ID())
	if err != nil || !rec.Revoked || rec.RevokedAt.IsZero() {
		t.Fatalf("Revoke = %+v, %v", rec, err)
	}
	// The revoking store refuses at once (it reads its own write).
	if _, err := s.Authenticate(key.Reveal(), ipInside, time.Now()); !errors.Is(err, ErrRevoked) {
		t.Fatalf("after revoke: %v", err)
	}
	testsupport.WaitFor(t, "revoked change", 5*time.Second, func() bool { return seen(ChangeRevoked, key.ID()) })
	if !errors.Is((Change{Kind: ChangeRevoked}).Err(), ErrRevoked) {
		t.Fatal("revoked change does not map to key_revoked")
	}
	if _, err := s.Revoke(ctx, key.ID()); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if s.Counters().KeysRevoked.Load() != 1 {
		t.Fatal("idempotent revoke audited twice")
	}
	if _, err := s.Revoke(ctx, "nosuchkey123"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("revoke unknown: %v", err)
	}

	// Expiry: a 400 ms key works, then the store's timer announces it.
	req := basicRequest()
	req.TTL = 400 * time.Millisecond
	short, srec, err := s.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(short.Reveal(), ipInside, srec.Expires.Add(-time.Millisecond)); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	if _, err := s.Authenticate(short.Reveal(), ipInside, srec.Expires); !errors.Is(err, ErrExpired) {
		t.Fatalf("at expiry: %v", err)
	}
	testsupport.WaitFor(t, "expired change", 5*time.Second, func() bool { return seen(ChangeExpired, short.ID()) })
	if time.Now().Before(srec.Expires) {
		t.Fatal("expiry announced early")
	}
	if !errors.Is((Change{Kind: ChangeExpired}).Err(), ErrExpired) {
		t.Fatal("expired change does not map to key_expired")
	}
	if s.Counters().KeysExpired.Load() != 1 {
		t.Fatalf("KeysExpired = %d", s.Counters().KeysExpired.Load())
	}
	// The revoked key never gets an expiry event, and nothing is announced
	// twice.
	mu.Lock()
	n := 0
	for _, c := range changes {
		if c.Kind == ChangeExpired {
			n++
		}
	}
	mu.Unlock()
	if n != 1 {
		t.Fatalf("%d expired changes, want 1", n)
	}
}

func TestStoreClosedRefuses(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	s := openStore(t, url, StoreConfig{Bucket: "other_bucket"})
	key, _, err := s.Create(ctxT(t), basicRequest())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s.Close() // idempotent
	if _, err := s.Authenticate(key.Reveal(), ipInside, time.Now()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Authenticate after Close: %v", err)
	}
	if _, _, err := s.Create(ctxT(t), basicRequest()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Create after Close: %v", err)
	}
	if s.Bucket() != "other_bucket" {
		t.Fatal("bucket name not kept")
	}
	// The default bucket is another one: the key is unknown there.
	d := openStore(t, url, StoreConfig{})
	if _, err := d.Authenticate(key.Reveal(), ipInside, time.Now()); !errors.Is(err, ErrUnknown) {
		t.Fatalf("key visible in another bucket: %v", err)
	}
}

// Records deleted or corrupted in the bucket by something else are dropped
// and announced as deleted (fail closed).
func TestStoreDeletedAndCorruptRecords(t *testing.T) {
	s := openStore(t, bustest.StartNATS(t).ClientURL(), StoreConfig{})
	ctx := ctxT(t)
	deleted := make(chan string, 4)
	defer s.OnChange(func(c Change) {
		if c.Kind == ChangeDeleted {
			deleted <- c.Record.ID
		}
	})()
	k1, _, err := s.Create(ctx, basicRequest())
	if err != nil {
		t.Fatal(err)
	}
	k2, _, err := s.Create(ctx, basicRequest())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.kv.Purge(ctx, recordPrefix+k1.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.kv.Put(ctx, recordPrefix+k2.ID(), []byte(`{"id":"`+k2.ID()+`","env":"live"}`)); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for len(got) < 2 {
		select {
		case id := <-deleted:
			got[id] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("deleted changes seen: %v", got)
		}
	}
	if !got[k1.ID()] || !got[k2.ID()] || !errors.Is((Change{Kind: ChangeDeleted}).Err(), ErrRevoked) {
		t.Fatalf("wrong deleted changes %v", got)
	}
	for _, k := range []Key{k1, k2} {
		if _, err := s.Authenticate(k.Reveal(), ipInside, time.Now()); !errors.Is(err, ErrUnknown) {
			t.Fatalf("deleted key authenticates: %v", err)
		}
	}
}

// If the NATS connection goes away under the store, it refuses to
// authenticate instead of serving stale data, and Close still returns.
func TestStoreFailsClosedWhenWatchEnds(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	nc, err := nats.Connect(url, nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := OpenStore(ctxT(t), js, StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key, _, err := s.Create(ctxT(t), basicRequest())
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	testsupport.WaitFor(t, "the store to refuse", 5*time.Second, func() bool {
		_, err := s.Authenticate(key.Reveal(), ipInside, time.Now())
		return errors.Is(err, ErrClosed)
	})
	s.Close()
}

func TestOpenStoreContextBoundsOpening(t *testing.T) {
	js := connectJS(t, bustest.StartNATS(t).ClientURL())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := OpenStore(ctx, js, StoreConfig{}); err == nil {
		t.Fatal("OpenStore succeeded with a cancelled context")
	}
	if _, err := OpenStore(ctxT(t), js, StoreConfig{Bucket: "bad bucket"}); err == nil {
		t.Fatal("OpenStore accepted an invalid bucket name")
	}
}

package auth

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// openJournal opens a journal on its own connection, closed at cleanup.
func openJournal(t *testing.T, url string, cfg JournalConfig) (*Journal, jetstream.JetStream) {
	t.Helper()
	js := connectJS(t, url)
	j, err := OpenJournal(ctxT(t), js, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close(context.Background()) })
	return j, js
}

func readAudit(t *testing.T, js jetstream.JetStream, q AuditQuery) []AuditRecord {
	t.Helper()
	recs, err := ReadAudit(ctxT(t), js, q)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func findEvent(recs []AuditRecord, event, keyID string) *AuditRecord {
	for i := range recs {
		if recs[i].Event == event && recs[i].KeyID == keyID {
			return &recs[i]
		}
	}
	return nil
}

// Every key event lands in the stream with who, from where and what
// changed; failures and limit hits are aggregated per key and source; the
// stream never holds a secret; --key and --since select.
func TestJournalRecordsKeyEvents(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	j, js := openJournal(t, url, JournalConfig{Manage: true, Window: time.Hour})
	s := openStore(t, url, StoreConfig{Journal: j})
	src := netip.MustParseAddr("192.0.2.9")
	op := Actor{Kind: ActorCLI, ID: "alice", Host: "ops-1"}
	ctx := WithSource(WithActor(ctxT(t), op), src)

	key, rec, err := s.Create(ctx, basicRequest())
	if err != nil {
		t.Fatal(err)
	}
	nu, nuRec, err := s.Rotate(ctx, rec.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(ctx, nuRec.ID); err != nil {
		t.Fatal(err)
	}
	wrong := key.Reveal()[:len(key.Reveal())-38] + strings.Repeat("A", 38)
	for range 3 {
		_, _ = s.Authenticate(wrong, src, time.Now()) // checksum fails: malformed, with the id
	}
	s.LimitHit("max_conns", rec.ID, src)
	s.LimitHit("max_conns", rec.ID, src)
	j.Close(ctxT(t)) // flushes the window's aggregates

	all := readAudit(t, js, AuditQuery{})
	created := findEvent(all, EventKeyCreated, rec.ID)
	if created == nil || created.Actor != op || created.Source != src.String() ||
		created.Changes["name"] != "agent" || created.Changes["expires"] != "never" {
		t.Fatalf("key_created record wrong: %+v\nall: %+v", created, all)
	}
	if r := findEvent(all, EventKeyRotated, rec.ID); r == nil || r.NewKeyID != nuRec.ID || r.Actor != op {
		t.Fatalf("key_rotated record wrong: %+v", r)
	}
	if r := findEvent(all, EventKeyCreated, nuRec.ID); r == nil || r.Changes["rotated_from"] != rec.ID {
		t.Fatalf("the rotation's new key has no key_created record naming the old one: %+v", r)
	}
	if r := findEvent(all, EventKeyRevoked, nuRec.ID); r == nil || r.Actor != op {
		t.Fatalf("key_revoked record wrong: %+v", r)
	}
	if r := findEvent(all, EventAuthFailed, rec.ID); r == nil || r.Count != 3 || r.Reason != "malformed" ||
		r.Source != src.String() || r.Actor.Kind != ActorHub || r.Since.IsZero() || !r.Until.After(r.Since) {
		t.Fatalf("aggregated auth_failed record wrong: %+v", r)
	}
	if r := findEvent(all, EventLimitHit, rec.ID); r == nil || r.Count != 2 || r.Reason != "max_conns" {
		t.Fatalf("aggregated limit_hit record wrong: %+v", r)
	}

	// The stored bytes never hold a secret or a hash.
	raw := rawStream(t, js)
	for _, k := range []Key{key, nu} {
		if strings.Contains(raw, k.Reveal()) || strings.Contains(raw, k.s().secret) {
			t.Fatal("the audit stream holds a secret")
		}
	}
	if strings.Contains(raw, `"hash"`) {
		t.Fatal("the audit stream holds a hash")
	}

	// --key selects one key's records; --since skips older ones.
	for _, r := range readAudit(t, js, AuditQuery{KeyID: nuRec.ID}) {
		if r.KeyID != nuRec.ID {
			t.Fatalf("query for %s returned %+v", nuRec.ID, r)
		}
	}
	if n := len(readAudit(t, js, AuditQuery{KeyID: nuRec.ID})); n != 2 {
		t.Fatalf("want created and revoked for the new key, got %d records", n)
	}
	if recs := readAudit(t, js, AuditQuery{Since: time.Now().Add(time.Hour)}); len(recs) != 0 {
		t.Fatalf("since the future: %d records", len(recs))
	}
	if recs := readAudit(t, js, AuditQuery{Limit: 2}); len(recs) != 2 || recs[1].Time.Before(recs[0].Time) {
		t.Fatalf("limit 2: %+v", recs)
	}
}

func rawStream(t *testing.T, js jetstream.JetStream) string {
	t.Helper()
	cons, err := js.OrderedConsumer(ctxT(t), DefaultAuditStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(1000)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for m := range batch.Messages() {
		b.Write(m.Data())
	}
	return b.String()
}

// Two hubs both see a key expire; the stream keeps one key_expired record.
func TestJournalExpiryRecordedOnce(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	j1, js := openJournal(t, url, JournalConfig{Manage: true})
	j2, _ := openJournal(t, url, JournalConfig{Manage: true})
	s1 := openStore(t, url, StoreConfig{Journal: j1})
	s2 := openStore(t, url, StoreConfig{Journal: j2})
	req := basicRequest()
	req.TTL = 500 * time.Millisecond
	_, rec, err := s1.Create(ctxT(t), req)
	if err != nil {
		t.Fatal(err)
	}
	testsupport.WaitFor(t, "both hubs saw the expiry", 20*time.Second, func() bool {
		return s1.Counters().KeysExpired.Load() == 1 && s2.Counters().KeysExpired.Load() == 1
	})
	j1.Close(ctxT(t))
	j2.Close(ctxT(t))
	n := 0
	for _, r := range readAudit(t, js, AuditQuery{KeyID: rec.ID}) {
		if r.Event == EventKeyExpired {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d key_expired records, want 1", n)
	}
}

// The aggregation is bounded: past MaxAuditAggregates distinct tuples in a
// window, the rest are counted under key and source "*".
func TestJournalAggregationBounded(t *testing.T) {
	url := bustest.StartNATS(t).ClientURL()
	j, js := openJournal(t, url, JournalConfig{Window: time.Hour})
	const extra = 50
	for i := range MaxAuditAggregates + extra {
		j.Aggregate(EventAuthFailed, "unknown", "", netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	j.Close(ctxT(t))
	recs := readAudit(t, js, AuditQuery{Limit: 2 * MaxAuditAggregates})
	if len(recs) != MaxAuditAggregates+1 {
		t.Fatalf("%d records, want %d", len(recs), MaxAuditAggregates+1)
	}
	var total uint64
	for _, r := range recs {
		total += r.Count
		if r.KeyID == "*" && r.Count != extra {
			t.Fatalf("overflow record counts %d, want %d", r.Count, extra)
		}
	}
	if total != MaxAuditAggregates+extra {
		t.Fatalf("counted %d failures, want %d", total, MaxAuditAggregates+extra)
	}
	if _, err := ReadAudit(ctxT(t), js, AuditQuery{KeyID: "not-an-id"}); err == nil {
		t.Fatal("a malformed key id was accepted")
	}
}

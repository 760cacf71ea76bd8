package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// These tests run whole hubs with authentication on: real embedded NATS,
// real key stores in JetStream KV, real WebSocket and HTTP clients. Each
// checks the answer docs/auth.md and docs/protocol.md document.

// A key scoped to a few subjects is refused every wider pattern and gets
// exactly the in-scope messages among 50 published from outside.
func TestAuthScopesEndToEnd(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	s, _ := e.hub(t, nil)
	scoped, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.coinbase.*", "jobs.acme.>"}})
	wide, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>", "jobs.>", "chain.>"}})

	c := dialKey(t, s, scoped)
	for _, p := range []string{"ticks.>", "ticks.*.BTC-USD", ">", "jobs.globex.>", "jobs.*.j1", "jobs.>",
		"jobs.acme", "ticks.coinbase", "ticks.coinbase.BTC-USD.depth", "chain.eth.block"} {
		c.expectError(protocol.Command{Op: protocol.OpSubscribe, Subjects: []string{p}}, protocol.CodeForbidden)
	}
	// All or nothing: one forbidden pattern refuses the whole command.
	c.expectError(protocol.Command{Op: protocol.OpSubscribe, Subjects: []string{"ticks.coinbase.BTC-USD", "ticks.>"}}, protocol.CodeForbidden)
	c.expectError(protocol.Command{Op: protocol.OpUnsubscribe, Subjects: []string{"ticks.coinbase.BTC-USD"}}, protocol.CodeNotSubscribed)
	// Narrower than the scope is allowed.
	c.subscribe(protocol.Command{}, "ticks.coinbase.BTC-USD", "jobs.acme.j1")
	if m := c.command(protocol.Command{Op: protocol.OpUnsubscribe, Subjects: []string{"ticks.coinbase.BTC-USD", "jobs.acme.j1"}}); m.Op != protocol.OpOK {
		t.Fatalf("unsubscribe: %+v", m)
	}
	c.subscribe(protocol.Command{Policy: protocol.DropOldest}, "ticks.coinbase.*", "jobs.acme.>")

	// A wide client proves the out-of-scope messages did flow through the hub.
	w := dialKey(t, s, wide)
	w.subscribe(protocol.Command{Policy: protocol.DropOldest}, "ticks.>", "jobs.>", "chain.>")
	waitPatterns(t, s, "ticks.coinbase.*", "jobs.acme.>", "ticks.>", "jobs.>", "chain.>")

	var in, out []string
	for i := range 13 {
		in = append(in, "ticks.coinbase.SYM"+strconv.Itoa(i))
	}
	for i := range 12 {
		in = append(in, "jobs.acme.j"+strconv.Itoa(i)+strings.Repeat(".step", i%3))
	}
	for i := range 8 {
		out = append(out, "ticks.binance.SYM"+strconv.Itoa(i), "jobs.globex.j"+strconv.Itoa(i))
	}
	out = append(out, "jobs.acme", "ticks.coinbase", "ticks.coinbase.BTC-USD.depth", "ticks.coinbase.ETH-USD.depth",
		"ticks.coinbase.SOL-USD.book", "chain.eth.block", "chain.eth.transfer", "chain.sol.block", "jobs.acmecorp.j1")
	if len(in) != 25 || len(out) != 25 {
		t.Fatalf("%d in scope, %d out", len(in), len(out))
	}
	nc := natsPublisher(t, s)
	seqOf := map[string]uint64{}
	for i := range 50 {
		subj := in[i/2]
		if i%2 == 1 {
			subj = out[i/2]
		}
		seqOf[subj] = uint64(i + 1)
		m := nats.NewMsg(subj)
		m.Data = []byte(`{"i":` + strconv.Itoa(i) + `}`)
		m.Header.Set("Sh-Epoch", "7")
		m.Header.Set("Sh-Seq", strconv.Itoa(i+1))
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	all := w.events(10*time.Second, func(e []protocol.EventFrame) bool { return len(e) >= 50 })
	if got := subjectsOf(all); len(got) != 50 || len(all) != 50 {
		t.Fatalf("wide client got %d events on %d subjects, want 50 distinct", len(all), len(got))
	}
	got := c.events(10*time.Second, func(e []protocol.EventFrame) bool { return len(e) >= 25 })
	// Everything has reached the hub (the wide client has it all); anything
	// out of scope would be on its way now.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		m, err := c.read(time.Until(deadline))
		if err != nil {
			break
		}
		got = append(got, m.Events...)
	}
	want := map[string]bool{}
	for _, subj := range in {
		want[subj] = true
	}
	for _, ev := range got {
		if !want[ev.Subject] {
			t.Errorf("out-of-scope %s delivered", ev.Subject)
		}
		// Ticks are core NATS: the publisher's numbering is kept. Jobs are
		// stored: they may be numbered by their stream instead.
		if strings.HasPrefix(ev.Subject, "ticks.") && (ev.Epoch != 7 || ev.Seq != seqOf[ev.Subject]) {
			t.Errorf("%s: epoch %d seq %d, want 7 %d", ev.Subject, ev.Epoch, ev.Seq, seqOf[ev.Subject])
		}
	}
	if n := subjectsOf(got); len(n) != 25 || len(got) != 25 {
		t.Fatalf("scoped client got %d events on %d subjects, want the 25 in scope once each", len(got), len(n))
	}
}

// Revoking a key through one hub closes its connections on every hub that
// shares the NATS server within a second, and a hub started afterwards
// refuses it before any upgrade.
func TestAuthRevocationReachesEveryHub(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	a, _ := e.hub(t, nil)
	b, _ := e.hub(t, func(c *Config) { useNATS(c, a.NATSURL(), a.NATSCredentials()) })
	if b.embedded != nil {
		t.Fatal("hub B embeds its own NATS server")
	}
	secret, rec := e.key(t, a, auth.CreateRequest{Subscribe: []string{"ticks.>"}})
	other, _ := e.key(t, a, auth.CreateRequest{Subscribe: []string{"ticks.>"}})
	otherID := strings.Split(other, "_")[2]
	testsupport.WaitFor(t, "hub B to see the keys", 5*time.Second, func() bool {
		_, ok1 := b.auth.store.Get(rec.ID)
		_, ok2 := b.auth.store.Get(otherID)
		return ok1 && ok2
	})

	var watches []<-chan closeEvent
	for _, s := range []*Server{a, a, b, b} {
		c := dialKey(t, s, secret)
		c.subscribe(protocol.Command{}, "ticks.>")
		watches = append(watches, watchClose(c, 10*time.Second))
	}
	bystander := dialKey(t, b, other)

	start := time.Now()
	revoke(t, a, rec.ID)
	for i, w := range watches {
		ev := awaitClose(t, w, protocol.CloseKeyRevoked)
		if d := ev.at.Sub(start); d >= time.Second {
			t.Errorf("connection %d closed %v after the revocation, want < 1 s", i, d)
		}
	}
	bystander.alive() // another key's connection is untouched

	for name, s := range map[string]*Server{"A": a, "B": b} {
		if code, body := upgradeStatus(t, s, authHeader(secret)); code != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
			t.Errorf("hub %s after revocation: %d %q, want 401 revoked", name, code, body)
		}
	}
	c, _ := e.hub(t, func(cfg *Config) { useNATS(cfg, a.NATSURL(), a.NATSCredentials()) })
	if code, body := upgradeStatus(t, c, authHeader(secret)); code != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
		t.Fatalf("hub started after the revocation: %d %q, want 401 revoked", code, body)
	}
	dialKey(t, c, other).alive() // the new hub works, for keys that are valid
}

// Rotation: during the overlap both keys work; after it the old key is
// refused and its connections are closed as expired; the new key works.
func TestAuthRotationWithOverlap(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	s, _ := e.hub(t, nil)
	oldSecret, oldRec := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}})
	before := dialKey(t, s, oldSecret)

	const overlap = 1500 * time.Millisecond
	rotating := time.Now()
	k, newRec, err := s.auth.store.Rotate(ctx10(t), oldRec.ID, overlap)
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	newSecret := e.remember(k.Reveal())
	if newRec.ID == oldRec.ID || newSecret == oldSecret {
		t.Fatal("rotation returned the same key")
	}
	during := dialKey(t, s, oldSecret)
	fresh := dialKey(t, s, newSecret)
	if time.Since(rotating) >= overlap {
		t.Fatalf("connecting took longer than the overlap (%v); cannot test it", time.Since(rotating))
	}
	during.alive()
	fresh.subscribe(protocol.Command{}, "ticks.>")

	for _, c := range []*wsClient{before, during} {
		ev := awaitClose(t, watchClose(c, 10*time.Second), protocol.CloseKeyExpired)
		if ev.at.Before(rotating.Add(overlap)) {
			t.Errorf("old key's connection closed %v after rotation, before the overlap ended", ev.at.Sub(rotating))
		}
	}
	if code, body := upgradeStatus(t, s, authHeader(oldSecret)); code != http.StatusUnauthorized || !strings.Contains(body, "expired") {
		t.Fatalf("old key after the overlap: %d %q, want 401 expired", code, body)
	}
	fresh.alive()
	dialKey(t, s, newSecret).alive()
}

// Connections racing a revocation never outlive it: one authenticated just
// before the revocation but registered just after it is closed too.
func TestAuthRevocationDuringConnects(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	s, _ := e.hub(t, nil)
	secret, rec := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}, Limits: auth.Limits{MaxConns: 1000}})

	var mu sync.Mutex
	var conns []*websocket.Conn
	var errs []string
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 60 { // until refused; bounded
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				conn, resp, err := websocket.Dial(ctx, "ws://"+s.Addr()+"/v1/ws", &websocket.DialOptions{HTTPHeader: authHeader(secret)})
				cancel()
				mu.Lock()
				switch {
				case err == nil:
					conns = append(conns, conn)
				case resp != nil && resp.StatusCode == http.StatusUnauthorized:
					mu.Unlock()
					return // the revocation has reached the store
				default:
					errs = append(errs, err.Error())
				}
				mu.Unlock()
			}
		}()
	}
	testsupport.WaitFor(t, "connections before the revocation", 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(conns) >= 6
	})
	revoke(t, s, rec.ID)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("dial errors: %v", errs)
	}
	watches := make([]<-chan closeEvent, len(conns))
	for i, conn := range conns {
		t.Cleanup(func() { _ = conn.CloseNow() })
		watches[i] = watchClose(&wsClient{conn: conn}, 5*time.Second)
	}
	for i, w := range watches {
		if ev := <-w; ev.code != websocket.StatusCode(protocol.CloseKeyRevoked) {
			t.Errorf("connection %d of %d ended with %d (%v), want %d: it outlived the revocation", i, len(conns), ev.code, ev.err, protocol.CloseKeyRevoked)
		}
	}
}

// No key, secret or token ever reaches a log line, at debug level, through
// every flow: good and bad keys, tokens, refreshes, publishes, rotation,
// revocation, expiry and shutdown. (Every test of this file checks its own
// hubs' logs the same way at cleanup; this one also checks the logs said
// something.)
func TestAuthSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	s, logs := e.hub(t, nil)
	other, _ := e.hub(t, nil)
	secret, rec := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}, Publish: []string{"jobs.acme.>"}})
	doomed, doomedRec := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}})
	short, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}, TTL: 500 * time.Millisecond})
	foreign, _ := e.key(t, other, auth.CreateRequest{Subscribe: []string{"ticks.>"}})
	netKey, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}, CIDRs: []string{"10.0.0.0/8"}})

	// Keys, good and bad, on the upgrade and on the HTTP API.
	first := dialKey(t, s, secret)
	first.subscribe(protocol.Command{}, "ticks.>")
	bad := e.remember(secret[:len(secret)-1] + map[bool]string{true: "B", false: "A"}[secret[len(secret)-1] == 'A'])
	for _, k := range []string{bad, foreign, netKey, "Bearer-ish " + secret} {
		if code, body := upgradeStatus(t, s, authHeader(k)); code == http.StatusSwitchingProtocols || strings.Contains(body, secret[8:]) {
			t.Fatalf("bad credential: %d %q", code, body)
		}
	}
	if status, raw := postAPI(t, s, "/v1/publish", secret, `{"subject":"jobs.acme.j1","data":{"x":1}}`); status != http.StatusOK {
		t.Fatalf("publish: %d %s", status, raw)
	}
	if status, raw := postAPI(t, s, "/v1/publish", bad, `{"subject":"jobs.acme.j1","data":{"x":1}}`); status != http.StatusUnauthorized || strings.Contains(string(raw), bad[8:]) {
		t.Fatalf("publish with a bad key: %d %s", status, raw)
	}

	// Tokens: issued, used, tampered with, refreshed.
	tok := e.token(t, s, secret, "")
	c := dialToken(t, s, tok.Token)
	if m := c.command(protocol.Command{Op: protocol.OpRefresh, Token: e.token(t, s, secret, "").Token}); m.Op != protocol.OpOK {
		t.Fatalf("refresh: %+v", m)
	}
	tampered := e.remember(tok.Token[:len(tok.Token)-2] + "xx")
	m := c.command(protocol.Command{Op: protocol.OpRefresh, Token: tampered})
	if m.Op != protocol.OpError || strings.Contains(m.Message, tampered) {
		t.Fatalf("tampered refresh: %+v", m)
	}
	b := dialBrowser(t, s)
	b.expectError(protocol.Command{Op: protocol.OpAuth, Token: tampered}, protocol.CodeAuthRequired)
	awaitClose(t, watchClose(b, 10*time.Second), protocol.CloseAuthFailed)

	// Rotation, revocation and expiry with live connections.
	k, newRec, err := s.auth.store.Rotate(ctx10(t), rec.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	rotated := dialKey(t, s, e.remember(k.Reveal()))
	rotated.alive()
	d := dialKey(t, s, doomed)
	revoke(t, s, doomedRec.ID)
	awaitClose(t, watchClose(d, 10*time.Second), protocol.CloseKeyRevoked)
	sc := dialKey(t, s, short)
	awaitClose(t, watchClose(sc, 10*time.Second), protocol.CloseKeyExpired)

	// Shut down with a client connected (the shutdown is logged too). The
	// others go away first: nothing reads them, so the hub would wait for
	// their close handshakes.
	_ = first.conn.CloseNow()
	_ = c.conn.CloseNow()
	w := watchClose(rotated, 10*time.Second)
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	awaitClose(t, w, protocol.CloseShutdown)

	// The logs said what happened, as JSON, naming keys by their ids.
	text := logs.String()
	events := map[string]bool{}
	for line := range strings.Lines(text) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %v", err)
		}
		if rec["msg"] == auth.AuditMessage {
			events[fmt.Sprint(rec[auth.AttrEvent])] = true
		}
	}
	for _, ev := range []string{auth.EventKeyCreated, auth.EventKeyRotated, auth.EventKeyRevoked, auth.EventKeyExpired,
		auth.EventAuthFailed, auth.EventTokenIssued, auth.EventTokenRejected} {
		if !events[ev] {
			t.Errorf("no %s audit line in the log", ev)
		}
	}
	for _, id := range []string{rec.ID, newRec.ID, doomedRec.ID} {
		if !strings.Contains(text, id) {
			t.Errorf("key id %s is not in the log", id)
		}
	}
	// The secrets themselves: checked by the env at cleanup; check now too,
	// so that a failure names this test's flows.
	for _, cred := range e.creds {
		for _, f := range fragments(cred) {
			if strings.Contains(text, f) {
				t.Errorf("the log contains a credential (%.16s…)", cred)
			}
		}
	}
}

// NATS's own traffic (key records in $KV, JetStream API replies) never
// reaches clients, not even one subscribed to ">".
func TestNATSInternalSubjectsNeverReachClients(t *testing.T) {
	env := newAuthEnv(t)
	s, _ := env.hub(t, nil)
	secret, _ := env.key(t, s, auth.CreateRequest{Name: "everything", Subscribe: []string{">"}})
	c := dialKey(t, s, secret)
	c.expectError(protocol.Command{Op: protocol.OpSubscribe, Subjects: []string{"$KV.streamhub_keys.>"}}, protocol.CodeInvalidSubject)
	c.subscribe(protocol.Command{Policy: protocol.DropOldest}, ">")
	env.key(t, s, auth.CreateRequest{Name: "another", Subscribe: []string{"ticks.>"}}) // a KV write
	nc := natsPublisher(t, s)
	if err := nc.Publish("ticks.test.marker", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	evs := c.events(5*time.Second, func(e []protocol.EventFrame) bool {
		return slices.ContainsFunc(e, func(ev protocol.EventFrame) bool { return ev.Subject == "ticks.test.marker" })
	})
	for _, ev := range evs {
		if protocol.ReservedSubject(ev.Subject) {
			t.Fatalf("a client received NATS's own %s", ev.Subject)
		}
	}
}

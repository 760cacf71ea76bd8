package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// syncBuffer is a bytes.Buffer safe for the store goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Runs every flow that handles secrets and tokens with logging at debug
// level, then checks that no secret, key, token or hash reached the log,
// and that the audit events are there with their constant keys.
func TestAuditLogNeverLeaks(t *testing.T) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	url := bustest.StartNATS(t).ClientURL()
	s := openStore(t, url, StoreConfig{Logger: log})
	ti := NewTokenIssuer(s, TokenConfig{})
	ctx := ctxT(t)

	var secrets []string // every string that must not appear
	addKey := func(k Key) {
		secrets = append(secrets, k.Reveal(), k.s().secret)
		h := sha256.Sum256([]byte(k.s().secret))
		secrets = append(secrets, hex.EncodeToString(h[:]), base64.StdEncoding.EncodeToString(h[:]))
	}

	req := basicRequest()
	req.CIDRs = []string{"10.0.0.0/8"}
	key, _, err := s.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	addKey(key)
	rec, err := s.Authenticate(key.Reveal(), ipInside, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	log.Info("authenticated", "key", key, "record", rec, "record_value", *rec) // careless logging
	_, _ = s.Authenticate(key.Reveal(), ipOutside, time.Now())
	typo := "Z" // one character changed: the checksum no longer matches
	if key.Reveal()[30] == 'Z' {
		typo = "Y"
	}
	_, _ = s.Authenticate(key.Reveal()[:30]+typo+key.Reveal()[31:], ipInside, time.Now())
	_, _ = s.Authenticate(forgeSecret(t, key), ipInside, time.Now())
	_, _ = s.Authenticate("Bearer "+key.Reveal(), ipInside, time.Now())

	tok, claims, err := ti.Issue(rec, TokenRequest{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, tok, strings.Split(tok, ".")[2])
	log.Info("token", "claims", claims)
	if _, err := ti.Verify(tok, time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err = ti.Verify(tok+"x", time.Now())
	log.Info("verify failed", "error", err)
	_, err = ti.Verify(tok, time.Now().Add(time.Hour))
	log.Info("verify failed", "error", err)
	_, _, err = ti.Issue(rec, TokenRequest{Subscribe: []string{">"}})
	log.Info("issue failed", "error", err)

	nu, _, err := s.Rotate(ctx, key.ID(), 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	addKey(nu)
	if _, err := s.Revoke(ctx, nu.ID()); err != nil {
		t.Fatal(err)
	}
	_, err = s.Authenticate(nu.Reveal(), ipInside, time.Now())
	log.Info("auth failed", "error", err)
	log.Info("list", "keys", s.List())
	for _, r := range s.List() {
		log.Info("list entry", "text", fmt.Sprintf("%+v %#v", r, r))
	}
	testsupport.WaitFor(t, "the old key's expiry event", 5*time.Second, func() bool {
		return strings.Contains(buf.String(), EventKeyExpired)
	})

	out := buf.String()
	for _, sec := range secrets {
		if strings.Contains(out, sec) {
			t.Fatalf("log contains a secret, key, token or hash (%d chars)", len(sec))
		}
	}
	events := map[string]int{}
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad log line: %v", err)
		}
		if m["msg"] != AuditMessage {
			continue
		}
		ev, _ := m[AttrEvent].(string)
		events[ev+"/"+fmt.Sprint(m[AttrReason])]++
		if ev == EventAuthFailed && m[AttrReason] != "malformed" && m[AttrKeyID] != key.ID() && m[AttrKeyID] != nu.ID() {
			t.Errorf("auth failure without the key id: %s", line)
		}
	}
	for _, want := range []string{
		EventKeyCreated + "/<nil>", EventKeyRotated + "/<nil>", EventKeyRevoked + "/<nil>", EventKeyExpired + "/<nil>",
		EventTokenIssued + "/<nil>",
		EventAuthFailed + "/network", EventAuthFailed + "/malformed", EventAuthFailed + "/secret_mismatch",
		EventAuthFailed + "/revoked", EventTokenRejected + "/token_invalid", EventTokenRejected + "/token_expired",
		EventTokenRejected + "/scope",
	} {
		if events[want] == 0 {
			t.Errorf("no audit line %s; have %v", want, events)
		}
	}
	if n := s.Counters().Failures("malformed"); n != 2 {
		t.Errorf("malformed failures %d, want 2", n)
	}
}

func TestAuditFailureLinesRateLimited(t *testing.T) {
	var buf syncBuffer
	a := newAuditor(slog.New(slog.NewJSONHandler(&buf, nil)), nil)
	const n = 500
	for range n {
		a.failure(EventAuthFailed, failUnknown, "", netip.MustParseAddr("192.0.2.1"))
	}
	lines := strings.Count(buf.String(), "\n")
	if lines >= n || lines < auditFailuresBurst {
		t.Fatalf("%d failure lines for %d failures", lines, n)
	}
	if got := a.c.Failures("unknown"); got != n {
		t.Fatalf("counted %d failures, want %d", got, n)
	}
	if a.c.Snapshot().SuppressedLogLines != uint64(n-lines) {
		t.Fatalf("suppressed %d, want %d", a.c.Snapshot().SuppressedLogLines, n-lines)
	}
	if len(FailureReasons()) != int(numFailures) {
		t.Fatal("FailureReasons incomplete")
	}
}

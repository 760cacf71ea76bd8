package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/client"
	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/server"
	"github.com/streamhub/streamhub/internal/server/servertest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// createKey makes an API key in the hub's key store, as `hub keys create`
// does, and returns it in clear.
func createKey(t testing.TB, s *server.Server, subscribe ...string) string {
	t.Helper()
	key, _ := createKeyWith(t, s, auth.CreateRequest{Subscribe: subscribe})
	return key
}

// createKeyWith makes the key req describes (named and in the test
// environment) and returns it in clear with its publish signing secret.
func createKeyWith(t testing.TB, s *server.Server, req auth.CreateRequest) (key, signingSecret string) {
	t.Helper()
	nc := natsConn(t, s)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	store, err := auth.OpenStore(ctx, js, auth.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	req.Name, req.Env = "client-test", auth.EnvTest
	k, rec, err := store.Create(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return k.Reveal(), store.PublishSecret(rec.ID)
}

// dialKey dials with key until the hub's store has seen it (the store
// follows the bucket asynchronously).
func dialKey(t testing.TB, s *server.Server, key string, opts *client.Options) *client.Client {
	t.Helper()
	var c *client.Client
	testsupport.WaitFor(t, "the hub to accept the new key", 10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		c, err = client.Dial(ctx, wsURL(s), key, opts)
		if err != nil && !errors.Is(err, client.ErrUnauthorized) {
			t.Fatalf("dial: %v", err)
		}
		return err == nil
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// tokenProvider fetches browser tokens from the hub with key, as a
// browser's backend would, and counts the calls.
type tokenProvider struct {
	url   string
	key   string
	ttl   int
	calls atomic.Int32
}

func (p *tokenProvider) token(ctx context.Context) (string, error) {
	p.calls.Add(1)
	body := fmt.Sprintf(`{"ttl_seconds":%d}`, p.ttl)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/v1/tokens", strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+p.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token endpoint: HTTP %d", resp.StatusCode)
	}
	var tr struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		return "", err
	}
	return tr.Token, nil
}

// logBuffer collects log output, to check for warnings and secrets.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestAuthWithKeysAndTokens(t *testing.T) {
	s := servertest.Start(t, func(c *server.Config) {
		fastDemo(c)
		c.InsecureNoAuth = false
	})
	key := createKey(t, s, "ticks.>")

	t.Run("bearer key", func(t *testing.T) {
		c := dialKey(t, s, key, nil)
		sub := subscribe(t, c, "ticks.*.BTC-USD", client.SubscribeOptions{})
		collect(t, sub, 1, 5*time.Second)
		var he *client.Error
		if _, err := c.Subscribe(context.Background(), "jobs.acme.>", client.SubscribeOptions{}); !errors.As(err, &he) || he.Code != client.CodeForbidden {
			t.Fatalf("out of scope: %v", err)
		}
	})

	t.Run("refused key", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		bad := key[:len(key)-8] + "AAAAAAAA"
		_, err := client.Dial(ctx, wsURL(s), bad, nil)
		if !errors.Is(err, client.ErrUnauthorized) || strings.Contains(err.Error(), bad) {
			t.Fatalf("bad key: %v", err)
		}
		_, err = client.Dial(ctx, wsURL(s), "", nil)
		if !errors.Is(err, client.ErrAuthRequired) {
			t.Fatalf("no credentials: %v", err)
		}
	})

	t.Run("in-band token refreshed before expiry", func(t *testing.T) {
		// Tokens of 61 s: the client refreshes 60 s ahead, so after 1 s.
		p := &tokenProvider{url: "http://" + s.Addr(), key: key, ttl: 61}
		var logs logBuffer
		var st states
		c := dialKey(t, s, "", &client.Options{TokenProvider: p.token, OnStateChange: st.record,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		sub := subscribe(t, c, "ticks.*.ETH-USD", client.SubscribeOptions{})
		collect(t, sub, 1, 5*time.Second)
		testsupport.WaitFor(t, "a refresh", 10*time.Second, func() bool { return p.calls.Load() >= 2 })
		// The refreshed connection goes on delivering, on the same
		// connection, and nothing about the refresh was a warning.
		collect(t, sub, 3, 5*time.Second)
		if got := st.String(); got != "connected" {
			t.Fatalf("states %q", got)
		}
		if out := logs.String(); strings.Contains(out, "level=WARN") || strings.Contains(out, key) {
			t.Fatalf("logs: %s", out)
		}
		if n := s.Hub().Stats().Disconnects[fanout.ReasonTokenExpired]; n != 0 {
			t.Fatalf("%d token expiries", n)
		}
	})
}

// A token_expiring notice makes the client refresh at once, even when it
// cannot read the token's expiry.
func TestTokenExpiringNoticeRefreshes(t *testing.T) {
	f := newFakeHub(t)
	var n atomic.Int32
	provider := func(context.Context) (string, error) { return fmt.Sprintf("opaque-%d", n.Add(1)), nil }
	h := hello()
	h.AuthRequired = true
	_, fc := dialFake(t, f, &client.Options{TokenProvider: provider}, h, func(fc *fakeConn) {
		cmd := fc.expect(protocol.OpAuth)
		if cmd.Token != "opaque-1" {
			t.Fatalf("auth token %q", cmd.Token)
		}
		fc.ok(cmd)
	})
	fc.send(protocol.EncodeNotice(protocol.EncodingJSON, protocol.NoticeTokenExpiring, "refresh", time.Now().Add(30*time.Second).UnixMilli()))
	cmd := fc.expect(protocol.OpRefresh)
	if cmd.Token != "opaque-2" {
		t.Fatalf("refresh token %q", cmd.Token)
	}
	fc.ok(cmd)
}

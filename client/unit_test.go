package client

import (
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/streamhub/streamhub/internal/protocol"
)

func TestBackoffIsFullJitterWithinCap(t *testing.T) {
	b := Backoff{Base: 250 * time.Millisecond, Cap: 10 * time.Second}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for n, w := range want {
		if got := b.maxWait(n); got != w {
			t.Fatalf("maxWait(%d) = %v, want %v", n, got, w)
		}
	}
	if got := b.maxWait(1 << 20); got != b.Cap {
		t.Fatalf("maxWait of a huge attempt = %v", got)
	}
	// Full jitter: waits spread over [0, max], not bunched near max.
	var below, above int
	for range 2000 {
		w := b.wait(3)
		if w < 0 || w > 2*time.Second {
			t.Fatalf("wait(3) = %v, outside [0, 2s]", w)
		}
		if w < time.Second/2 {
			below++
		}
		if w > 3*time.Second/2 {
			above++
		}
	}
	if below < 200 || above < 200 {
		t.Fatalf("waits not spread: %d below 0.5s, %d above 1.5s of 2000", below, above)
	}
}

func TestOptionDefaults(t *testing.T) {
	o := (*Options)(nil).withDefaults()
	if o.Backoff != (Backoff{DefaultBackoffBase, DefaultBackoffCap}) || o.DialTimeout != DefaultDialTimeout ||
		o.ReadLimit != DefaultReadLimit || o.WriteTimeout != DefaultWriteTimeout || o.Logger == nil {
		t.Fatalf("defaults %+v", o)
	}
	if o.Encoding.wire() != protocol.EncodingMsgpack || EncodingJSON.wire() != protocol.EncodingJSON {
		t.Fatal("msgpack must be the default encoding")
	}
	for p, w := range map[Policy]protocol.Policy{PolicyDefault: protocol.PolicyDefault, PolicyKeepLatest: protocol.KeepLatest,
		PolicyDropOldest: protocol.DropOldest, PolicyDisconnect: protocol.Disconnect} {
		if p.wire() != w || p.String() != w.String() {
			t.Fatalf("policy %d maps to %v", p, p.wire())
		}
	}
}

func jwtWith(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

func TestTokenExpiry(t *testing.T) {
	exp, ok := tokenExpiry(jwtWith(`{"exp":1732712345,"key":"k"}`))
	if !ok || !exp.Equal(time.Unix(1732712345, 0)) {
		t.Fatalf("exp %v %v", exp, ok)
	}
	for _, bad := range []string{"", "opaque", "a.b", jwtWith(`{"key":"k"}`), jwtWith(`{"exp":"soon"}`), jwtWith(`{"exp":-1}`), "a.!!!.c"} {
		if _, ok := tokenExpiry(bad); ok {
			t.Fatalf("tokenExpiry(%q) ok", bad)
		}
	}
	now := time.Unix(1000, 0)
	if d := refreshDelay(now.Add(5*time.Minute), now, time.Second); d != 4*time.Minute {
		t.Fatalf("refresh of a 5 min token after %v", d)
	}
	if d := refreshDelay(now.Add(10*time.Second), now, time.Second); d != time.Second {
		t.Fatalf("refresh of an almost expired token after %v", d)
	}
}

func TestCloseCodesDecideReconnect(t *testing.T) {
	for code, want := range map[int]bool{1000: false, 1001: true, 1006: true, 1009: false, 4000: true, 4001: true,
		4004: true, 4499: true, 4500: false, 4502: false, 4504: false, 4507: false} {
		err := fmt.Errorf("read: %w", websocket.CloseError{Code: websocket.StatusCode(code)})
		if got := closeCode(err).Reconnect(); got != want {
			t.Errorf("code %d: reconnect %v, want %v", code, got, want)
		}
	}
	if closeCode(errHeartbeatTimeout) != 1006 || !closeCode(errHeartbeatTimeout).Reconnect() {
		t.Fatal("a lost connection must count as 1006 and reconnect")
	}
	if got := (&CloseError{Code: 4504, Reason: "key_revoked"}).Error(); got != "client: connection closed with 4504 (key_revoked): key_revoked" {
		t.Fatalf("CloseError text %q", got)
	}
}

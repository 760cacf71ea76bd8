package server

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/internal/protocol"
)

// Every kind of bad input gets its documented answer, and the connection
// stays usable where the protocol says it does.
func TestBadInputGetsDocumentedAnswers(t *testing.T) {
	s := startHub(t, func(c *Config) { c.Fanout.MaxSubscriptions = 2 })
	c := dial(t, s, "")
	expectError := func(frame string, code protocol.ErrorCode) {
		t.Helper()
		c.write([]byte(frame))
		m := c.next(5 * time.Second)
		if m.Op != protocol.OpError || m.Code != code {
			t.Fatalf("%s: got %s %s %q, want error %s", frame, m.Op, m.Code, m.Message, code)
		}
	}
	expectError(`{"op":"subscribe","id":1,"subjects":["ticks.>"`, protocol.CodeBadRequest)
	expectError(`not json at all`, protocol.CodeBadRequest)
	expectError(`{"op":"teleport","id":2}`, protocol.CodeUnknownOp)
	expectError(`{"op":"subscribe","id":3,"subjects":["ticks..BTC"]}`, protocol.CodeInvalidSubject)
	expectError(`{"op":"subscribe","id":4,"subjects":["`+strings.Repeat("a.", 130)+`a"]}`, protocol.CodeInvalidSubject)
	expectError(`{"op":"subscribe","id":5,"subjects":["ticks.>"],"policy":"drop-newest"}`, protocol.CodeInvalidOption)
	expectError(`{"op":"subscribe","id":6,"subjects":["ticks.>"],"policy":"drop-oldest","max_rate":5}`, protocol.CodeInvalidOption)
	expectError(`{"op":"unsubscribe","id":7,"subjects":["never.subscribed"]}`, protocol.CodeNotSubscribed)
	c.subscribe(protocol.Command{}, "a.>", "b.>")
	expectError(`{"op":"subscribe","id":8,"subjects":["c.>"]}`, protocol.CodeTooManySubscriptions)

	// A binary frame on the JSON subprotocol.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageBinary, []byte{0x81, 0xa2, 'o', 'p'}); err != nil {
		t.Fatal(err)
	}
	if m := c.next(5 * time.Second); m.Op != protocol.OpError || m.Code != protocol.CodeUnsupportedFrame {
		t.Fatalf("binary frame: got %+v", m)
	}

	// After all that, the connection still works.
	id := c.send(protocol.Command{Op: protocol.OpPing})
	if m := c.answer(id); m.Op != protocol.OpPong {
		t.Fatalf("ping after errors: %+v", m)
	}

	// A frame over the read limit closes with 1009.
	c.write([]byte(`{"op":"subscribe","subjects":["` + strings.Repeat("x", 8<<10) + `"]}`))
	if code := c.closeStatus(5 * time.Second); code != websocket.StatusMessageTooBig {
		t.Fatalf("oversized frame: close %d, want 1009", code)
	}
}

func TestMsgpackClientGetsMsgpackAnswers(t *testing.T) {
	s := startHub(t, nil)
	c := dial(t, s, protocol.SubprotocolMsgpack)
	if c.hello.Encoding != "msgpack" {
		t.Fatalf("hello encoding %q", c.hello.Encoding)
	}
	// A text frame on the msgpack subprotocol is refused, not misread.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(`{"op":"ping"}`)); err != nil {
		t.Fatal(err)
	}
	if m := c.next(5 * time.Second); m.Op != protocol.OpError || m.Code != protocol.CodeUnsupportedFrame {
		t.Fatalf("text frame on msgpack: %+v", m)
	}
	// The classic bomb: an array32 that declares four billion subjects.
	c.write([]byte{0x82, 0xa2, 'o', 'p', 0xa9, 's', 'u', 'b', 's', 'c', 'r', 'i', 'b', 'e', 0xa8, 's', 'u', 'b', 'j', 'e', 'c', 't', 's', 0xdd, 0xff, 0xff, 0xff, 0xff})
	if m := c.next(5 * time.Second); m.Op != protocol.OpError || m.Code != protocol.CodeBadRequest {
		t.Fatalf("msgpack bomb: %+v", m)
	}
	c.subscribe(protocol.Command{}, "ticks.>")
}

func TestSilentClientIsClosedByHeartbeat(t *testing.T) {
	s := startHub(t, func(c *Config) { c.Gateway.Heartbeat = 200 * time.Millisecond })
	c := dialRaw(t, s, "", nil)
	// Read without ever answering pings.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	pings := 0
	for err == nil {
		var frame []byte
		_, frame, err = c.conn.Read(ctx)
		if m, _ := protocol.DecodeServer(c.enc, frame); m.Op == protocol.OpPing {
			pings++
		}
	}
	if code := websocket.CloseStatus(err); code != websocket.StatusCode(protocol.CloseHeartbeatTimeout) {
		t.Fatalf("close %d (%v), want %d", code, err, protocol.CloseHeartbeatTimeout)
	}
	if pings == 0 {
		t.Fatal("closed without being pinged first")
	}

	// A client that answers stays connected.
	live := dial(t, s, "")
	live.subscribe(protocol.Command{}, "ticks.>")
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if _, err := live.read(time.Until(deadline)); err != nil && websocket.CloseStatus(err) != -1 {
			t.Fatalf("answering client closed: %v", err)
		}
	}
}

// Browser origins: the hub's public origins and the configured ones, exactly.
func TestOriginAllowlist(t *testing.T) {
	s := startHub(t, func(c *Config) { c.Gateway.AllowedOrigins = []string{"https://app.example"} })
	for origin, want := range map[string]int{
		"":                         http.StatusSwitchingProtocols, // an agent, not a browser
		"http://" + s.Addr():       http.StatusSwitchingProtocols, // the hub's own dashboard
		"https://app.example":      http.StatusSwitchingProtocols,
		"https://app.example:443":  http.StatusSwitchingProtocols,
		"http://app.example":       http.StatusForbidden, // another scheme is another origin
		"https://app.example.evil": http.StatusForbidden,
		"https://evil.example":     http.StatusForbidden,
		"null":                     http.StatusForbidden,
	} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		if got, _ := upgradeStatus(t, s, h); got != want {
			t.Errorf("Origin %q: status %d, want %d", origin, got, want)
		}
	}
}

// The hub's own origin is its configured public origin (by default the
// loopback http origins of its port), compared by scheme, host and port;
// the Host header is not trusted.
func TestOriginMustBeAPublicOrigin(t *testing.T) {
	t.Parallel()
	s := startHub(t, nil)
	_, port, _ := net.SplitHostPort(s.Addr())
	for _, tc := range []struct {
		host, origin string
		want         int
	}{
		{"", "http://127.0.0.1:" + port, http.StatusSwitchingProtocols},
		{"localhost:" + port, "http://localhost:" + port, http.StatusSwitchingProtocols},
		{"", "https://127.0.0.1:" + port, http.StatusForbidden}, // https on an http hub
		{"", "http://127.0.0.1:1", http.StatusForbidden},
		// DNS rebinding: a page on a name the attacker points at the hub
		// sends a Host and an Origin that agree with each other.
		{"rebound.example:" + port, "http://rebound.example:" + port, http.StatusForbidden},
		{"rebound.example", "http://rebound.example", http.StatusForbidden},
	} {
		if got, body := upgradeStatusHost(t, s, tc.host, http.Header{"Origin": {tc.origin}}); got != tc.want {
			t.Errorf("Host %q, Origin %q: %d %q, want %d", tc.host, tc.origin, got, body, tc.want)
		}
	}

	configured := startHub(t, func(c *Config) { c.PublicOrigins = []string{"https://hub.example.com"} })
	for origin, want := range map[string]int{
		"https://hub.example.com":         http.StatusSwitchingProtocols,
		"http://hub.example.com":          http.StatusForbidden,
		"http://" + configured.Addr():     http.StatusForbidden, // the default is replaced, not extended
		"https://hub.example.com.evil.io": http.StatusForbidden,
	} {
		if got, body := upgradeStatusHost(t, configured, "hub.example.com", http.Header{"Origin": {origin}}); got != want {
			t.Errorf("configured public origin, Origin %q: %d %q, want %d", origin, got, body, want)
		}
	}
	if _, err := Start(context.Background(), Config{PublicOrigins: []string{"hub.example.com"}}); err == nil || !strings.Contains(err.Error(), "public origin") {
		t.Fatalf("a public origin without scheme: %v, want a configuration error", err)
	}
}

package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/upstream"
)

// startHub starts a whole hub in-process: an embedded nats-server on a
// random loopback port, the HTTP listener on another. mutate adjusts the
// configuration first.
func startHub(t testing.TB, mutate func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		Listen:     "127.0.0.1:0",
		NATSListen: "127.0.0.1:-1",
		DataDir:    t.TempDir(),
		// Most tests are about delivery; the auth tests turn this off.
		InsecureNoAuth: true,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start hub: %v", err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := s.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

// fastDemo makes the demo feeds quick enough for tests.
func fastDemo(c *Config) {
	c.Demo = true
	c.DemoConfig = upstream.Config{TickInterval: 20 * time.Millisecond, BlockInterval: 200 * time.Millisecond, JobStepInterval: 30 * time.Millisecond, Seed: 7}
}

// wsClient is a minimal protocol v1 client for tests, over a real
// WebSocket connection.
type wsClient struct {
	t      testing.TB
	conn   *websocket.Conn
	enc    protocol.Encoding
	hello  protocol.Hello
	nextID uint64
	// pending holds frames read while waiting for something else.
	pending []protocol.ServerMessage
}

func dial(t testing.TB, s *Server, subprotocol string) *wsClient {
	t.Helper()
	c := dialRaw(t, s, subprotocol, nil)
	m := c.next(5 * time.Second)
	if m.Op != protocol.OpHello {
		t.Fatalf("first frame is %q, want hello", m.Op)
	}
	c.hello = m.Hello
	return c
}

func dialRaw(t testing.TB, s *Server, subprotocol string, header http.Header) *wsClient {
	t.Helper()
	c, err := dialConn(t, s, subprotocol, &websocket.DialOptions{HTTPHeader: header})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.conn.CloseNow() })
	return c
}

// dialConn opens a connection without reading hello and without failing
// the test, so that goroutines other than the test's may use it; the caller
// closes it.
func dialConn(t testing.TB, s *Server, subprotocol string, opts *websocket.DialOptions) (*wsClient, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if subprotocol != "" {
		opts.Subprotocols = []string{subprotocol}
	}
	scheme := "ws"
	if s.cfg.TLSCertFile != "" {
		scheme = "wss" // opts.HTTPClient trusts the hub's certificate
	}
	conn, _, err := websocket.Dial(ctx, scheme+"://"+s.Addr()+"/v1/ws", opts)
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(8 << 20)
	enc, _ := protocol.EncodingForSubprotocol(conn.Subprotocol())
	return &wsClient{t: t, conn: conn, enc: enc}, nil
}

// send writes a raw command frame in the connection's encoding.
func (c *wsClient) send(cmd protocol.Command) uint64 {
	c.t.Helper()
	id, err := c.trySend(cmd)
	if err != nil {
		c.t.Fatalf("send %v: %v", cmd.Op, err)
	}
	return id
}

// trySend is send for goroutines other than the test's: it returns the
// error instead of failing the test.
func (c *wsClient) trySend(cmd protocol.Command) (uint64, error) {
	c.nextID++
	cmd.ID, cmd.HasID = c.nextID, true
	frame, err := protocol.EncodeCommand(c.enc, cmd)
	if err != nil {
		return 0, err
	}
	return cmd.ID, c.tryWrite(frame)
}

func (c *wsClient) write(frame []byte) {
	c.t.Helper()
	if err := c.tryWrite(frame); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) tryWrite(frame []byte) error {
	typ := websocket.MessageText
	if c.enc == protocol.EncodingMsgpack {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.conn.Write(ctx, typ, frame)
}

// next reads the next server message (answering pings as a live client
// would), failing the test on timeout.
func (c *wsClient) next(timeout time.Duration) protocol.ServerMessage {
	c.t.Helper()
	m, err := c.read(timeout)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *wsClient) read(timeout time.Duration) (protocol.ServerMessage, error) {
	if len(c.pending) > 0 {
		m := c.pending[0]
		c.pending = c.pending[1:]
		return m, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		_, frame, err := c.conn.Read(ctx)
		if err != nil {
			return protocol.ServerMessage{}, err
		}
		m, err := protocol.DecodeServer(c.enc, frame)
		if err != nil {
			return protocol.ServerMessage{}, fmt.Errorf("decode %q: %w", frame, err)
		}
		if m.Op == protocol.OpPing {
			// A pong that cannot be written shows as the next read's error.
			pong, _ := protocol.EncodeCommand(c.enc, protocol.Command{Op: protocol.OpPong})
			_ = c.tryWrite(pong)
			continue
		}
		return m, nil
	}
}

// answer waits for the ok or error answering command id, keeping events
// that arrive meanwhile for later reads.
func (c *wsClient) answer(id uint64) protocol.ServerMessage {
	c.t.Helper()
	var kept []protocol.ServerMessage
	defer func() { c.pending = append(kept, c.pending...) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := c.read(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("waiting for the answer to %d: %v", id, err)
		}
		if (m.Op == protocol.OpOK || m.Op == protocol.OpError || m.Op == protocol.OpPong) && m.HasID && m.ID == id {
			return m
		}
		kept = append(kept, m)
	}
}

func (c *wsClient) subscribe(opts protocol.Command, subjects ...string) {
	c.t.Helper()
	opts.Op, opts.Subjects = protocol.OpSubscribe, subjects
	if m := c.answer(c.send(opts)); m.Op != protocol.OpOK {
		c.t.Fatalf("subscribe %v: %s %s", subjects, m.Code, m.Message)
	}
}

// events reads batches until pred is satisfied by the events seen so far
// or the timeout passes; it returns them all.
func (c *wsClient) events(timeout time.Duration, pred func([]protocol.EventFrame) bool) []protocol.EventFrame {
	c.t.Helper()
	var evs []protocol.EventFrame
	deadline := time.Now().Add(timeout)
	for !pred(evs) {
		if time.Now().After(deadline) {
			c.t.Fatalf("after %v: condition not met with %d events", timeout, len(evs))
		}
		m, err := c.read(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("after %d events: %v", len(evs), err)
		}
		if m.Op == protocol.OpBatch {
			evs = append(evs, m.Events...)
		}
	}
	return evs
}

// closeStatus reads until the connection closes and returns its close code.
func (c *wsClient) closeStatus(timeout time.Duration) websocket.StatusCode {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.read(time.Until(deadline))
		if err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

func dataField(t testing.TB, ev protocol.EventFrame, enc protocol.Encoding, field string) string {
	t.Helper()
	raw, err := ev.DataJSON(enc)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(m[field])
}

func subjectsOf(evs []protocol.EventFrame) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		out[e.Subject]++
	}
	return out
}

func allHavePrefix(evs []protocol.EventFrame, prefix string) bool {
	for _, e := range evs {
		if !strings.HasPrefix(e.Subject, prefix) {
			return false
		}
	}
	return true
}

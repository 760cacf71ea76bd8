// Package venuetest runs fake exchange venues on loopback for tests: a
// WebSocket server whose connections the test drives frame by frame, and
// builders of frames in each venue's documented shapes. Only tests import
// it.
package venuetest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Server is a fake venue. Every WebSocket connection it accepts is handed
// to the test through Next; the handler holds the connection open until
// the test closes it or the server closes.
type Server struct {
	srv   *httptest.Server
	conns chan *Conn
	mu    sync.Mutex
	paths []string // request URIs of the upgrades, in order
	done  chan struct{}
	wg    sync.WaitGroup
}

// NewServer starts a fake venue on a random loopback port; it is closed
// when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	s := &Server{conns: make(chan *Conn, 16), done: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// URL returns the ws:// URL of the server with path appended.
func (s *Server) URL(path string) string {
	return "ws" + strings.TrimPrefix(s.srv.URL, "http") + path
}

// Paths returns the request URIs of every connection so far.
func (s *Server) Paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.paths...)
}

// Close closes every connection and the server. Safe to call twice.
func (s *Server) Close() {
	select {
	case <-s.done:
		return
	default:
	}
	close(s.done)
	s.srv.CloseClientConnections()
	s.srv.Close()
	s.wg.Wait()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	s.mu.Lock()
	s.paths = append(s.paths, r.URL.RequestURI())
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	conn := &Conn{c: c, ctx: ctx, closed: make(chan struct{})}
	defer cancel()
	select {
	case s.conns <- conn:
	case <-s.done:
		c.CloseNow()
		return
	}
	select {
	case <-conn.closed:
	case <-s.done:
	}
	c.CloseNow()
}

// Next returns the next connection the server accepted, waiting up to
// timeout.
func (s *Server) Next(t testing.TB, timeout time.Duration) *Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(timeout):
		t.Fatalf("fake venue: no connection within %v", timeout)
		return nil
	}
}

// Conns delivers the connections the server accepts, for a test that
// serves each on its own goroutine (see ServeCoinbase).
func (s *Server) Conns() <-chan *Conn { return s.conns }

// Conn is one accepted connection. Its methods may be called from one
// goroutine at a time, except Close, which may be called at any time.
type Conn struct {
	c      *websocket.Conn
	ctx    context.Context
	once   sync.Once
	closed chan struct{}
}

// Read returns the next frame the client sent, waiting up to timeout.
func (c *Conn) Read(timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	_, b, err := c.c.Read(ctx)
	return b, err
}

// ReadJSON reads the next frame into v; the test fails if there is none or
// it is not JSON.
func (c *Conn) ReadJSON(t testing.TB, v any) {
	t.Helper()
	b, err := c.Read(10 * time.Second)
	if err != nil {
		t.Fatalf("fake venue: read: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("fake venue: client sent %q: %v", b, err)
	}
}

// Send writes one text frame; s may be a string, []byte or a value
// encoded as JSON.
func (c *Conn) Send(s any) error {
	var b []byte
	switch v := s.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	return c.c.Write(ctx, websocket.MessageText, b)
}

// MustSend is Send that fails the test on an error.
func (c *Conn) MustSend(t testing.TB, s any) {
	t.Helper()
	if err := c.Send(s); err != nil {
		t.Fatalf("fake venue: send: %v", err)
	}
}

// Close drops the connection without a close handshake, as a venue's
// restart or a network failure would.
func (c *Conn) Close() { c.once.Do(func() { close(c.closed) }) }

// Ping sends a WebSocket ping and waits up to timeout for the pong, which
// needs the client to be reading.
func (c *Conn) Ping(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	return c.c.Ping(ctx)
}

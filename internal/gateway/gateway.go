package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/protocol"
)

// Config configures a Gateway. The zero value of every field means the
// default documented on it.
type Config struct {
	// ReadLimit is the largest client frame accepted, in bytes; a larger
	// one closes the connection with 1009. Clients only send commands.
	// Default 4096.
	ReadLimit int64
	// Heartbeat is the server ping interval; a client that sends nothing
	// for twice as long is closed with heartbeat_timeout. Default 15 s.
	Heartbeat time.Duration
	// ControlWriteTimeout bounds writing hello, answers and pings.
	// Default 5 s.
	ControlWriteTimeout time.Duration
	// SendBuffer is each connection's kernel send buffer (SO_SNDBUF), in
	// bytes. The kernel's own default grows to several MiB per socket: a
	// queue outside the hub's bounds that hides a slow client for seconds,
	// delays its close frame behind stale data and costs memory. Default
	// 256 KiB, enough for a full batch; negative leaves the kernel's.
	SendBuffer int
	// Compression offers permessage-deflate to WebSocket clients that ask
	// for it, without context takeover: each message is compressed on its
	// own with a flate writer from a pool, so an idle connection holds no
	// compressor (with context takeover each would keep a 1.2 MB writer
	// and a 32 KiB window). Every connection compresses its own batches:
	// coder/websocket cannot write a frame compressed elsewhere (see
	// docs/PERFORMANCE.md). Default off.
	Compression bool
	// CompressionThreshold is the smallest message compressed, in bytes;
	// smaller ones go out as they are, since deflate would cost more CPU
	// than the bytes it saves. Default 512.
	CompressionThreshold int
	// PublicOrigins are the hub's own origins, "scheme://host[:port]",
	// where browsers load its dashboard from; they may always connect.
	// They are compared with the Origin header by scheme, host and port;
	// the request's Host header is never trusted. Default none.
	PublicOrigins []string
	// AllowedOrigins lists the browser origins, besides PublicOrigins,
	// that may open connections: exact "scheme://host[:port]" entries, or
	// "*" for any (see auth.OriginAllowed). Default none. Connections
	// without an Origin header (agents) are not affected by either list.
	AllowedOrigins []string
	// CommandsPerSecond and CommandsBurst bound each connection's commands
	// (a token bucket) when its credentials set no limit. Defaults 20 and 40.
	CommandsPerSecond float64
	CommandsBurst     int
	// MaxRejectedCommands closes a connection with limit_exceeded after
	// this many consecutive rate-limited commands. Default 100.
	MaxRejectedCommands int
	// Auth authenticates connections. Nil means no authentication: every
	// connection may subscribe to anything (local development only).
	Auth Authenticator
	// Upstream tells when a subscribed pattern is flowing from NATS. A
	// subscribe is answered only once it is, so that every message
	// published after the answer is delivered. Nil means at once.
	Upstream Upstream
	// History serves snapshots and resumes. Nil means neither is offered:
	// a subscribe asking for them gets live messages only.
	History History
	// ResumeWindow is how far back a resume can reach, announced in hello.
	ResumeWindow time.Duration
	// Logger receives connection-level events, never per-message ones.
	// Nil discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.ReadLimit <= 0 {
		c.ReadLimit = 4096
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 15 * time.Second
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = 256 << 10
	}
	if c.CompressionThreshold <= 0 {
		c.CompressionThreshold = 512
	}
	if c.ControlWriteTimeout <= 0 {
		c.ControlWriteTimeout = 5 * time.Second
	}
	if c.CommandsPerSecond <= 0 {
		c.CommandsPerSecond = 20
	}
	if c.CommandsBurst <= 0 {
		c.CommandsBurst = 40
	}
	if c.MaxRejectedCommands <= 0 {
		c.MaxRejectedCommands = 100
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Gateway serves WebSocket clients on top of a fanout.Hub. It is an
// http.Handler for /v1/ws. All methods are safe for concurrent use.
type Gateway struct {
	hub *fanout.Hub
	cfg Config
	log *slog.Logger

	mu       sync.Mutex // guards draining and Add on conns
	draining bool
	conns    sync.WaitGroup

	sessions   sessionIndex
	heartbeats heartbeats
	counters   Counters
}

// New returns a Gateway that delivers through hub.
func New(hub *fanout.Hub, cfg Config) *Gateway {
	cfg = cfg.withDefaults()
	g := &Gateway{hub: hub, cfg: cfg, log: cfg.Logger}
	g.heartbeats.interval = cfg.Heartbeat
	return g
}

// Counters returns the gateway's counters, for metrics.
func (g *Gateway) Counters() *Counters { return &g.counters }

// Draining reports whether Shutdown has begun.
func (g *Gateway) Draining() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.draining
}

// admit counts a new connection request in (the caller then owes
// g.conns.Done) unless the gateway is draining or the browser origin is
// not allowed, which it answers with an HTTP error and reports false.
func (g *Gateway) admit(w http.ResponseWriter, r *http.Request) bool {
	g.mu.Lock()
	if g.draining {
		g.mu.Unlock()
		g.counters.Rejected.Add(1)
		protocol.WriteHTTPError(w, http.StatusServiceUnavailable, protocol.CodeInternal, "shutting down; reconnect to another instance")
		return false
	}
	g.conns.Add(1)
	g.mu.Unlock()
	if origin := r.Header.Get("Origin"); !auth.OriginAllowed(origin, g.cfg.PublicOrigins, g.cfg.AllowedOrigins) {
		g.conns.Done()
		g.counters.Rejected.Add(1)
		protocol.WriteHTTPError(w, http.StatusForbidden, protocol.CodeForbidden, "origin not allowed")
		return false
	}
	return true
}

// ServeHTTP upgrades the request to a WebSocket connection and serves it,
// on a goroutine of its own, until it ends.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.admit(w, r) {
		return
	}
	defer g.conns.Done()
	id, err := g.preAuthenticate(r)
	if err != nil {
		g.counters.Rejected.Add(1)
		writeHTTPError(w, err)
		return
	}
	pw := &progressWriter{ResponseWriter: w, sendBuffer: g.cfg.SendBuffer}
	opts := &websocket.AcceptOptions{
		Subprotocols: protocol.Subprotocols(),
		// The origin was checked above, with exact origins rather than
		// coder/websocket's host globs.
		InsecureSkipVerify: true,
	}
	if g.cfg.Compression {
		opts.CompressionMode = websocket.CompressionNoContextTakeover
		opts.CompressionThreshold = g.cfg.CompressionThreshold
	}
	conn, err := websocket.Accept(pw, r, opts)
	if err != nil {
		g.counters.Rejected.Add(1)
		g.log.Debug("upgrade refused", "remote", r.RemoteAddr, "err", err)
		release(id) // no session will: give back the key's connection slot
		return      // Accept has answered
	}
	enc, ok := protocol.EncodingForSubprotocol(conn.Subprotocol())
	if !ok {
		release(id)
		_ = conn.Close(websocket.StatusCode(protocol.CloseProtocolError), "unsupported subprotocol")
		return
	}
	conn.SetReadLimit(g.cfg.ReadLimit)
	s := newSession(g, r, conn, enc, id)
	g.counters.Accepted.Add(1)
	g.counters.Open.Add(1)
	// The connection is hijacked: serve it on a goroutine of its own and
	// return, so that the HTTP server's goroutine, its stack grown by
	// reading the request and the upgrade, is not kept for the connection's
	// lifetime (memory per idle connection).
	g.conns.Add(1)
	go func() {
		defer g.conns.Done()
		defer g.counters.Open.Add(-1)
		s.serve(&wsSink{conn: conn, enc: enc, msgType: s.msgType, latency: &g.counters.DeliveryLatency, progress: pw.conn, sid: s.sid}, s.readLoop)
	}()
}

// Shutdown stops accepting connections and closes every client with the
// shutdown reason (close code 4000: reconnect elsewhere), then waits for
// the connections to end or ctx to expire.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.draining = true
	g.mu.Unlock()
	g.hub.Close()
	g.sessions.closeAll(fanout.ReasonShutdown) // those not registered yet
	done := make(chan struct{})
	go func() {
		g.conns.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		g.sessions.closeNow()
		<-done
		return fmt.Errorf("gateway: shutdown: %w", ctx.Err())
	}
}

// Counters are the gateway's own counters; delivery counters live in the
// fanout hub.
type Counters struct {
	Accepted atomic.Uint64 // connections upgraded
	Rejected atomic.Uint64 // requests refused before or at the upgrade
	Open     atomic.Int64  // connections being served now
	Commands atomic.Uint64 // commands received
	Errors   errorCounts   // error answers by code
	// DeliveryLatency is the ingest-to-write latency of written batches.
	DeliveryLatency LatencyHistogram
}

type errorCounts struct {
	mu sync.Mutex
	m  map[protocol.ErrorCode]uint64
}

func (e *errorCounts) add(code protocol.ErrorCode) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = make(map[protocol.ErrorCode]uint64)
	}
	e.m[code]++
}

// Snapshot returns the error answers sent so far, by code.
func (e *errorCounts) Snapshot() map[protocol.ErrorCode]uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[protocol.ErrorCode]uint64, len(e.m))
	for k, v := range e.m {
		out[k] = v
	}
	return out
}

func newSessionID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return "s_" + hex.EncodeToString(b[:])
}

// isNormalClose reports whether err is how a connection normally ends.
func isNormalClose(err error) bool {
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway:
		return true
	}
	return errors.Is(err, context.Canceled)
}

// Notify sends the notice code, with message, to every connection that has
// at least one subscription, and returns how many it addressed. Each
// connection's notice is written by a goroutine of its own, bounded by
// ControlWriteTimeout, so a slow client delays no other; Shutdown waits for
// them. A gateway that is draining sends nothing. Safe for concurrent use.
func (g *Gateway) Notify(code protocol.ErrorCode, message string) int {
	targets := g.sessions.subscribed()
	g.mu.Lock()
	if g.draining {
		g.mu.Unlock()
		return 0
	}
	g.conns.Add(len(targets))
	g.mu.Unlock()
	ts := time.Now().UnixMilli()
	for _, s := range targets {
		go func() {
			defer g.conns.Done()
			s.writeControl(context.Background(), protocol.EncodeNotice(s.enc, code, message, ts))
		}()
	}
	return len(targets)
}

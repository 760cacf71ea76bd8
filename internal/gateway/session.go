package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/protocol"
)

// session is one WebSocket connection. Its fields are owned by the handler
// goroutine unless noted.
type session struct {
	g *Gateway
	// conn is the WebSocket connection; nil on an SSE stream.
	conn *websocket.Conn
	// tr writes control frames and closes the connection, whichever the
	// transport (WebSocket or SSE).
	tr      transport
	enc     protocol.Encoding
	msgType websocket.MessageType
	sid     string
	// req stands for the upgrade request in later authentication (a
	// refresh, in-band auth): its peer address and forwarding header only,
	// so an idle connection does not keep the whole request.
	req *http.Request

	id       *Identity
	inBand   bool                // id came from an auth token (refresh may replace it)
	subs     map[string]struct{} // patterns subscribed, for refresh; see track
	limiter  *rate.Limiter
	rejected int // consecutive rate-limited commands

	// client is set once, when the session registers with the hub; read
	// by sessionIndex under its lock.
	client   *fanout.Client
	lastRead atomicTime  // written by the handler, read by the heartbeat
	pinging  atomic.Bool // a heartbeat ping is being written

	// closeOnce guards closing the connection before a client exists.
	closeOnce sync.Once
	expiry    *time.Timer
	warning   *time.Timer // the token_expiring notice, for browser tokens
}

func newSession(g *Gateway, r *http.Request, conn *websocket.Conn, enc protocol.Encoding, id *Identity) *session {
	s := &session{g: g, req: authRequest(r), conn: conn, enc: enc, sid: newSessionID(), id: id}
	s.msgType = websocket.MessageText
	if enc == protocol.EncodingMsgpack {
		s.msgType = websocket.MessageBinary
	}
	s.tr = wsTransport{conn: conn, enc: enc, msgType: s.msgType}
	s.lastRead.Store(time.Now())
	return s
}

// serve runs the connection to its end: hello, in-band authentication
// when the client needs it, then the fanout client writing to sink while
// run (the read loop of a WebSocket, the subscription of an SSE stream)
// runs on this goroutine and returns the reason to close with. It returns
// only after the writer has returned.
func (s *session) serve(sink fanout.Sink, run func(context.Context, *fanout.Client) fanout.CloseReason) {
	ctx := context.Background() // not r.Context(): the connection outlives the request
	if reason := s.g.sessions.add(s); reason != 0 {
		release(s.id)
		s.closeConn(reason)
		return
	}
	defer s.g.sessions.remove(s)
	defer func() {
		if s.id != nil && s.id.Release != nil {
			s.id.Release()
		}
	}()

	if !s.writeControl(ctx, protocol.EncodeHello(s.enc, s.hello())) {
		s.closeConn(fanout.ReasonWriteFailed)
		return
	}
	if s.id == nil && !s.authenticateInBand(ctx) {
		return
	}
	if m, ok := sink.(metered); ok && s.id != nil {
		m.setMeter(s.id.Usage) // known once the client authenticated
	}
	client, err := s.g.hub.Register(sink, coreEncoding(s.enc))
	if err != nil {
		s.closeConn(fanout.ReasonShutdown)
		return
	}
	if !s.g.sessions.attach(s, client) {
		client.Close(fanout.ReasonShutdown)
	}
	s.startLimits()
	client.Start() // its writer runs while there is something to write
	s.g.heartbeats.add(s)
	client.Close(run(ctx, client))
	s.g.heartbeats.remove(s)
	if reason := client.Wait(); reason != fanout.ReasonNormal && reason != fanout.ReasonShutdown {
		s.logger().Debug("connection closed", "reason", reason)
	}
	s.stopExpiry()
}

// logger returns the gateway's logger with the session's attributes. It
// is made when needed, not kept: sessions rarely log.
func (s *session) logger() *slog.Logger {
	if s.conn == nil {
		return s.g.log.With("session", s.sid, "transport", "sse")
	}
	return s.g.log.With("session", s.sid)
}

// authRequest keeps of r what authenticating its connection later needs:
// the peer address and the X-Forwarded-For header (auth.ClientIP).
func authRequest(r *http.Request) *http.Request {
	kept := &http.Request{RemoteAddr: r.RemoteAddr}
	if v := r.Header.Values("X-Forwarded-For"); len(v) > 0 {
		kept.Header = http.Header{"X-Forwarded-For": v}
	}
	return kept
}

func (s *session) hello() protocol.Hello {
	cfg := s.g.hub.Config()
	maxSubs := cfg.MaxSubscriptions
	if s.id != nil && s.id.MaxSubscriptions > 0 {
		maxSubs = min(maxSubs, s.id.MaxSubscriptions)
	}
	var window int64
	if s.g.cfg.History != nil {
		window = s.g.cfg.ResumeWindow.Milliseconds()
	}
	return protocol.Hello{
		ResumeWindowMS: window,
		Session:        s.sid,
		HeartbeatMS:    s.g.cfg.Heartbeat.Milliseconds(),
		AuthRequired:   s.id == nil,
		Limits: protocol.Limits{
			MaxSubscriptions: maxSubs,
			MaxFrameBytes:    int(s.g.cfg.ReadLimit),
			MaxQueueMessages: cfg.MaxQueueMessages,
			MaxQueueBytes:    cfg.MaxQueueBytes,
			MaxBatchMessages: cfg.MaxBatchMessages,
			WriteTimeoutMS:   cfg.WriteTimeout.Milliseconds(),
		},
	}
}

// startLimits sets the command rate and the credentials' expiry.
func (s *session) startLimits() {
	rps, burst := s.g.cfg.CommandsPerSecond, s.g.cfg.CommandsBurst
	if s.id.CommandsPerSecond > 0 {
		rps = s.id.CommandsPerSecond
	}
	if s.id.CommandsBurst > 0 {
		burst = s.id.CommandsBurst
	}
	s.limiter = rate.NewLimiter(rate.Limit(rps), burst)
	s.armExpiry()
}

// armExpiry closes the connection when its credentials expire; a browser
// token first gets a notice, TokenWarning ahead, so it can refresh in-band.
func (s *session) armExpiry() {
	s.stopExpiry()
	if s.id.Expires.IsZero() {
		return
	}
	reason, client, expires := s.id.ExpireReason, s.client, s.id.Expires
	if reason == 0 {
		reason = fanout.ReasonKeyExpired
	}
	s.expiry = time.AfterFunc(time.Until(expires), func() { client.Close(reason) })
	if reason == fanout.ReasonTokenExpired {
		notice := protocol.EncodeNotice(s.enc, protocol.NoticeTokenExpiring,
			"this connection's token expires soon: send refresh with a new token", expires.UnixMilli())
		s.warning = time.AfterFunc(time.Until(expires.Add(-TokenWarning)), func() {
			s.writeControl(context.Background(), notice)
		})
	}
}

func (s *session) stopExpiry() {
	for _, t := range []*time.Timer{s.expiry, s.warning} {
		if t != nil {
			t.Stop()
		}
	}
	s.expiry, s.warning = nil, nil
}

// readLoop reads and answers commands until the connection ends or the
// client is closed, and returns the reason to close with.
func (s *session) readLoop(ctx context.Context, client *fanout.Client) fanout.CloseReason {
	for {
		typ, frame, err := s.conn.Read(ctx)
		if err != nil {
			return s.readErrorReason(err)
		}
		s.lastRead.Store(time.Now())
		if typ != s.msgType {
			s.answerError(ctx, protocol.Command{}, protocol.Errorf(protocol.CodeUnsupportedFrame,
				"this connection speaks %s; send %s frames", protocol.Subprotocol(s.enc), msgTypeName(s.msgType)))
			continue
		}
		s.g.counters.Commands.Add(1)
		cmd, perr := protocol.DecodeCommand(s.enc, frame)
		if perr != nil {
			s.answerError(ctx, cmd, perr)
			continue
		}
		if cmd.Op != protocol.OpPong && !s.limiter.Allow() {
			s.rejected++
			if s.rejected >= s.g.cfg.MaxRejectedCommands {
				return fanout.ReasonLimitExceeded
			}
			s.answerError(ctx, cmd, protocol.Errorf(protocol.CodeRateLimited, "over %v commands per second", s.limiter.Limit()))
			continue
		}
		s.rejected = 0
		if reason := s.handle(ctx, client, cmd); reason != 0 {
			return reason
		}
	}
}

func (s *session) readErrorReason(err error) fanout.CloseReason {
	switch {
	case errors.Is(err, websocket.ErrMessageTooBig):
		return fanout.ReasonMessageTooBig
	case isNormalClose(err):
		return fanout.ReasonNormal
	}
	return fanout.ReasonNormal // the peer went away; nothing to tell it
}

// writeControl writes one control frame (hello, answer, ping) under the
// control write timeout. It reports success.
func (s *session) writeControl(ctx context.Context, frame []byte) bool {
	ctx, cancel := context.WithTimeout(ctx, s.g.cfg.ControlWriteTimeout)
	defer cancel()
	return s.tr.writeControl(ctx, frame) == nil
}

func (s *session) answerOK(ctx context.Context, cmd protocol.Command) {
	s.writeControl(ctx, protocol.EncodeOK(s.enc, cmd.ID, cmd.HasID))
}

func (s *session) answerError(ctx context.Context, cmd protocol.Command, e *protocol.Error) {
	s.g.counters.Errors.add(e.Code)
	s.writeControl(ctx, protocol.EncodeCommandError(s.enc, cmd, e))
}

// closeConn closes a connection that has no fanout client (yet).
func (s *session) closeConn(reason fanout.CloseReason) {
	s.closeOnce.Do(func() { s.tr.close(reason) })
}

func msgTypeName(t websocket.MessageType) string {
	if t == websocket.MessageBinary {
		return "binary"
	}
	return "text"
}

// transport is what a session needs from its connection besides the sink:
// WebSocket frames or SSE events. Its methods may be called concurrently.
type transport interface {
	// writeControl writes one control frame (hello, an answer, a notice,
	// a ping) within ctx.
	writeControl(ctx context.Context, frame []byte) error
	// close tells the client why the connection ends and ends it.
	close(reason fanout.CloseReason)
	// closeNow drops the connection without telling the client.
	closeNow()
	// ping writes a heartbeat; ts is Unix milliseconds.
	ping(ctx context.Context, ts int64) error
}

// wsTransport is a WebSocket connection's transport.
type wsTransport struct {
	conn    *websocket.Conn
	enc     protocol.Encoding
	msgType websocket.MessageType
}

func (t wsTransport) writeControl(ctx context.Context, frame []byte) error {
	return t.conn.Write(ctx, t.msgType, frame)
}

func (t wsTransport) close(reason fanout.CloseReason) {
	code := CloseCodeFor(reason)
	_ = t.conn.Close(websocket.StatusCode(code), code.String())
}

func (t wsTransport) closeNow() { _ = t.conn.CloseNow() }

func (t wsTransport) ping(ctx context.Context, ts int64) error {
	return t.writeControl(ctx, protocol.EncodePing(t.enc, ts))
}

package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/subject"
)

// ServeSSE serves GET /v1/sse: one subscription, given by the query
// (protocol.DecodeSSEQuery), as a Server-Sent Events stream of the same
// JSON frames as the WebSocket protocol. The stream goes through the same
// fan-out as a WebSocket connection (queue bounds, policies, gap notices,
// the critical rule, slow-consumer closes); Last-Event-ID resumes like a
// subscribe with resume positions. Errors found before the stream starts
// are plain HTTP errors ({"code","message"}); afterwards the stream ends
// with a "close" event carrying the close code.
//
// Credentials: Authorization: Bearer with an API key or a browser token,
// or ticket=<single-use ticket> in the query (Authenticator.FromTicket),
// for an EventSource, which cannot set headers.
func (g *Gateway) ServeSSE(w http.ResponseWriter, r *http.Request) {
	if !g.admit(w, r) {
		return
	}
	defer g.conns.Done()
	cmd, perr := protocol.DecodeSSEQuery(r.URL.Query(), r.Header.Get("Last-Event-ID"))
	if perr != nil {
		g.counters.Rejected.Add(1)
		protocol.WriteHTTPError(w, http.StatusBadRequest, perr.Code, perr.Message)
		return
	}
	id, err := g.sseAuthenticate(r)
	if err != nil {
		g.counters.Rejected.Add(1)
		writeHTTPError(w, err)
		return
	}
	if e := g.checkSSESubscribe(id, cmd); e != nil {
		release(id)
		g.counters.Rejected.Add(1)
		status := http.StatusForbidden
		if e.Code == protocol.CodeTooManySubscriptions {
			status = http.StatusBadRequest
		}
		protocol.WriteHTTPError(w, status, e.Code, e.Message)
		return
	}

	if tc, ok := r.Context().Value(connKey{}).(*net.TCPConn); ok && g.cfg.SendBuffer > 0 {
		// As for a WebSocket: the kernel's default buffer would hide a
		// slow client for seconds and make its progress jump by MiBs.
		_ = tc.SetWriteBuffer(g.cfg.SendBuffer)
	}
	rc := http.NewResponseController(w)
	// The server's ReadTimeout would otherwise end the stream: net/http's
	// background read of an idle request cancels it at that deadline.
	_ = rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no") // proxies such as nginx must not buffer the stream
	w.WriteHeader(http.StatusOK)

	stream := &sseConn{w: w, rc: rc, timeout: g.cfg.ControlWriteTimeout}
	s := &session{g: g, req: authRequest(r), enc: protocol.EncodingJSON, sid: newSessionID(), id: id, tr: stream}
	s.lastRead.Store(time.Now())
	sink := newSSESink(stream, cmd, &g.counters.DeliveryLatency)
	sink.sid = s.sid
	g.counters.Accepted.Add(1)
	g.counters.Open.Add(1)
	defer g.counters.Open.Add(-1)
	s.serve(sink, func(ctx context.Context, client *fanout.Client) fanout.CloseReason {
		return s.runSSE(ctx, r.Context(), client, cmd)
	})
	stream.finish()
}

// connKey is the context key of the request's connection (ConnContext).
type connKey struct{}

// ConnContext is for http.Server.ConnContext: it gives SSE streams their
// connection, so that they get Config.SendBuffer as WebSocket connections
// do. Without it streams keep the kernel's send buffer.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// sseAuthenticate finds the identity of an SSE request: a ticket in the
// query, or an API key or browser token in the Authorization header.
func (g *Gateway) sseAuthenticate(r *http.Request) (*Identity, error) {
	if g.cfg.Auth == nil {
		return anonymous, nil
	}
	if t := r.URL.Query().Get("ticket"); t != "" {
		return g.cfg.Auth.FromTicket(r, t)
	}
	cred, ok := auth.BearerCredential(r)
	if !ok {
		return nil, NewAuthError(http.StatusUnauthorized, fanout.ReasonAuthFailed,
			"send Authorization: Bearer <key or browser token>, or ticket=<ticket from POST /v1/sse/tickets>")
	}
	if _, err := auth.ParseKey(cred); err == nil {
		return g.cfg.Auth.FromRequest(r)
	}
	return g.cfg.Auth.FromToken(r, cred)
}

// checkSSESubscribe checks what can be checked of the stream's subscription
// before the stream starts, so that the answer is an HTTP status.
func (g *Gateway) checkSSESubscribe(id *Identity, cmd protocol.Command) *protocol.Error {
	for _, p := range cmd.Subjects {
		if !g.allowed(id, p) {
			return protocol.Errorf(protocol.CodeForbidden, "subscribing to %q is outside this key's scope", p)
		}
	}
	max := g.hub.Config().MaxSubscriptions
	if id.MaxSubscriptions > 0 {
		max = min(max, id.MaxSubscriptions)
	}
	if len(cmd.Subjects) > max {
		return protocol.Errorf(protocol.CodeTooManySubscriptions, "this key allows %d subscriptions per connection", max)
	}
	return nil
}

// runSSE makes the stream's subscription and waits for its end: the client
// closed by the hub, or the request gone.
//
// A resume that cannot be honoured (insufficient_state) cannot be answered
// by "subscribe again with a snapshot", as on a WebSocket: the stream has
// no commands, and an EventSource would reconnect with the same
// Last-Event-ID forever. The hub takes the snapshot itself and answers
// "recovered":false, which says the same thing: what was missed is not all
// there.
func (s *session) runSSE(ctx, reqCtx context.Context, client *fanout.Client, cmd protocol.Command) fanout.CloseReason {
	res, e := s.subscribe(ctx, client, cmd)
	if e != nil && e.Code == protocol.CodeInsufficientState && client.Reason() == 0 {
		retry := cmd
		retry.Resume, retry.Snapshot = nil, true
		res, e = s.subscribe(ctx, client, retry)
		res.Resumed, res.Recovered = true, false
	}
	switch {
	case e != nil && client.Reason() != 0:
		// The hub is closing this client: its close event is the answer.
	case e != nil:
		s.answerError(ctx, cmd, e)
		if e.Code == protocol.CodeInternal {
			return fanout.ReasonInternal
		}
		return fanout.ReasonProtocolError
	default:
		s.writeControl(ctx, protocol.EncodeSubscribeOK(s.enc, 0, false, res))
	}
	select {
	case <-client.Done():
		return client.Reason()
	case <-reqCtx.Done():
		return fanout.ReasonNormal // the client went away
	}
}

// errStreamEnded is returned by writes after the stream's close event or
// the handler's end.
var errStreamEnded = errors.New("gateway: SSE stream ended")

// sseConn is an SSE response stream. It serializes the writes of the
// client's writer (batches), the heartbeat (comments) and the handler
// (hello, answers, the close event) with mu, one connection's write lock,
// as coder/websocket does for a WebSocket; nothing else waits on it. All
// methods are safe for concurrent use.
type sseConn struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration // bounds control writes (Config.ControlWriteTimeout)

	mu    sync.Mutex
	ended bool // under mu: the close event is written or the handler returns
	buf   []byte

	written atomic.Uint64 // bytes handed to the response so far
}

// write writes p and flushes it, within ctx's deadline if it has one;
// ctx's cancellation interrupts a write in progress.
func (c *sseConn) write(ctx context.Context, p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeLocked(ctx, p)
}

func (c *sseConn) writeLocked(ctx context.Context, p []byte) error {
	if c.ended {
		return errStreamEnded
	}
	// Control writes come with a deadline; a batch comes with the fanout
	// client's context, which fanout cancels when the write must be
	// abandoned (its write timeout, or the close grace): that expires the
	// socket's deadline below.
	deadline, _ := ctx.Deadline()
	_ = c.rc.SetWriteDeadline(deadline)
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.rc.SetWriteDeadline(time.Unix(1, 0))
		close(interrupted)
	})
	defer func() {
		if !stop() {
			<-interrupted // a later write must not see this one's deadline
		}
	}()
	for len(p) > 0 {
		// In chunks, so that progress shows within a large batch.
		n, err := c.w.Write(p[:min(len(p), progressChunk)])
		c.written.Add(uint64(n))
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return c.rc.Flush()
}

// Written reports the bytes handed to the response so far.
func (c *sseConn) Written() uint64 { return c.written.Load() }

func (c *sseConn) writeControl(ctx context.Context, frame []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = protocol.AppendSSEEvent(c.buf[:0], protocol.FrameOp(frame), nil, frame)
	return c.writeLocked(ctx, c.buf)
}

// ping writes a heartbeat comment.
func (c *sseConn) ping(ctx context.Context, ts int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = protocol.AppendSSEComment(c.buf[:0], "ping "+strconv.FormatInt(ts, 10))
	return c.writeLocked(ctx, c.buf)
}

// close writes the close event and ends the stream: nothing is written
// after it, and the handler's return ends the response.
func (c *sseConn) close(reason fanout.CloseReason) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	c.buf = protocol.AppendSSEEvent(c.buf[:0], protocol.OpClose, nil, protocol.EncodeSSEClose(CloseCodeFor(reason)))
	_ = c.writeLocked(ctx, c.buf)
	c.ended = true
}

// closeNow interrupts any write in progress; the stream ends when its
// writer sees the error.
func (c *sseConn) closeNow() { _ = c.rc.SetWriteDeadline(time.Unix(1, 0)) }

// finish marks the stream ended, before its handler returns: a
// ResponseWriter must not be used after that (a late notice timer).
func (c *sseConn) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
}

// sseSink adapts an SSE stream to fanout.Sink: each batch is one "batch"
// event whose id is the stream's resume position (protocol.AppendSSEEventID):
// per subscribed pattern, the newest message delivered for it, so a
// reconnect with Last-Event-ID resumes every pattern where it stopped.
type sseSink struct {
	c        *sseConn
	patterns []string
	pos      []protocol.ResumePosition // per pattern; Subject is the pattern
	have     []bool                    // pos[i] is known
	idBuf    []byte
	buf      []byte
	wire     wireBatch
	meter    UsageMeter // counts deliveries for the key; nil counts none
	sid      string     // names the stream in the spans of traced messages
	latency  *LatencyHistogram
}

var (
	_ fanout.Sink             = (*sseSink)(nil)
	_ fanout.ProgressReporter = (*sseSink)(nil)
)

// newSSESink starts the positions at those the request resumed from, so
// that a pattern with nothing new keeps its place in the next event id.
func newSSESink(c *sseConn, cmd protocol.Command, latency *LatencyHistogram) *sseSink {
	s := &sseSink{c: c, patterns: cmd.Subjects, latency: latency}
	s.pos = make([]protocol.ResumePosition, len(cmd.Subjects))
	s.have = make([]bool, len(cmd.Subjects))
	for i, p := range cmd.Subjects {
		if pos, ok := resumePosition(cmd.Resume, p); ok {
			s.pos[i], s.have[i] = protocol.ResumePosition{Subject: p, Epoch: pos.Epoch, Seq: pos.Seq}, true
		}
	}
	return s
}

// advance records m as delivered for every pattern it matches: a newer
// epoch, or a higher sequence in the same epoch, moves the position.
func (s *sseSink) advance(m *fanout.Message) {
	for i, p := range s.patterns {
		if !subject.Match(p, m.Subject) {
			continue
		}
		cur := &s.pos[i]
		if !s.have[i] || m.Epoch > cur.Epoch || m.Epoch == cur.Epoch && m.Seq > cur.Seq {
			*cur = protocol.ResumePosition{Subject: p, Epoch: m.Epoch, Seq: m.Seq}
			s.have[i] = true
		}
	}
}

// eventID encodes the known positions.
func (s *sseSink) eventID() []byte {
	s.idBuf = s.idBuf[:0]
	first := true
	for i := range s.pos {
		if !s.have[i] {
			continue
		}
		if !first {
			s.idBuf = append(s.idBuf, ' ')
		}
		first = false
		s.idBuf = protocol.AppendSSEEventID(s.idBuf, s.pos[i:i+1])
	}
	return s.idBuf
}

func (s *sseSink) WriteBatch(ctx context.Context, b *fanout.Batch) error {
	for _, m := range b.Messages {
		if m != nil && m.Frames[fanout.EncodingJSON] != nil {
			s.advance(m)
		}
	}
	start := time.Now()
	s.wire.fill(b, fanout.EncodingJSON)
	s.buf = protocol.AppendSSEBatch(s.buf[:0], s.eventID(), start.UnixMilli(), s.wire.gaps, s.wire.events)
	s.wire.release()
	err := s.c.write(ctx, s.buf)
	traceWrites(b, start, s.sid, err)
	if err == nil && s.meter != nil {
		s.meter.Delivered(len(b.Messages), len(s.buf))
	}
	if cap(s.buf) > maxKeptBuffer {
		s.buf = nil
	}
	if err == nil && s.latency != nil {
		s.latency.observeBatch(b, time.Now().UnixNano())
	}
	return err
}

func (s *sseSink) setMeter(m UsageMeter) { s.meter = m }

func (s *sseSink) Close(reason fanout.CloseReason) error {
	s.c.close(reason)
	return nil
}

// Written reports the bytes handed to the response.
func (s *sseSink) Written() uint64 { return s.c.Written() }

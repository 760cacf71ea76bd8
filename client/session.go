package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/internal/protocol"
)

// errHeartbeatTimeout ends a connection on which nothing arrived for twice
// the hub's heartbeat interval.
var errHeartbeatTimeout = errors.New("client: no frame from the hub for 2 × heartbeat")

// session is one WebSocket connection, from hello to its end. Its read
// loop runs on the client's manager goroutine; request may be called from
// any goroutine.
type session struct {
	c       *Client
	url     string // the hub's URL
	ws      *websocket.Conn
	enc     protocol.Encoding
	msgType websocket.MessageType
	hello   protocol.Hello
	// heartbeat is the hub's ping interval; 0 means the hub announced
	// none, and reads have no deadline.
	heartbeat time.Duration
	// token is the in-band token the connection authenticated with; empty
	// when it authenticated with the key or not at all.
	token string
	upAt  time.Time

	// ctx ends with the connection (or the client); cancel is called by
	// the manager when the read loop returns.
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex // guards pending and ended
	pending map[uint64]chan protocol.ServerMessage
	ended   bool
	done    chan struct{} // closed when the read loop has returned

	// refreshNow wakes the token refresh when the hub announces that the
	// token expires soon (capacity 1; the read loop never blocks on it).
	refreshNow chan struct{}

	badFrames int // frames that did not decode; read loop only
}

// connect makes one connection attempt to the next hub URL: upgrade,
// hello, and in-band auth when the hub asks for it. ctx (further bounded
// by DialTimeout and by the client's life) bounds the whole attempt. A
// failed attempt moves on to the next URL for the following one; a
// successful one stays, so that a lost connection tries the next hub
// first. Only one goroutine at a time makes attempts (Dial, then the
// manager).
func (c *Client) connect(ctx context.Context) (*session, error) {
	url := c.urls[c.nextURL%len(c.urls)]
	c.nextURL = (c.nextURL + 1) % len(c.urls)
	ctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()

	hdr := c.opts.HTTPHeader.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	if c.key != "" {
		hdr.Set("Authorization", "Bearer "+c.key)
	}
	dopts := &websocket.DialOptions{
		HTTPClient:   c.httpClient,
		HTTPHeader:   hdr,
		Subprotocols: []string{protocol.Subprotocol(c.enc)},
	}
	if c.opts.Compression {
		dopts.CompressionMode = websocket.CompressionNoContextTakeover
	}
	ws, resp, err := websocket.Dial(ctx, url, dopts)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, &statusError{status: resp.StatusCode, err: err}
		}
		return nil, fmt.Errorf("client: dial %s: %w", redactURL(url), err)
	}
	ws.SetReadLimit(c.opts.ReadLimit)
	enc, ok := protocol.EncodingForSubprotocol(ws.Subprotocol())
	if !ok {
		_ = ws.CloseNow()
		return nil, fmt.Errorf("client: the hub chose the unknown subprotocol %q", ws.Subprotocol())
	}
	s := &session{c: c, url: url, ws: ws, enc: enc, msgType: websocket.MessageText,
		pending: make(map[uint64]chan protocol.ServerMessage), done: make(chan struct{}),
		refreshNow: make(chan struct{}, 1)}
	if enc == protocol.EncodingMsgpack {
		s.msgType = websocket.MessageBinary
	}
	s.ctx, s.cancel = context.WithCancel(c.ctx)
	if err := s.handshake(ctx); err != nil {
		s.cancel()
		_ = ws.CloseNow()
		return nil, err
	}
	s.upAt = time.Now()
	return s, nil
}

// handshake reads hello and authenticates in-band when hello asks for it.
func (s *session) handshake(ctx context.Context) error {
	m, err := s.readHandshake(ctx)
	if err != nil {
		return fmt.Errorf("client: waiting for hello: %w", err)
	}
	if m.Op != protocol.OpHello {
		return fmt.Errorf("client: the hub's first frame is %q, not hello", m.Op)
	}
	s.hello = m.Hello
	s.heartbeat = time.Duration(m.Hello.HeartbeatMS) * time.Millisecond
	if !m.Hello.AuthRequired {
		return nil
	}
	if s.c.opts.TokenProvider == nil {
		return ErrAuthRequired
	}
	token, err := s.c.opts.TokenProvider(ctx)
	if err != nil {
		return fmt.Errorf("client: token provider: %w", err)
	}
	id := s.c.nextID.Add(1)
	frame, err := protocol.EncodeCommand(s.enc, protocol.Command{Op: protocol.OpAuth, ID: id, HasID: true, Token: token})
	if err != nil {
		return fmt.Errorf("client: auth: %w", err)
	}
	if err := s.ws.Write(ctx, s.msgType, frame); err != nil {
		return fmt.Errorf("client: auth: %w", err)
	}
	for {
		m, err := s.readHandshake(ctx)
		if err != nil {
			return fmt.Errorf("client: waiting for the auth answer: %w", err)
		}
		if !m.HasID || m.ID != id {
			continue
		}
		if m.Op == protocol.OpError {
			return fmt.Errorf("client: auth: %w", hubError(m))
		}
		s.token = token
		return nil
	}
}

// readHandshake reads one frame during the handshake, answering pings.
func (s *session) readHandshake(ctx context.Context) (protocol.ServerMessage, error) {
	for {
		_, frame, err := s.ws.Read(ctx)
		if err != nil {
			return protocol.ServerMessage{}, err
		}
		m, err := protocol.DecodeServer(s.enc, frame)
		if err != nil {
			return protocol.ServerMessage{}, fmt.Errorf("client: %w", err)
		}
		if m.Op == protocol.OpPing {
			s.pong()
			continue
		}
		return m, nil
	}
}

// readLoop reads and dispatches frames until the connection ends, and
// returns why it ended. It never blocks on the application.
func (s *session) readLoop() error {
	for {
		ctx, cancel := s.ctx, context.CancelFunc(func() {})
		if s.heartbeat > 0 {
			ctx, cancel = context.WithTimeout(s.ctx, 2*s.heartbeat)
		}
		_, frame, err := s.ws.Read(ctx)
		timedOut := ctx.Err() != nil && s.ctx.Err() == nil
		cancel()
		if err != nil {
			if timedOut {
				return errHeartbeatTimeout
			}
			return err
		}
		m, err := protocol.DecodeServer(s.enc, frame)
		if err != nil {
			if s.badFrames == 0 {
				s.c.log.Warn("client: ignoring a server frame that does not decode", "err", err)
			}
			s.badFrames++
			continue
		}
		s.dispatch(m)
	}
}

// dispatch handles one server message on the read loop.
func (s *session) dispatch(m protocol.ServerMessage) {
	switch m.Op {
	case protocol.OpPing:
		s.pong()
	case protocol.OpBatch:
		s.c.deliver(s, &m)
	case protocol.OpNotice:
		switch m.Code {
		case protocol.NoticeTokenExpiring:
			select {
			case s.refreshNow <- struct{}{}:
			default:
			}
		case protocol.NoticeUpstreamReconnected:
			s.c.upstreamReconnected()
		}
	case protocol.OpOK, protocol.OpError, protocol.OpPong:
		if !m.HasID {
			if m.Op == protocol.OpError {
				s.c.log.Debug("client: the hub reported an error without id", "code", m.Code)
			}
			return
		}
		s.mu.Lock()
		ch := s.pending[m.ID]
		delete(s.pending, m.ID)
		s.mu.Unlock()
		if ch != nil {
			ch <- m // buffered, one answer per id
		}
	}
	// Anything else (a later hello, unknown ops) is ignored: forward
	// compatibility.
}

func (s *session) pong() {
	frame, _ := protocol.EncodeCommand(s.enc, protocol.Command{Op: protocol.OpPong})
	_ = s.write(frame)
}

// write writes one frame under the write timeout. It uses the
// connection's context, never a caller's: coder/websocket closes the
// connection when a write's context ends.
func (s *session) write(frame []byte) error {
	ctx, cancel := context.WithTimeout(s.ctx, s.c.opts.WriteTimeout)
	defer cancel()
	return s.ws.Write(ctx, s.msgType, frame)
}

// request sends cmd with a fresh id and waits for the answer (ok, error or
// pong). It returns ErrConnectionLost when the connection ends first, and
// ctx's error when ctx ends first (the command may have been applied).
func (s *session) request(ctx context.Context, cmd protocol.Command) (protocol.ServerMessage, error) {
	cmd.ID, cmd.HasID = s.c.nextID.Add(1), true
	frame, err := s.encode(cmd)
	if err != nil {
		return protocol.ServerMessage{}, err
	}
	ch := make(chan protocol.ServerMessage, 1)
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return protocol.ServerMessage{}, ErrConnectionLost
	}
	s.pending[cmd.ID] = ch
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, cmd.ID)
		s.mu.Unlock()
	}()
	if err := s.write(frame); err != nil {
		return protocol.ServerMessage{}, fmt.Errorf("%w: %w", ErrConnectionLost, err)
	}
	select {
	case m := <-ch:
		return m, nil
	case <-s.done:
		// The read loop hands an answer over before it returns, so one
		// that arrived just before the connection ended is in ch now.
		select {
		case m := <-ch:
			return m, nil
		default:
		}
		return protocol.ServerMessage{}, ErrConnectionLost
	case <-ctx.Done():
		return protocol.ServerMessage{}, ctx.Err()
	}
}

// encode encodes cmd, dropping its oldest resume positions until the
// frame fits the hub's max_frame_bytes (the hub closes the connection on a
// bigger frame).
func (s *session) encode(cmd protocol.Command) ([]byte, error) {
	for {
		frame, err := protocol.EncodeCommand(s.enc, cmd)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		max := s.hello.Limits.MaxFrameBytes
		if max <= 0 || len(frame) <= max {
			return frame, nil
		}
		if len(cmd.Resume) == 0 {
			return nil, fmt.Errorf("client: a %s command of %d bytes is over the hub's limit of %d", cmd.Op, len(frame), max)
		}
		cmd.Resume = cmd.Resume[:len(cmd.Resume)-1]
	}
}

// end marks the connection over after its read loop returned: pending
// requests fail with ErrConnectionLost and new ones are refused.
func (s *session) end() {
	s.cancel()
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
	close(s.done)
	_ = s.ws.CloseNow()
}

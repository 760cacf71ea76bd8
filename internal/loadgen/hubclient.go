package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/internal/protocol"
)

// controlTimeout bounds writing a command or a pong, and reading the
// answers during setup.
const controlTimeout = 5 * time.Second

// hubClient is one protocol v1 client of a StreamHub. Its read loop is the
// only goroutine that touches rec and buf.
type hubClient struct {
	conn     *websocket.Conn
	enc      protocol.Encoding
	msgType  websocket.MessageType
	rec      *recorder
	index    map[string]int
	base     time.Time
	stopping atomic.Bool
	buf      bytes.Buffer
	view     batchView
	checked  int    // batches cross-checked against protocol.DecodeServer
	reported uint64 // rec.delivered already added to rec.progress
	err      string // why the read loop ended early; set before wg.Done
}

// dialHub connects, checks the hello and subscribes to pattern with the
// run's options, waiting for the hub's ok.
func dialHub(ctx context.Context, cfg Config, pattern string, rec *recorder, index map[string]int, base time.Time) (*hubClient, error) {
	opts := &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol(cfg.Encoding)}}
	if cfg.APIKey != "" {
		opts.HTTPHeader = http.Header{"Authorization": {"Bearer " + cfg.APIKey}}
	}
	conn, _, err := websocket.Dial(ctx, cfg.WSURL, opts)
	if err != nil {
		return nil, fmt.Errorf("loadgen: dial %s: %w", cfg.WSURL, err)
	}
	conn.SetReadLimit(64 << 20)
	c := &hubClient{conn: conn, enc: cfg.Encoding, rec: rec, index: index, base: base, msgType: websocket.MessageText}
	if c.enc == protocol.EncodingMsgpack {
		c.msgType = websocket.MessageBinary
	}
	if err := c.handshake(ctx, cfg, pattern); err != nil {
		_ = conn.CloseNow()
		return nil, err
	}
	return c, nil
}

func (c *hubClient) handshake(ctx context.Context, cfg Config, pattern string) error {
	if c.conn.Subprotocol() != protocol.Subprotocol(c.enc) {
		return fmt.Errorf("loadgen: hub negotiated subprotocol %q, want %q", c.conn.Subprotocol(), protocol.Subprotocol(c.enc))
	}
	m, err := c.readControl(ctx)
	if err != nil {
		return err
	}
	if m.Op != protocol.OpHello || m.Hello.Version != protocol.Version {
		return fmt.Errorf("loadgen: first frame is %q version %d, want hello version %d", m.Op, m.Hello.Version, protocol.Version)
	}
	if m.Hello.AuthRequired {
		return errors.New("loadgen: the hub requires authentication: give an API key, or run it with --insecure-no-auth")
	}
	frame, err := protocol.EncodeCommand(c.enc, protocol.Command{
		Op: protocol.OpSubscribe, ID: 1, HasID: true, Subjects: []string{pattern},
		Policy: cfg.Policy, MaxRate: cfg.MaxRate,
	})
	if err != nil {
		return fmt.Errorf("loadgen: encode subscribe: %w", err)
	}
	if err := c.write(ctx, frame); err != nil {
		return err
	}
	// The answer comes before any event of the new subscription; pings
	// may come first.
	for range 16 {
		m, err := c.readControl(ctx)
		if err != nil {
			return err
		}
		switch {
		case m.Op == protocol.OpPing:
			if err := c.pong(ctx); err != nil {
				return err
			}
		case m.Op == protocol.OpOK && m.HasID && m.ID == 1:
			return nil
		case m.Op == protocol.OpError:
			return fmt.Errorf("loadgen: subscribe %q: %s: %s", pattern, m.Code, m.Message)
		}
	}
	return fmt.Errorf("loadgen: no answer to subscribe %q", pattern)
}

func (c *hubClient) readControl(ctx context.Context) (protocol.ServerMessage, error) {
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	_, frame, err := c.conn.Read(ctx)
	if err != nil {
		return protocol.ServerMessage{}, fmt.Errorf("loadgen: read: %w", err)
	}
	m, err := protocol.DecodeServer(c.enc, frame)
	if err != nil {
		return protocol.ServerMessage{}, fmt.Errorf("loadgen: %w", err)
	}
	return m, nil
}

func (c *hubClient) write(ctx context.Context, frame []byte) error {
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	if err := c.conn.Write(ctx, c.msgType, frame); err != nil {
		return fmt.Errorf("loadgen: write: %w", err)
	}
	return nil
}

func (c *hubClient) pong(ctx context.Context) error {
	frame, err := protocol.EncodeCommand(c.enc, protocol.Command{Op: protocol.OpPong})
	if err != nil {
		return fmt.Errorf("loadgen: encode pong: %w", err)
	}
	return c.write(ctx, frame)
}

// run reads frames until ctx is done or the connection closes. It returns
// nil when the close was asked for (stop) or ctx ended, and the reason
// otherwise: the client was disconnected during the run.
func (c *hubClient) run(ctx context.Context) error {
	for {
		frame, err := c.readFrame(ctx)
		if err != nil {
			if c.stopping.Load() || ctx.Err() != nil {
				return nil
			}
			return err
		}
		now := time.Since(c.base).Nanoseconds()
		c.handle(ctx, frame, now)
	}
}

// readFrame reads one message into c.buf, reusing its memory.
func (c *hubClient) readFrame(ctx context.Context) ([]byte, error) {
	_, r, err := c.conn.Reader(ctx)
	if err != nil {
		return nil, fmt.Errorf("loadgen: read: %w", err)
	}
	c.buf.Reset()
	if _, err := c.buf.ReadFrom(r); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("loadgen: read: %w", err)
	}
	return c.buf.Bytes(), nil
}

// crossChecks is how many batches of each client are decoded twice, by
// the scanner and by protocol.DecodeServer, and compared.
const crossChecks = 8

func (c *hubClient) handle(ctx context.Context, frame []byte, now int64) {
	var err error
	if c.enc == protocol.EncodingMsgpack {
		err = scanMsgpack(frame, &c.view)
	} else {
		err = scanJSON(frame, &c.view)
	}
	isBatch := err == nil && string(c.view.op) == string(protocol.OpBatch)
	if !isBatch || c.checked < crossChecks {
		m, err := protocol.DecodeServer(c.enc, frame)
		if err != nil {
			c.rec.bad++
			return
		}
		switch m.Op {
		case protocol.OpPing:
			if err := c.pong(ctx); err != nil {
				c.rec.bad++
			}
			return
		case protocol.OpBatch:
		default:
			return
		}
		c.checked++
		if !isBatch || !sameBatch(&c.view, &m) {
			c.rec.bad++ // the scanner and the codec disagree
			return
		}
	}
	for _, g := range c.view.gaps {
		if g.to >= g.from {
			c.rec.gap(g.to - g.from + 1)
		}
	}
	for i := range c.view.events {
		ev := &c.view.events[i]
		s, ok := c.index[string(ev.subject)]
		if !ok {
			c.rec.bad++
			continue
		}
		var t int64
		var n uint64
		if c.enc == protocol.EncodingMsgpack {
			t, n, err = parseMsgpackPayload(ev.data)
		} else {
			t, n, err = parseJSONPayload(ev.data)
		}
		if err != nil {
			c.rec.bad++
			continue
		}
		c.rec.event(s, ev.epoch, ev.seq, n, now-t)
	}
	if d := c.rec.delivered - c.reported; d > 0 {
		c.rec.batches++
		c.rec.progress.Add(d)
		c.reported = c.rec.delivered
	}
}

// sameBatch reports whether the scanner read what the codec decoded.
func sameBatch(v *batchView, m *protocol.ServerMessage) bool {
	if len(v.events) != len(m.Events) || len(v.gaps) != len(m.Gaps) {
		return false
	}
	for i, g := range m.Gaps {
		if v.gaps[i].from != g.From || v.gaps[i].to != g.To {
			return false
		}
	}
	for i := range m.Events {
		e, w := &m.Events[i], &v.events[i]
		if string(w.subject) != e.Subject || w.epoch != e.Epoch || w.seq != e.Seq || !bytes.Equal(w.data, e.Data) {
			return false
		}
	}
	return true
}

// stop closes the connection normally; run then returns nil.
func (c *hubClient) stop() {
	c.stopping.Store(true)
	_ = c.conn.Close(websocket.StatusNormalClosure, "bench done")
}

// abort closes the connection at once.
func (c *hubClient) abort() { _ = c.conn.CloseNow() }

// start runs the read loop on a goroutine counted by wg.
func (c *hubClient) start(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.run(ctx); err != nil {
			c.err = err.Error()
			if code := websocket.CloseStatus(err); code != -1 {
				c.err = fmt.Sprintf("closed with %d (%s)", code, protocol.CloseCode(code))
			}
		}
	}()
}

// tally is called after the read loop has returned.
func (c *hubClient) tally() (*recorder, string, uint64) { return c.rec, c.err, 0 }

package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// peerClient is one WebSocket client of a Centrifugo or of the Bun peer.
// Neither numbers messages, so, as for nats-ws, the payload's n is the
// sequence. Its read loop is the only goroutine that touches rec and buf
// once start has been called.
type peerClient struct {
	wsClient
	target Target
	index  map[string]int
	pong   func(context.Context) error // answers a Centrifugo ping
}

// dialPeer connects and subscribes to every subject in subjects: Bun
// topics and Centrifugo channels have no wildcards, so a pattern is
// subscribed to as the published subjects it matches.
func dialPeer(ctx context.Context, cfg Config, src net.IP, subjects []string, rec *recorder, index map[string]int, base time.Time) (*peerClient, error) {
	conn, _, err := websocket.Dial(ctx, cfg.WSURL, &websocket.DialOptions{HTTPClient: sourceClient(src)})
	if err != nil {
		return nil, fmt.Errorf("loadgen: dial %s: %w", cfg.WSURL, err)
	}
	conn.SetReadLimit(64 << 20)
	c := &peerClient{wsClient: wsClient{conn: conn, rec: rec, base: base}, target: cfg.Target, index: index}
	c.pong = func(ctx context.Context) error { return c.write(ctx, []byte("{}")) }
	if cfg.Target == TargetCentrifugo {
		err = c.centrifugoHandshake(ctx, subjects)
	} else {
		err = c.bunHandshake(ctx, subjects)
	}
	if err != nil {
		_ = conn.CloseNow()
		return nil, err
	}
	return c, nil
}

// bunHandshake sends {"op":"subscribe","id":1,"subjects":[…]}, the shape
// of a StreamHub subscribe, and waits for {"op":"ok","id":1}.
func (c *peerClient) bunHandshake(ctx context.Context, subjects []string) error {
	cmd, err := json.Marshal(struct {
		Op       string   `json:"op"`
		ID       int      `json:"id"`
		Subjects []string `json:"subjects"`
	}{"subscribe", 1, subjects})
	if err != nil {
		return fmt.Errorf("loadgen: encode subscribe: %w", err)
	}
	if err := c.write(ctx, cmd); err != nil {
		return err
	}
	frame, err := c.readControl(ctx)
	if err != nil {
		return err
	}
	var ok struct {
		Op string `json:"op"`
		ID int    `json:"id"`
	}
	if err := json.Unmarshal(frame, &ok); err != nil || ok.Op != "ok" || ok.ID != 1 {
		return fmt.Errorf("loadgen: bun peer answered the subscribe with %.200q", frame)
	}
	return nil
}

// centrifugoReply is one line of a Centrifugo JSON-protocol frame, as far
// as the handshake needs it. A line "{}" is a ping.
type centrifugoReply struct {
	ID    uint32 `json:"id"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// centrifugoHandshake sends connect (no token: the spawned server runs
// with client.insecure) and one subscribe per subject, in one frame of
// newline-separated commands, and waits until every one is answered
// without error.
func (c *peerClient) centrifugoHandshake(ctx context.Context, subjects []string) error {
	var b []byte
	b = append(b, `{"id":1,"connect":{"name":"streamhub-bench"}}`...)
	for i, s := range subjects {
		b = fmt.Appendf(b, "\n"+`{"id":%d,"subscribe":{"channel":`, i+2)
		b = appendJSONString(b, s)
		b = append(b, `}}`...)
	}
	if err := c.write(ctx, b); err != nil {
		return err
	}
	waiting := len(subjects) + 1
	for range 4 * (len(subjects) + 4) {
		frame, err := c.readControl(ctx)
		if err != nil {
			return err
		}
		for line := range bytes.SplitSeq(frame, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if isCentrifugoPing(line) {
				if err := c.write(ctx, []byte("{}")); err != nil {
					return err
				}
				continue
			}
			var r centrifugoReply
			if err := json.Unmarshal(line, &r); err != nil {
				return fmt.Errorf("loadgen: centrifugo reply %.200q: %w", line, err)
			}
			if r.Error != nil {
				return fmt.Errorf("loadgen: centrifugo refused command %d: %d %s", r.ID, r.Error.Code, r.Error.Message)
			}
			if r.ID > 0 {
				waiting--
			}
		}
		if waiting <= 0 {
			return nil
		}
	}
	return fmt.Errorf("loadgen: centrifugo did not answer connect and %d subscribes", len(subjects))
}

func isCentrifugoPing(line []byte) bool { return string(bytes.TrimSpace(line)) == "{}" }

func (c *peerClient) readControl(ctx context.Context) ([]byte, error) { return c.readRaw(ctx) }

func (c *peerClient) write(ctx context.Context, frame []byte) error {
	return c.writeFrame(ctx, websocket.MessageText, frame)
}

// handle records the messages of one frame: "subject\npayload" from the
// Bun peer; newline-separated pushes and pings from Centrifugo.
func (c *peerClient) handle(ctx context.Context, frame []byte, now int64) {
	before := c.rec.delivered
	if c.target == TargetBun {
		subject, payload, ok := parseBunFrame(frame)
		c.record(subject, payload, ok, now)
	} else {
		for line := range bytes.SplitSeq(frame, []byte("\n")) {
			if isCentrifugoPing(line) {
				if err := c.pong(ctx); err != nil {
					c.rec.bad++
				}
				continue
			}
			channel, data, ok := parseCentrifugoPush(line)
			c.record(channel, data, ok, now)
		}
	}
	if d := c.rec.delivered - before; d > 0 {
		c.rec.batches++
		c.rec.progress.Add(d)
	}
}

func (c *peerClient) record(subject, payload []byte, ok bool, now int64) {
	s, known := c.index[string(subject)]
	if !ok || !known {
		c.rec.bad++
		return
	}
	t, n, err := parseJSONPayload(payload)
	if err != nil {
		c.rec.bad++
		return
	}
	c.rec.event(s, 0, n, n, now-t)
}

// parseBunFrame splits a Bun peer frame "subject\npayload".
func parseBunFrame(frame []byte) (subject, payload []byte, ok bool) {
	subject, payload, ok = bytes.Cut(frame, []byte("\n"))
	return subject, payload, ok && len(subject) > 0
}

// parseCentrifugoPush reads the channel and the publication's data from a
// push line, {"push":{"channel":"C","pub":{"data":D…}}}, without decoding
// D: Centrifugo passes JSON data through unchanged, so D is the
// publisher's payload and whatever follows it. Anything else is not ok.
func parseCentrifugoPush(line []byte) (channel, data []byte, ok bool) {
	const head = `{"push":{"channel":"`
	rest, found := bytes.CutPrefix(line, []byte(head))
	if !found {
		return nil, nil, false
	}
	end := bytes.IndexByte(rest, '"')
	if end <= 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return nil, nil, false
	}
	channel, rest = rest[:end], rest[end+1:]
	rest, found = bytes.CutPrefix(rest, []byte(`,"pub":{`))
	if !found {
		return nil, nil, false
	}
	i := bytes.Index(rest, []byte(`"data":`))
	if i < 0 {
		return nil, nil, false
	}
	return channel, rest[i+len(`"data":`):], true
}

// start runs the read loop on a goroutine counted by wg.
func (c *peerClient) start(ctx context.Context, wg *sync.WaitGroup) {
	c.startLoop(ctx, wg, c.handle, func(code websocket.StatusCode) string {
		return fmt.Sprintf("closed with %d", code)
	})
}

package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/coder/websocket"
)

// centrifugoOutlet publishes through Centrifugo's HTTP server API: the
// messages of one burst go in one POST {prefix}/batch of publish commands
// (Centrifugo's documented batch method), so the API costs one request per
// millisecond at most, not one per message. Payloads are JSON and travel as
// the publications' data, unchanged.
type centrifugoOutlet struct {
	client *http.Client
	url    string // {prefix}/batch
	body   []byte // {"commands":[…  while n > 0
	n      int
}

func newCentrifugoOutlet(prefix string) (*centrifugoOutlet, error) {
	if err := CheckLoopback(prefix); err != nil {
		return nil, err
	}
	// No client timeout: the publisher's context bounds each request.
	return &centrifugoOutlet{
		client: &http.Client{},
		url:    strings.TrimSuffix(prefix, "/") + "/batch",
	}, nil
}

func (o *centrifugoOutlet) publish(_ context.Context, subject string, payload []byte) error {
	if o.n == 0 {
		o.body = append(o.body[:0], `{"commands":[`...)
	} else {
		o.body = append(o.body, ',')
	}
	o.body = append(o.body, `{"publish":{"channel":`...)
	o.body = appendJSONString(o.body, subject)
	o.body = append(o.body, `,"data":`...)
	o.body = append(o.body, payload...)
	o.body = append(o.body, `}}`...)
	o.n++
	return nil
}

// centrifugoReplies is the batch answer: one reply per command, in order,
// each with an error or the command's result.
type centrifugoReplies struct {
	Replies []struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"replies"`
}

// burst posts the buffered publish commands and checks every reply.
func (o *centrifugoOutlet) burst(ctx context.Context) error {
	if o.n == 0 {
		return nil
	}
	n := o.n
	o.n = 0
	o.body = append(o.body, `]}`...)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.url, bytes.NewReader(o.body))
	if err != nil {
		return fmt.Errorf("loadgen: publisher: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := o.client.Do(req)
	if err != nil {
		return fmt.Errorf("loadgen: publisher: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("loadgen: publisher: read the batch answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("loadgen: publisher: POST %s: %s: %.200s", o.url, resp.Status, b)
	}
	var r centrifugoReplies
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("loadgen: publisher: batch answer: %w", err)
	}
	if len(r.Replies) != n {
		return fmt.Errorf("loadgen: publisher: %d replies to a batch of %d publishes", len(r.Replies), n)
	}
	for _, rep := range r.Replies {
		if rep.Error != nil {
			return fmt.Errorf("loadgen: publisher: centrifugo refused a publish: %d %s", rep.Error.Code, rep.Error.Message)
		}
	}
	return nil
}

// flush is a burst: Centrifugo has taken the publications when it answers.
func (o *centrifugoOutlet) flush(ctx context.Context) error { return o.burst(ctx) }

func (o *centrifugoOutlet) close() { o.client.CloseIdleConnections() }

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// bunOutlet sends each message as one text frame "subject\npayload" to
// the Bun peer's /pub WebSocket; the peer script publishes the frame, as
// is, to the subject's topic (see bunpeer.js).
type bunOutlet struct {
	conn   *websocket.Conn
	cancel context.CancelFunc // ends the CloseRead reader
	frame  []byte
}

func dialBunOutlet(ctx context.Context, url string) (*bunOutlet, error) {
	if err := CheckLoopback(url); err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("loadgen: publisher: dial %s: %w", url, err)
	}
	// The peer never sends on /pub; reading in the background answers its
	// pings and lets flush use Ping.
	rctx, rcancel := context.WithCancel(context.Background())
	conn.CloseRead(rctx)
	return &bunOutlet{conn: conn, cancel: rcancel}, nil
}

// publish writes the frame; ctx (the publisher's) bounds a write that Bun
// holds back.
func (o *bunOutlet) publish(ctx context.Context, subject string, payload []byte) error {
	o.frame = append(append(append(o.frame[:0], subject...), '\n'), payload...)
	if err := o.conn.Write(ctx, websocket.MessageText, o.frame); err != nil {
		return fmt.Errorf("loadgen: publish: %w", err)
	}
	return nil
}

func (o *bunOutlet) burst(context.Context) error { return nil }

// flush waits for the answer to a ping: the peer has read every frame
// sent before it.
func (o *bunOutlet) flush(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	if err := o.conn.Ping(pctx); err != nil {
		return fmt.Errorf("loadgen: publisher: flush: %w", err)
	}
	return nil
}

func (o *bunOutlet) close() {
	_ = o.conn.Close(websocket.StatusNormalClosure, "bench done")
	o.cancel()
}

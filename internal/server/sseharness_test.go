package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/protocol"
)

// sseEvent is one event of an SSE stream as a browser's EventSource sees
// it; a comment (a heartbeat) is an event with only Comment set.
type sseEvent struct {
	ID      string
	HasID   bool
	Event   string
	Data    string
	Comment string
}

// sseClient reads an SSE stream over a real HTTP connection, as an agent
// with a plain HTTP client would, parsing it by the WHATWG rules.
type sseClient struct {
	t      testing.TB
	resp   *http.Response
	events chan sseEvent
	done   chan struct{} // closed when the stream has ended
	stop   chan struct{} // closed by close: the reader stops sending
	cancel context.CancelFunc
	lastID string
	// pending holds events read while waiting for something else.
	pending []sseEvent
}

// openSSE requests GET /v1/sse?query with header and returns the response
// status and, for a 200, the stream (else nil and the error body).
func openSSE(t testing.TB, s *Server, query string, header http.Header) (int, *sseClient, string) {
	t.Helper()
	resp, cancel := requestSSE(t, s, query, header)
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, nil, string(body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q, want text/event-stream", ct)
	}
	return resp.StatusCode, newSSEClient(t, resp, cancel), ""
}

// requestSSE sends GET /v1/sse?query with header; cancel ends the request
// and its stream.
func requestSSE(t testing.TB, s *Server, query string, header http.Header) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.Addr()+"/v1/sse?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET /v1/sse: %v", err)
	}
	return resp, cancel
}

// newSSEClient starts reading resp's stream; cancel ends its request.
func newSSEClient(t testing.TB, resp *http.Response, cancel context.CancelFunc) *sseClient {
	c := &sseClient{t: t, resp: resp, events: make(chan sseEvent, 1024), done: make(chan struct{}), stop: make(chan struct{}), cancel: cancel}
	go c.readLoop()
	t.Cleanup(c.close)
	return c
}

// mustOpenSSE opens a stream that must be accepted and reads its hello.
func mustOpenSSE(t testing.TB, s *Server, query string, header http.Header) *sseClient {
	t.Helper()
	status, c, body := openSSE(t, s, query, header)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/sse?%s: %d %s", query, status, body)
	}
	if ev := c.next(10 * time.Second); ev.Event != "hello" {
		t.Fatalf("first event %+v, want hello", ev)
	}
	return c
}

func (c *sseClient) readLoop() {
	defer close(c.done)
	r := bufio.NewReader(c.resp.Body)
	var ev sseEvent
	var data []string
	send := func(ev sseEvent) bool {
		select {
		case c.events <- ev:
			return true
		case <-c.stop:
			return false
		}
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if ev.Event != "" || len(data) > 0 {
				ev.Data = strings.Join(data, "\n")
				if !send(ev) {
					return
				}
			}
			ev, data = sseEvent{}, nil
		case strings.HasPrefix(line, ":"):
			if !send(sseEvent{Comment: strings.TrimSpace(line[1:])}) {
				return
			}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID, ev.HasID = value, true
			case "event":
				ev.Event = value
			case "data":
				data = append(data, value)
			}
		}
	}
}

func (c *sseClient) close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	c.cancel()
	_ = c.resp.Body.Close()
	<-c.done
}

// next returns the next event or comment, failing the test after timeout.
func (c *sseClient) next(timeout time.Duration) sseEvent {
	c.t.Helper()
	if len(c.pending) > 0 {
		ev := c.pending[0]
		c.pending = c.pending[1:]
		return ev
	}
	select {
	case ev := <-c.events:
		if ev.HasID {
			c.lastID = ev.ID
		}
		return ev
	case <-c.done:
		select {
		case ev := <-c.events:
			if ev.HasID {
				c.lastID = ev.ID
			}
			return ev
		default:
		}
		c.t.Fatal("SSE stream ended")
	case <-time.After(timeout):
		c.t.Fatalf("no SSE event within %v", timeout)
	}
	return sseEvent{}
}

// frame decodes an event's data as a protocol frame.
func (c *sseClient) frame(ev sseEvent) protocol.ServerMessage {
	c.t.Helper()
	m, err := protocol.DecodeServer(protocol.EncodingJSON, []byte(ev.Data))
	if err != nil {
		c.t.Fatalf("event %q: data %q: %v", ev.Event, ev.Data, err)
	}
	if string(m.Op) != ev.Event {
		c.t.Fatalf("event %q carries op %q", ev.Event, m.Op)
	}
	return m
}

// answer waits for the subscription's answer (ok or error), keeping the
// batches that come first for later.
func (c *sseClient) answer(timeout time.Duration) protocol.ServerMessage {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var kept []sseEvent
	defer func() { c.pending = append(kept, c.pending...) }()
	for {
		ev := c.next(time.Until(deadline))
		if ev.Event == "ok" || ev.Event == "error" {
			return c.frame(ev)
		}
		kept = append(kept, ev)
	}
}

// collect reads batches until pred holds for the events so far.
func (c *sseClient) collect(timeout time.Duration, pred func([]protocol.EventFrame) bool) []protocol.EventFrame {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var evs []protocol.EventFrame
	for !pred(evs) {
		ev := c.next(time.Until(deadline))
		if ev.Event == "batch" {
			evs = append(evs, c.frame(ev).Events...)
		}
		if ev.Event == "close" {
			c.t.Fatalf("stream closed: %s (after %d events)", ev.Data, len(evs))
		}
	}
	return evs
}

// sseClose is the data of a close event.
type sseClose struct {
	Op     string `json:"op"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// awaitClose reads until the close event and the end of the stream.
func (c *sseClient) awaitClose(timeout time.Duration) sseClose {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ev := c.next(time.Until(deadline))
		if ev.Event != "close" {
			continue
		}
		var cl sseClose
		if err := json.Unmarshal([]byte(ev.Data), &cl); err != nil {
			c.t.Fatalf("close event %q: %v", ev.Data, err)
		}
		select {
		case <-c.done:
		case <-time.After(time.Until(deadline)):
			c.t.Fatal("the stream went on after its close event")
		}
		return cl
	}
}

func bearerHeader(cred string) http.Header {
	return http.Header{"Authorization": {"Bearer " + cred}}
}

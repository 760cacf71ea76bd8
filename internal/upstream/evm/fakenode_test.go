package evm

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// fakeNode is a scripted JSON-RPC 2.0 server on a WebSocket, for the
// answers a real node does not give on demand: refusals, malformed
// objects, silence. answer returns a method's result (raw JSON) or an
// error object; after eth_subscribe succeeds, heads are sent as
// eth_subscription notifications.
type fakeNode struct {
	srv         *httptest.Server
	connections atomic.Int64
	answer      func(conn int64, method string) (result string, rpcErr string)
	heads       func(conn int64) []string
}

func startFakeNode(t *testing.T, answer func(conn int64, method string) (string, string), heads func(conn int64) []string) *fakeNode {
	t.Helper()
	f := &fakeNode{answer: answer, heads: heads}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNode) url() string { return "ws" + strings.TrimPrefix(f.srv.URL, "http") }

func (f *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	defer c.CloseNow()
	conn := f.connections.Add(1)
	ctx := r.Context()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		if json.Unmarshal(data, &req) != nil {
			return
		}
		result, rpcErr := f.answer(conn, req.Method)
		var resp string
		if rpcErr != "" {
			resp = `{"jsonrpc":"2.0","id":` + string(req.ID) + `,"error":{"code":-32000,"message":"` + rpcErr + `"}}`
		} else {
			resp = `{"jsonrpc":"2.0","id":` + string(req.ID) + `,"result":` + result + `}`
		}
		if c.Write(ctx, websocket.MessageText, []byte(resp)) != nil {
			return
		}
		if req.Method == "eth_subscribe" && rpcErr == "" && f.heads != nil {
			for _, h := range f.heads(conn) {
				n := `{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0x1","result":` + h + `}}`
				if c.Write(ctx, websocket.MessageText, []byte(n)) != nil {
					return
				}
			}
		}
	}
}

// A well-formed chain of the fake node: block n has hash 0x…n and parent
// 0x…(n-1).
func fakeBlock(n int, full bool) string {
	b := `{"number":"0x` + hexDigit(n) + `","hash":"` + fakeHash(n) + `","parentHash":"` + fakeHash(n-1) + `","timestamp":"0x10","gasUsed":"0x0"`
	if full {
		b += `,"transactions":[]`
	}
	return b + "}"
}

func fakeHash(n int) string { return "0x" + strings.Repeat("0", 63) + hexDigit(n) }

func hexDigit(n int) string { return string("0123456789abcdef"[n]) }

// answers of a healthy node at block 5, with method overrides.
func healthy(over map[string][2]string) func(int64, string) (string, string) {
	return func(_ int64, method string) (string, string) {
		if a, ok := over[method]; ok {
			return a[0], a[1]
		}
		switch method {
		case "eth_chainId":
			return `"0x539"`, ""
		case "eth_subscribe":
			return `"0x1"`, ""
		case "eth_getBlockByNumber", "eth_getBlockByHash":
			return fakeBlock(5, true), ""
		case "eth_getLogs":
			return `[]`, ""
		}
		return `null`, ""
	}
}

// recordingPublisher stands for JetStream: it records and acknowledges.
type recordingPublisher struct {
	mu   sync.Mutex
	msgs []*nats.Msg
}

func (p *recordingPublisher) PublishMsg(_ context.Context, m *nats.Msg, _ ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, m)
	return &jetstream.PubAck{Stream: "CHAIN", Sequence: uint64(len(p.msgs))}, nil
}

func (p *recordingPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.msgs)
}

// Refused, malformed and silent answers of a node: the ingestor says why
// in its log, reconnects (again and again), publishes nothing it could not
// check, and neither panics nor hangs.
func TestBadNodeAnswersMakeItReconnect(t *testing.T) {
	badLog := `[{"address":"0x0000000000000000000000000000000000000001","topics":[],"data":"0x","blockNumber":"0x5","transactionHash":"` + fakeHash(9) + `","transactionIndex":"0x0","blockHash":"` + fakeHash(7) + `","logIndex":"0x0","removed":false}]`
	for _, tc := range []struct {
		name      string
		answer    func(int64, string) (string, string)
		heads     func(int64) []string
		published int // messages published in all (block 5 of the first session at most)
		logged    string
	}{
		{name: "subscription refused", answer: healthy(map[string][2]string{"eth_subscribe": {"", "notifications not supported"}}),
			logged: "notifications not supported"},
		{name: "malformed latest block", answer: healthy(map[string][2]string{"eth_getBlockByNumber": {`{"number":"0xzz"}`, ""}}),
			logged: "latest block: evm: decode block"},
		{name: "block without hash", answer: healthy(map[string][2]string{"eth_getBlockByNumber": {`{"number":"0x5","parentHash":"` + fakeHash(4) + `","timestamp":"0x1"}`, ""}}),
			logged: "no hash"},
		{name: "logs of another block", answer: healthy(map[string][2]string{"eth_getLogs": {badLog, ""}}),
			logged: "in the answer for"},
		{name: "malformed head", answer: healthy(nil), heads: func(int64) []string { return []string{`{"hash":7}`} },
			published: 1, logged: "newHeads"},
		{name: "silent node", answer: healthy(nil), published: 1, logged: "no new head for"},
		{name: "wrong block for a hash", answer: healthy(map[string][2]string{"eth_getBlockByHash": {fakeBlock(6, true), ""}}),
			heads: func(int64) []string { return []string{fakeBlock(7, false)} }, published: 1, logged: "asked for block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFakeNode(t, tc.answer, tc.heads)
			logs := &testsupport.Buffer{}
			pub := &recordingPublisher{}
			g := New(pub, Config{URL: f.url(), Network: "fake", StaleAfter: 200 * time.Millisecond,
				BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			stop := runIngestor(t, g)
			testsupport.WaitFor(t, "three connections", 30*time.Second, func() bool { return f.connections.Load() >= 3 })
			stop()
			if n := pub.count(); n != tc.published {
				t.Errorf("published %d messages, want %d", n, tc.published)
			}
			if !strings.Contains(logs.String(), tc.logged) || !strings.Contains(logs.String(), "reconnecting") {
				t.Errorf("log does not say %q and reconnecting:\n%s", tc.logged, logs)
			}
		})
	}
}

// A node that comes back on another chain ends Run with an error: its
// blocks must not be published as the same network's.
func TestANodeOnAnotherChainStopsTheIngestor(t *testing.T) {
	answer := healthy(nil)
	f := startFakeNode(t, func(conn int64, method string) (string, string) {
		if method == "eth_chainId" && conn > 1 {
			return `"0x1"`, ""
		}
		return answer(conn, method)
	}, nil)
	g := New(&recordingPublisher{}, Config{URL: f.url(), Network: "fake", StaleAfter: 100 * time.Millisecond,
		BackoffMin: 10 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	done := make(chan error, 1)
	go func() { done <- g.Run(context.Background()) }()
	if err := testsupport.Await(t, "Run to end", done, 30*time.Second); !errors.Is(err, errChainChanged) {
		t.Fatalf("Run: %v, want the chain change", err)
	}
}

// failingPublisher stands for a JetStream that refuses every message.
type failingPublisher struct{ calls atomic.Int64 }

func (p *failingPublisher) PublishMsg(context.Context, *nats.Msg, ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	p.calls.Add(1)
	return nil, errors.New("nats: no responders available for request")
}

// A message the stream keeps refusing is tried PublishTries times, then
// counted and logged, and the ingestor goes on following the node.
func TestARefusedPublishIsCountedAndSkipped(t *testing.T) {
	f := startFakeNode(t, healthy(nil), nil)
	logs := &testsupport.Buffer{}
	pub := &failingPublisher{}
	g := New(pub, Config{URL: f.url(), Network: "fake", PublishTries: 3, BackoffMin: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	stop := runIngestor(t, g)
	testsupport.WaitFor(t, "the failure counted", 30*time.Second, func() bool { return g.Stats().Errors == 1 })
	stop()
	if n := pub.calls.Load(); n != 3 {
		t.Errorf("%d tries, want 3", n)
	}
	if st := g.Stats(); st.Blocks != 1 || st.Reconnects != 0 || st.Published != 0 {
		t.Errorf("stats %+v: want block 5 followed, nothing published, no reconnect", st)
	}
	if strings.Count(logs.String(), "publish failed") != 1 {
		t.Errorf("log:\n%s", logs)
	}
}

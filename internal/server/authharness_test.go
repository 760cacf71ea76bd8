package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/protocol"
)

// authEnv is one auth test's world: the hubs it starts (authentication on,
// logs captured as JSON at debug level) and every credential it handled.
// At cleanup, after every hub has shut down, it fails the test if any
// captured log line contains one of those credentials or its secret part.
type authEnv struct {
	t     *testing.T
	mu    sync.Mutex
	logs  []*logBuffer
	creds []string // keys and tokens, guarded by mu
}

func newAuthEnv(t *testing.T) *authEnv {
	e := &authEnv{t: t}
	// Registered before any hub: cleanups run last-in first-out, so this
	// runs after every hub's shutdown has been logged.
	t.Cleanup(e.checkLogs)
	return e
}

// logBuffer is an io.Writer safe for the concurrent writes of a logger.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// hub starts a hub with authentication on and its log captured; mutate
// adjusts the configuration after that.
func (e *authEnv) hub(t testing.TB, mutate func(*Config)) (*Server, *logBuffer) {
	t.Helper()
	buf := &logBuffer{}
	e.mu.Lock()
	e.logs = append(e.logs, buf)
	e.mu.Unlock()
	s := startHub(t, func(c *Config) {
		c.InsecureNoAuth = false
		c.Logger = slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		if mutate != nil {
			mutate(c)
		}
	})
	return s, buf
}

// remember records a credential for the log check and returns it.
func (e *authEnv) remember(cred string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.creds = append(e.creds, cred)
	return cred
}

// key creates a key through the hub's own store and returns its secret
// string (remembered) and record.
func (e *authEnv) key(t testing.TB, s *Server, req auth.CreateRequest) (string, auth.KeyRecord) {
	t.Helper()
	if req.Name == "" {
		req.Name = "test key"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	k, rec, err := s.auth.store.Create(ctx, req)
	if err != nil {
		t.Fatalf("create key: %v", err)
	}
	return e.remember(k.Reveal()), rec
}

// token asks POST /v1/tokens for a browser token with the request body
// (empty for none), requiring 200, and remembers the token.
func (e *authEnv) token(t testing.TB, s *Server, secret, body string) tokenResponse {
	t.Helper()
	status, raw := postAPI(t, s, "/v1/tokens", secret, body)
	if status != http.StatusOK {
		t.Fatalf("POST /v1/tokens %s: %d %s", body, status, raw)
	}
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil || tr.Token == "" {
		t.Fatalf("POST /v1/tokens: %v in %s", err, raw)
	}
	e.remember(tr.Token)
	return tr
}

// fragments returns what must never be logged of a credential: all of it,
// and its secret part alone (a key's secret, a token's signature).
func fragments(cred string) []string {
	out := []string{cred}
	if strings.HasPrefix(cred, "sh_") {
		if i := strings.LastIndexByte(cred, '_'); i >= 0 && len(cred)-i > 32 {
			out = append(out, cred[i+1:i+33]) // the 32-char secret
		}
	} else if i := strings.LastIndexByte(cred, '.'); i >= 0 && len(cred)-i > 16 {
		out = append(out, cred[i+1:]) // the JWT signature
	}
	return out
}

func (e *authEnv) checkLogs() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, l := range e.logs {
		text := l.String()
		for _, cred := range e.creds {
			for _, f := range fragments(cred) {
				if strings.Contains(text, f) {
					// Name the credential by its public part only.
					e.t.Errorf("hub %d's log contains a credential (%.16s…)", i, cred)
				}
			}
		}
	}
}

// authHeader is the header an agent sends with its key.
func authHeader(secret string) http.Header {
	return http.Header{"Authorization": {"Bearer " + secret}}
}

// dialKey connects with an API key and reads hello, which must not ask for
// in-band authentication.
func dialKey(t testing.TB, s *Server, secret string) *wsClient {
	t.Helper()
	c := dialRaw(t, s, "", authHeader(secret))
	m := c.next(5 * time.Second)
	if m.Op != protocol.OpHello || m.Hello.AuthRequired {
		t.Fatalf("first frame %+v, want hello without auth_required", m)
	}
	c.hello = m.Hello
	return c
}

// dialBrowser connects without credentials, as a browser does, and reads
// hello, which must ask for in-band authentication.
func dialBrowser(t testing.TB, s *Server) *wsClient {
	t.Helper()
	c := dialRaw(t, s, "", nil)
	m := c.next(5 * time.Second)
	if m.Op != protocol.OpHello || !m.Hello.AuthRequired {
		t.Fatalf("first frame %+v, want hello with auth_required", m)
	}
	c.hello = m.Hello
	return c
}

// dialToken connects as a browser and authenticates with token.
func dialToken(t testing.TB, s *Server, token string) *wsClient {
	t.Helper()
	c := dialBrowser(t, s)
	if m := c.command(protocol.Command{Op: protocol.OpAuth, Token: token}); m.Op != protocol.OpOK {
		t.Fatalf("auth: %s %s %s", m.Op, m.Code, m.Message)
	}
	return c
}

// command sends cmd and returns its answer.
func (c *wsClient) command(cmd protocol.Command) protocol.ServerMessage {
	c.t.Helper()
	return c.answer(c.send(cmd))
}

// expectError sends cmd and requires the error answer code.
func (c *wsClient) expectError(cmd protocol.Command, code protocol.ErrorCode) {
	c.t.Helper()
	if m := c.command(cmd); m.Op != protocol.OpError || m.Code != code {
		c.t.Fatalf("%s %v: got %s %s %q, want error %s", cmd.Op, cmd.Subjects, m.Op, m.Code, m.Message, code)
	}
}

// alive requires the connection to answer a ping.
func (c *wsClient) alive() {
	c.t.Helper()
	if m := c.command(protocol.Command{Op: protocol.OpPing}); m.Op != protocol.OpPong {
		c.t.Fatalf("ping: got %+v", m)
	}
}

// closeEvent is how and when a connection ended.
type closeEvent struct {
	code websocket.StatusCode
	at   time.Time
	err  error
}

// watchClose reads c on a goroutine until the connection ends (or timeout)
// and reports the close code and the moment. It does not touch the test,
// so that it may run beside it; c must not be read elsewhere afterwards.
func watchClose(c *wsClient, timeout time.Duration) <-chan closeEvent {
	ch := make(chan closeEvent, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		for {
			if _, _, err := c.conn.Read(ctx); err != nil {
				ch <- closeEvent{code: websocket.CloseStatus(err), at: time.Now(), err: err}
				return
			}
		}
	}()
	return ch
}

// awaitClose waits for a watchClose report and requires the close code.
func awaitClose(t testing.TB, ch <-chan closeEvent, want protocol.CloseCode) closeEvent {
	t.Helper()
	ev := <-ch // watchClose's own timeout bounds this
	if ev.code != websocket.StatusCode(want) {
		t.Fatalf("connection ended with %d (%v), want %d %s", ev.code, ev.err, want, want)
	}
	return ev
}

// upgradeStatus attempts a WebSocket upgrade with header and returns the
// HTTP status (101 when the upgrade succeeded) and the refusal's body.
func upgradeStatus(t testing.TB, s *Server, header http.Header) (int, string) {
	t.Helper()
	return upgradeStatusHost(t, s, "", header)
}

// upgradeStatusHost is upgradeStatus with the Host header set to host
// (empty: the hub's address), as a browser sends it for a name that
// resolves to the hub.
func upgradeStatusHost(t testing.TB, s *Server, host string, header http.Header) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws://"+s.Addr()+"/v1/ws", &websocket.DialOptions{HTTPHeader: header, Host: host})
	if err == nil {
		_ = conn.CloseNow()
		return http.StatusSwitchingProtocols, ""
	}
	if resp == nil {
		t.Fatalf("dial: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// postAPI posts body (JSON, may be empty) to path with key as bearer
// credential ("" for none) and returns the status and the body.
func postAPI(t testing.TB, s *Server, path, key, body string) (int, []byte) {
	t.Helper()
	return postAPIReader(t, s, path, key, strings.NewReader(body))
}

func postAPIReader(t testing.TB, s *Server, path, key string, body io.Reader) (int, []byte) {
	t.Helper()
	r := callAPI(t, s, http.MethodPost, path, key, body, nil)
	return r.status, r.body
}

// doAPI sends one request with headers h to the hub's HTTP API and returns
// the status and the body.
func doAPI(t testing.TB, s *Server, method, path string, h http.Header, body io.Reader) (int, []byte) {
	t.Helper()
	r := callAPI(t, s, method, path, "", body, h)
	return r.status, r.body
}

// apiResponse is what callAPI got back.
type apiResponse struct {
	status int
	header http.Header
	body   []byte
}

// callAPI sends a request (body may be nil) with key as bearer credential
// ("" for none) and extra headers, and returns the answer.
func callAPI(t testing.TB, s *Server, method, path, key string, body io.Reader, header http.Header) apiResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+s.Addr()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true // no idle keep-alive goroutines left for goleak
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return apiResponse{resp.StatusCode, resp.Header, raw}
}

// failures returns the hub's count of authentication failures for reason.
func failures(s *Server, reason string) uint64 {
	return s.auth.store.Counters().Failures(reason)
}

// natsPublisher connects a plain NATS client to the hub's NATS server, as an
// outside ingestor would.
func natsPublisher(t testing.TB, s *Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.NATSURL(), s.NATSCredentials().Option(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// waitPatterns waits until what each pattern matches flows from NATS into
// the hub, so that a publish that follows reaches it.
func waitPatterns(t testing.TB, s *Server, patterns ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, p := range patterns {
		if err := s.Router().Ready(ctx, p); err != nil {
			t.Fatalf("the hub never got %s from NATS: %v", p, err)
		}
	}
}

// revoke revokes key id through the hub's store.
func revoke(t testing.TB, s *Server, id string) {
	t.Helper()
	if _, err := s.auth.store.Revoke(ctx10(t), id); err != nil {
		t.Fatalf("revoke: %v", err)
	}
}

// ctx10 is a context for one store operation, cancelled at cleanup.
func ctx10(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

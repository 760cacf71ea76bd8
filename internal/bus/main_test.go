package bus

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/streamhub/streamhub/internal/testsupport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitTimeout is the generous bound of every condition wait: the machine is
// shared and small.
const waitTimeout = 15 * time.Second

// startServer starts an embedded server on a loopback port (-1: random) and
// shuts it down at the end of the test.
func startServer(t *testing.T, port int, storeDir string) *Embedded {
	t.Helper()
	e, err := StartEmbedded(EmbeddedConfig{Port: port, StoreDir: storeDir})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func serverPort(t *testing.T, e *Embedded) int {
	t.Helper()
	addr, ok := e.Server().Addr().(*net.TCPAddr)
	if !ok {
		t.Fatalf("server address %v is not TCP", e.Server().Addr())
	}
	return addr.Port
}

// connect opens a Conn to url and closes it at the end of the test.
func connect(t *testing.T, cfg ConnConfig) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c, err := Connect(ctx, cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// publisher opens a plain nats.go connection to e, separate from the one
// under test.
func publisher(t *testing.T, e *Embedded) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(e.ClientURL(), e.Credentials().Option())
	if err != nil {
		t.Fatalf("nats.Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func publish(t *testing.T, nc *nats.Conn, subject, data string) {
	t.Helper()
	if err := nc.Publish(subject, []byte(data)); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// serverSubs counts, on the server, the subscriptions of c's client
// connection whose subject is pattern. It flushes c first, so every SUB and
// UNSUB c sent before has been processed.
func serverSubs(t *testing.T, e *Embedded, c *Conn, pattern string) int {
	t.Helper()
	if err := c.NATS().FlushTimeout(waitTimeout); err != nil {
		t.Fatalf("flush: %v", err)
	}
	cid, err := c.NATS().GetClientID()
	if err != nil {
		t.Fatalf("client id: %v", err)
	}
	sz, err := e.Server().Subsz(&server.SubszOptions{Subscriptions: true, Limit: 100000})
	if err != nil {
		t.Fatalf("Subsz: %v", err)
	}
	n := 0
	for _, sd := range sz.Subs {
		if sd.Cid == cid && sd.Subject == pattern {
			n++
		}
	}
	return n
}

// delivery is one handler call.
type delivery struct {
	subject, data string
	copy          Copy
}

// recorder is a Handler that records every call.
type recorder struct {
	mu    sync.Mutex
	got   []delivery
	delay time.Duration // how long each call takes, to let a backlog build
}

func (r *recorder) handle(m *nats.Msg, c Copy) {
	r.mu.Lock()
	delay := r.delay
	r.mu.Unlock()
	time.Sleep(delay)
	r.mu.Lock()
	r.got = append(r.got, delivery{m.Subject, string(m.Data), c})
	r.mu.Unlock()
}

func (r *recorder) snapshot() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// count returns how many recorded deliveries are of subject ("" matches
// any).
func (r *recorder) count(subject string) int {
	n := 0
	for _, d := range r.snapshot() {
		if subject == "" || d.subject == subject {
			n++
		}
	}
	return n
}

// wantedSet is an Interest the test sets by hand, as the hub would.
type wantedSet struct {
	mu      sync.Mutex
	set     []string
	version uint64
	changed chan struct{}
}

func newWantedSet() *wantedSet { return &wantedSet{changed: make(chan struct{})} }

func (w *wantedSet) Interest() ([]string, uint64, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.set), w.version, w.changed
}

func (w *wantedSet) InterestVersion() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.version
}

// replace makes ps the wanted set and signals the change.
func (w *wantedSet) replace(ps ...string) {
	w.mu.Lock()
	w.set = slices.Clone(ps)
	w.version++
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// want makes ps the wanted set, waits until r has applied it and, for each
// pattern, until r is ready for it. When connected, it flushes r's
// connection, so the server has every SUB and UNSUB before the test goes on.
func (w *wantedSet) want(t *testing.T, r *Router, ps ...string) {
	t.Helper()
	w.replace(ps...)
	sorted := slices.Compact(slices.Sorted(slices.Values(ps)))
	testsupport.WaitFor(t, fmt.Sprintf("the router to apply %v", ps), waitTimeout, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return slices.Equal(slices.Sorted(maps.Keys(r.wanted)), sorted)
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for _, p := range ps {
		if err := r.Ready(ctx, p); err != nil {
			t.Fatalf("Ready(%q): %v", p, err)
		}
	}
	if r.conn.Connected() {
		if err := r.conn.NATS().FlushTimeout(waitTimeout); err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
}

// logBuffer collects slog output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Contains(b.buf.String(), s)
}

func (b *logBuffer) logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level}))
}

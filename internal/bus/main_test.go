package bus

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
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
	pattern, subject, data string
}

// recorder is a Handler that records every call.
type recorder struct {
	mu  sync.Mutex
	got []delivery
}

func (r *recorder) handle(pattern string, m *nats.Msg) {
	r.mu.Lock()
	r.got = append(r.got, delivery{pattern, m.Subject, string(m.Data)})
	r.mu.Unlock()
}

func (r *recorder) snapshot() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// count returns how many recorded deliveries match pattern and subject
// ("" matches any).
func (r *recorder) count(pattern, subject string) int {
	n := 0
	for _, d := range r.snapshot() {
		if (pattern == "" || d.pattern == pattern) && (subject == "" || d.subject == subject) {
			n++
		}
	}
	return n
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

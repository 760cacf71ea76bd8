package client_test

import (
	"context"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/client"
	"github.com/streamhub/streamhub/internal/server"
	"github.com/streamhub/streamhub/internal/upstream"
)

// fastDemo runs the demo feeds fast enough for tests.
func fastDemo(c *server.Config) {
	c.Demo = true
	c.DemoConfig = upstream.Config{TickInterval: 20 * time.Millisecond, BlockInterval: 200 * time.Millisecond,
		JobStepInterval: 30 * time.Millisecond, Seed: 7}
}

func wsURL(s *server.Server) string { return "ws://" + s.Addr() + "/v1/ws" }

// dial connects a client to s and closes it when the test ends (before the
// hub shuts down: cleanups run last-in first-out).
func dial(t testing.TB, s *server.Server, opts *client.Options) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, wsURL(s), "", opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func subscribe(t testing.TB, c *client.Client, pattern string, opts client.SubscribeOptions) *client.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sub, err := c.Subscribe(ctx, pattern, opts)
	if err != nil {
		t.Fatalf("subscribe %s: %v", pattern, err)
	}
	return sub
}

// collect reads n events from sub, failing after timeout.
func collect(t testing.TB, sub *client.Subscription, n int, timeout time.Duration) []client.Event {
	t.Helper()
	var evs []client.Event
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for len(evs) < n {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				t.Fatalf("subscription %s ended after %d of %d events: %v", sub.Pattern(), len(evs), n, sub.Err())
			}
			evs = append(evs, ev)
		case <-deadline.C:
			t.Fatalf("%s: %d of %d events after %v", sub.Pattern(), len(evs), n, timeout)
		}
	}
	return evs
}

// waitForPattern waits until what pattern matches flows from NATS into
// the hub, so that a publisher's messages reach it. A subscribe the hub
// answered already is; this serves subscriptions made in the background.
func waitForPattern(t testing.TB, s *server.Server, pattern string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.Router().Ready(ctx, pattern); err != nil {
		t.Fatalf("the hub never got %s from NATS: %v", pattern, err)
	}
}

func natsConn(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.NATSURL(), s.NATSCredentials().Option())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// publish publishes data on subject with the hub's sequencing headers.
func publish(t testing.TB, nc *nats.Conn, subject string, epoch, seq uint64, critical bool, data string) {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = []byte(data)
	m.Header.Set("Sh-Ts", "1732712345600")
	m.Header.Set("Sh-Epoch", strconv.FormatUint(epoch, 10))
	m.Header.Set("Sh-Seq", strconv.FormatUint(seq, 10))
	if critical {
		m.Header.Set("Sh-Critical", "1")
	}
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
}

// states records OnStateChange calls.
type states struct {
	mu   sync.Mutex
	seen []client.State
}

func (s *states) record(st client.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, st)
}

func (s *states) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := make([]string, len(s.seen))
	for i, st := range s.seen {
		parts[i] = st.String()
	}
	return strings.Join(parts, " ")
}

// gaps records OnGap calls.
type gaps struct {
	mu   sync.Mutex
	repd []client.Gap
}

func (g *gaps) record(gap client.Gap) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.repd = append(g.repd, gap)
}

func (g *gaps) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.repd)
}

func reflectEqual(a, b any) bool { return reflect.DeepEqual(a, b) }

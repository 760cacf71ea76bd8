package venuetest

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// Msg is one NATS message as a subscriber saw it.
type Msg struct {
	Subject string
	Header  nats.Header
	Data    []byte
}

// Int returns a decimal header of m; the test fails if it is not one.
func (m Msg) Int(t testing.TB, key string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(m.Header.Get(key), 10, 64)
	if err != nil {
		t.Fatalf("%s: header %s=%q: %v", m.Subject, key, m.Header.Get(key), err)
	}
	return v
}

// Recorder collects the messages of a NATS subscription, in arrival order.
type Recorder struct {
	mu   sync.Mutex
	msgs []Msg
}

// Record subscribes to pattern on a new connection to url, live on the
// server when it returns; both end with the test.
func Record(t testing.TB, url, pattern string) *Recorder {
	t.Helper()
	nc, err := nats.Connect(url, nats.NoReconnect())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	r := &Recorder{}
	if _, err := nc.Subscribe(pattern, func(m *nats.Msg) {
		r.mu.Lock()
		r.msgs = append(r.msgs, Msg{Subject: m.Subject, Header: m.Header, Data: m.Data})
		r.mu.Unlock()
	}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	return r
}

// Msgs returns what arrived so far.
func (r *Recorder) Msgs() []Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Msg(nil), r.msgs...)
}

// WaitN waits up to 20 s until n messages arrived and returns them all.
func (r *Recorder) WaitN(t testing.TB, n int) []Msg {
	t.Helper()
	testsupport.WaitFor(t, strconv.Itoa(n)+" NATS messages", 20*time.Second, func() bool { return len(r.Msgs()) >= n })
	return r.Msgs()
}

// Go runs fn on a goroutine until the test ends, then cancels its context
// and waits up to 10 s for it to return nil.
func Go(t testing.TB, fn func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
	})
}

// Connect returns a NATS connection to url that ends with the test.
func Connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.NoReconnect())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

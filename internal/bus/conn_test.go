package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// refusingListener takes a loopback port and closes every connection at
// once, so a NATS client's attempts fail; it counts them.
func refusingListener(t *testing.T) (ln net.Listener, attempts *atomic.Int64, done chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	attempts = &atomic.Int64{}
	done = make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			attempts.Add(1)
			_ = conn.Close()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return ln, attempts, done
}

func TestConnectWaitsForAServerStartedLater(t *testing.T) {
	ln, attempts, done := refusingListener(t)
	port := ln.Addr().(*net.TCPAddr).Port
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)

	type result struct {
		c   *Conn
		err error
	}
	res := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitTimeout)
	defer cancel()
	storeDir := t.TempDir()
	creds, err := loadOrCreateCredentials(storeDir) // what the server will require
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := Connect(ctx, ConnConfig{URLs: url, Credentials: creds, ReconnectWait: 20 * time.Millisecond})
		res <- result{c, err}
	}()

	testsupport.WaitFor(t, "a failed connection attempt", waitTimeout, func() bool { return attempts.Load() >= 2 })
	_ = ln.Close()
	<-done
	startServer(t, port, storeDir)

	var r result
	select {
	case r = <-res:
	case <-time.After(2 * waitTimeout):
		t.Fatalf("Connect did not return")
	}
	if r.err != nil {
		t.Fatalf("Connect: %v", r.err)
	}
	defer r.c.Close()
	if !r.c.Connected() {
		t.Fatalf("Connect returned without a connection")
	}
}

func TestConnectGivesUpAfterConnectWaitOrContext(t *testing.T) {
	ln, _, _ := refusingListener(t)
	url := "nats://" + ln.Addr().String()

	_, err := Connect(context.Background(), ConnConfig{URLs: url, ConnectWait: 200 * time.Millisecond, ReconnectWait: 20 * time.Millisecond})
	if err == nil {
		t.Fatalf("Connect to a port without a server succeeded")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = Connect(ctx, ConnConfig{URLs: url, ReconnectWait: 20 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect with an expiring context = %v, want DeadlineExceeded", err)
	}

	// A negative ConnectWait returns at once, still trying.
	c, err := Connect(context.Background(), ConnConfig{URLs: url, ConnectWait: -1, ReconnectWait: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("Connect without waiting: %v", err)
	}
	defer c.Close()
	if c.Connected() {
		t.Fatalf("Connected() with no server")
	}
}

func TestConnReconnectsAndKeepsRouting(t *testing.T) {
	storeDir := t.TempDir()
	e := startServer(t, -1, storeDir)
	port := serverPort(t, e)
	var logs logBuffer
	c := connect(t, ConnConfig{URLs: e.ClientURL(), Credentials: e.Credentials(), ReconnectWait: 20 * time.Millisecond, Logger: logs.logger(slog.LevelInfo)})
	rec := &recorder{}
	r := NewRouter(c, rec.handle, RouterConfig{})
	w := newWantedSet()
	r.Start(w)
	defer func() { _ = r.Close() }()
	w.want(t, r, "ticks.>")
	if !c.Connected() {
		t.Fatalf("not connected")
	}

	e.Shutdown()
	testsupport.WaitFor(t, "Connected() to turn false", waitTimeout, func() bool { return !c.Connected() })
	// Interest changes while disconnected are buffered, not refused.
	w.want(t, r, "ticks.>", "jobs.>")

	e2 := startServer(t, port, storeDir)
	testsupport.WaitFor(t, "Connected() to turn true again", waitTimeout, func() bool { return c.Connected() })
	// nats.go runs the state handlers on its own goroutine, after the state
	// changed.
	testsupport.WaitFor(t, "the state changes to be logged", waitTimeout, func() bool {
		return logs.contains("disconnected from NATS") && logs.contains("reconnected to NATS")
	})

	// Subscriptions, old and new, are back on the new server.
	if n := serverSubs(t, e2, c, "ticks.>") + serverSubs(t, e2, c, "jobs.>"); n != 2 {
		t.Fatalf("%d subscriptions on the restarted server, want 2", n)
	}
	pub := publisher(t, e2)
	publish(t, pub, "ticks.coinbase.BTC-USD", "1")
	publish(t, pub, "jobs.acme.j1", "2")
	testsupport.WaitFor(t, "messages after the reconnect", waitTimeout, func() bool {
		return rec.count("ticks.coinbase.BTC-USD") == 1 && rec.count("jobs.acme.j1") == 1
	})
}

func TestConnDrain(t *testing.T) {
	e := startServer(t, -1, t.TempDir())
	c := connect(t, ConnConfig{URLs: e.ClientURL(), Credentials: e.Credentials()})
	rec := &recorder{}
	r := NewRouter(c, rec.handle, RouterConfig{})
	w := newWantedSet()
	r.Start(w)
	w.want(t, r, "ticks.>")
	pub := publisher(t, e)
	publish(t, pub, "ticks.a.b", "1")
	testsupport.WaitFor(t, "the tick", waitTimeout, func() bool { return rec.count("") == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if c.Connected() || !c.NATS().IsClosed() {
		t.Fatalf("connection not closed after Drain")
	}
	if err := c.Drain(ctx); err != nil {
		t.Fatalf("second Drain: %v", err)
	}
	c.Close() // idempotent
	w.replace("jobs.>")
	ctx2, cancel2 := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel2()
	if err := r.Ready(ctx2, "jobs.>"); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Ready on a drained connection = %v, want the subscription's error", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("closing a router on a drained connection: %v", err)
	}
}

func TestSamplerAllowsOneLinePerInterval(t *testing.T) {
	s := sampler{every: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	if ok, _ := s.allow(t0); !ok {
		t.Fatalf("first event not allowed")
	}
	for i := range 5 {
		if ok, _ := s.allow(t0.Add(time.Duration(i) * time.Second)); ok {
			t.Fatalf("event %d within the interval allowed", i)
		}
	}
	ok, suppressed := s.allow(t0.Add(10 * time.Second))
	if !ok || suppressed != 5 {
		t.Fatalf("allow after the interval = %v, %d; want true, 5", ok, suppressed)
	}
}

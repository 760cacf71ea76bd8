package client_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/client"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// dialFake dials the fake hub, which answers with h, and returns the
// client and its connection on the fake side. auth, when not nil, plays
// the hub's side of in-band authentication before Dial returns.
func dialFake(t testing.TB, f *fakeHub, opts *client.Options, h protocol.Hello, auth func(*fakeConn)) (*client.Client, *fakeConn) {
	t.Helper()
	if opts == nil {
		opts = &client.Options{}
	}
	opts.Encoding = client.EncodingJSON
	if opts.Backoff == (client.Backoff{}) {
		opts.Backoff = client.Backoff{Base: 10 * time.Millisecond, Cap: 50 * time.Millisecond}
	}
	type result struct {
		c   *client.Client
		err error
	}
	res := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := client.Dial(ctx, f.url(), "", opts)
		res <- result{c, err}
	}()
	// Registered before accept's cleanup, so it runs after the fake side
	// has hung up and Close need not wait for a close handshake.
	var c *client.Client
	t.Cleanup(func() {
		if c != nil {
			_ = c.Close()
		}
	})
	fc := f.accept(h)
	if auth != nil {
		auth(fc)
	}
	r := <-res
	if r.err != nil {
		t.Fatalf("dial the fake hub: %v", r.err)
	}
	c = r.c
	return c, fc
}

// subscribeFake subscribes while the fake connection answers ok.
func subscribeFake(t testing.TB, c *client.Client, fc *fakeConn, pattern string, opts client.SubscribeOptions) (*client.Subscription, protocol.Command) {
	t.Helper()
	type result struct {
		sub *client.Subscription
		err error
	}
	res := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		sub, err := c.Subscribe(ctx, pattern, opts)
		res <- result{sub, err}
	}()
	cmd := fc.expect(protocol.OpSubscribe)
	fc.ok(cmd)
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.sub, cmd
}

// recoveries records OnRecovered calls.
type recoveries struct {
	mu  sync.Mutex
	got []string
}

func (r *recoveries) record(pattern string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, pattern+"="+map[bool]string{true: "recovered", false: "snapshot"}[ok])
}

func (r *recoveries) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.got, " ")
}

func resumeHello() protocol.Hello {
	h := hello()
	h.ResumeWindowMS = 60_000
	return h
}

// After the hub goes away (4000) the client reconnects at once and sends,
// with its resubscribe, the last positions it saw, newest first; a hub that
// recovers says so and the subscription carries on.
func TestResubscribeSendsResumePositions(t *testing.T) {
	f := newFakeHub(t)
	var st states
	var rec recoveries
	c, fc := dialFake(t, f, &client.Options{OnStateChange: st.record, OnRecovered: rec.record,
		Backoff: client.Backoff{Base: time.Hour, Cap: time.Hour}}, resumeHello(), nil) // only the immediate attempt can succeed
	sub, first := subscribeFake(t, c, fc, "jobs.acme.>", client.SubscribeOptions{Policy: client.PolicyDropOldest})
	if len(first.Resume) != 0 || first.Snapshot || first.Policy.String() != "drop-oldest" {
		t.Fatalf("first subscribe %+v", first)
	}
	fc.batch(protocol.Event{Subject: "jobs.acme.a", Epoch: 9, Seq: 1}, protocol.Event{Subject: "jobs.acme.a", Epoch: 9, Seq: 2},
		protocol.Event{Subject: "jobs.acme.b", Epoch: 9, Seq: 3})
	collect(t, sub, 3, 5*time.Second)
	fc.close(protocol.CloseShutdown)

	fc2 := f.accept(resumeHello())
	cmd := fc2.expect(protocol.OpSubscribe)
	want := []protocol.ResumePosition{{Subject: "jobs.acme.b", Epoch: 9, Seq: 3}, {Subject: "jobs.acme.a", Epoch: 9, Seq: 2}}
	if !reflectEqual(cmd.Resume, want) || cmd.Snapshot || cmd.Subjects[0] != "jobs.acme.>" || cmd.Policy.String() != "drop-oldest" {
		t.Fatalf("resubscribe %+v, want resume %+v", cmd, want)
	}
	fc2.send(protocol.EncodeSubscribeOK(protocol.EncodingJSON, cmd.ID, true, protocol.SubscribeResult{Resumed: true, Recovered: true}))
	// The replay, then live: one duplicate of an event already seen is
	// dropped.
	fc2.batch(protocol.Event{Subject: "jobs.acme.b", Epoch: 9, Seq: 3}, protocol.Event{Subject: "jobs.acme.a", Epoch: 9, Seq: 4})
	if ev := collect(t, sub, 1, 5*time.Second)[0]; ev.Seq != 4 {
		t.Fatalf("after the resume got seq %d, want 4", ev.Seq)
	}
	testsupport.WaitFor(t, "connected", 5*time.Second, func() bool { return c.State() == client.StateConnected })
	if got := st.String(); got != "connected reconnecting connected" {
		t.Fatalf("states %q", got)
	}
	if got := rec.String(); got != "jobs.acme.>=recovered" {
		t.Fatalf("OnRecovered calls %q", got)
	}
}

// When the hub cannot resume, the client asks for a snapshot instead, and
// stops asking to resume a pattern the hub cannot resume at all.
func TestResumeFallsBackToSnapshot(t *testing.T) {
	f := newFakeHub(t)
	var rec recoveries
	c, fc := dialFake(t, f, &client.Options{OnRecovered: rec.record}, resumeHello(), nil)
	sub, _ := subscribeFake(t, c, fc, "ticks.*.BTC-USD", client.SubscribeOptions{})
	fc.batch(protocol.Event{Subject: "ticks.coinbase.BTC-USD", Epoch: 1, Seq: 5})
	collect(t, sub, 1, 5*time.Second)

	// insufficient_state: resume again next time.
	fc.close(protocol.CloseSlowConsumer)
	fc = f.accept(resumeHello())
	cmd := fc.expect(protocol.OpSubscribe)
	if len(cmd.Resume) != 1 {
		t.Fatalf("resubscribe without positions: %s", fc.last)
	}
	fc.send(protocol.EncodeResumeError(protocol.EncodingJSON, cmd.ID, true, protocol.Errorf(protocol.CodeInsufficientState, "gone")))
	cmd = fc.expect(protocol.OpSubscribe)
	if len(cmd.Resume) != 0 || !cmd.Snapshot {
		t.Fatalf("after insufficient_state: %s, want a snapshot subscribe", fc.last)
	}
	fc.ok(cmd)
	fc.batch(protocol.Event{Subject: "ticks.coinbase.BTC-USD", Epoch: 2, Seq: 1, Snapshot: true})
	if ev := collect(t, sub, 1, 5*time.Second)[0]; !ev.Snapshot || ev.Epoch != 2 {
		t.Fatalf("snapshot event %+v", ev)
	}

	// Any other refusal: snapshot, and never resume this pattern again.
	fc.close(protocol.CloseShutdown)
	fc = f.accept(resumeHello())
	cmd = fc.expect(protocol.OpSubscribe)
	if len(cmd.Resume) != 1 || cmd.Resume[0] != (protocol.ResumePosition{Subject: "ticks.coinbase.BTC-USD", Epoch: 2, Seq: 1}) {
		t.Fatalf("second resubscribe: %s", fc.last)
	}
	fc.send(protocol.EncodeError(protocol.EncodingJSON, cmd.ID, true, protocol.Errorf(protocol.CodeInvalidOption, "not stored")))
	fc.ok(fc.expect(protocol.OpSubscribe))
	testsupport.WaitFor(t, "connected", 5*time.Second, func() bool { return c.State() == client.StateConnected })

	fc.close(protocol.CloseShutdown)
	fc = f.accept(resumeHello())
	cmd = fc.expect(protocol.OpSubscribe)
	if len(cmd.Resume) != 0 || !cmd.Snapshot {
		t.Fatalf("third resubscribe: %s, want a snapshot without positions", fc.last)
	}
	fc.ok(cmd)
	testsupport.WaitFor(t, "connected", 5*time.Second, func() bool { return c.State() == client.StateConnected })
	want := "ticks.*.BTC-USD=snapshot ticks.*.BTC-USD=snapshot ticks.*.BTC-USD=snapshot"
	if got := rec.String(); got != want {
		t.Fatalf("OnRecovered calls %q, want %q", got, want)
	}
	if sub.Err() != nil {
		t.Fatalf("subscription ended: %v", sub.Err())
	}
}

// A hub that offers no resume gets no positions, only a snapshot request.
func TestNoResumeWithoutResumeWindow(t *testing.T) {
	f := newFakeHub(t)
	c, fc := dialFake(t, f, nil, hello(), nil)
	sub, _ := subscribeFake(t, c, fc, "jobs.acme.>", client.SubscribeOptions{})
	fc.batch(protocol.Event{Subject: "jobs.acme.a", Epoch: 1, Seq: 1})
	collect(t, sub, 1, 5*time.Second)
	fc.close(protocol.CloseShutdown)
	fc = f.accept(hello())
	if cmd := fc.expect(protocol.OpSubscribe); len(cmd.Resume) != 0 || !cmd.Snapshot {
		t.Fatalf("resubscribe %s", fc.last)
	}
}

// Resume positions are cut, oldest first, to fit the hub's frame limit.
func TestResumePositionsFitTheFrameLimit(t *testing.T) {
	f := newFakeHub(t)
	h := resumeHello()
	h.Limits.MaxFrameBytes = 400
	c, fc := dialFake(t, f, nil, h, nil)
	sub, _ := subscribeFake(t, c, fc, "jobs.acme.>", client.SubscribeOptions{})
	var evs []protocol.Event
	for i := range 20 {
		evs = append(evs, protocol.Event{Subject: "jobs.acme.a-long-job-name-" + string(rune('a'+i)), Epoch: 1, Seq: uint64(i + 1)})
	}
	fc.batch(evs...)
	collect(t, sub, 20, 5*time.Second)
	fc.close(protocol.CloseShutdown)
	fc = f.accept(h)
	cmd := fc.expect(protocol.OpSubscribe)
	if len(fc.last) > 400 || len(cmd.Resume) == 0 || len(cmd.Resume) >= protocol.MaxSubjectsPerCommand {
		t.Fatalf("%d bytes with %d positions", len(fc.last), len(cmd.Resume))
	}
	if cmd.Resume[0].Seq != 20 || cmd.Resume[len(cmd.Resume)-1].Seq != uint64(20-len(cmd.Resume)+1) {
		t.Fatalf("positions %+v, want the newest", cmd.Resume)
	}
}

// The client answers pings, and when the hub falls silent for twice its
// heartbeat it drops the connection and reconnects.
func TestSilentHubIsDropped(t *testing.T) {
	f := newFakeHub(t)
	h := hello()
	h.HeartbeatMS = 100
	var st states
	_, fc := dialFake(t, f, &client.Options{OnStateChange: st.record}, h, nil)
	fc.send(protocol.EncodePing(protocol.EncodingJSON, 1))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, frame, err := fc.ws.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cmd, perr := protocol.DecodeCommand(protocol.EncodingJSON, frame); perr != nil || cmd.Op != protocol.OpPong {
		t.Fatalf("answer to ping: %s", frame)
	}
	// From here on the fake hub says nothing.
	f.accept(h)
	testsupport.WaitFor(t, "connected again", 5*time.Second, func() bool { return st.String() == "connected reconnecting connected" })
}

// The hub closing with a code that forbids reconnecting stops the client.
func TestTerminalCloseStopsClient(t *testing.T) {
	for _, code := range []protocol.CloseCode{protocol.CloseForbidden, protocol.CloseKeyRevoked, protocol.CloseNormal, protocol.CloseTooBig} {
		t.Run(code.String(), func(t *testing.T) {
			f := newFakeHub(t)
			var st states
			c, fc := dialFake(t, f, &client.Options{OnStateChange: st.record}, hello(), nil)
			sub, _ := subscribeFake(t, c, fc, "ticks.>", client.SubscribeOptions{})
			fc.close(code)
			select {
			case <-c.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the client did not stop")
			}
			var ce *client.CloseError
			if !errors.As(c.Err(), &ce) || ce.Code != int(code) || ce.Reason != code.String() {
				t.Fatalf("Err %v, want close code %d", c.Err(), code)
			}
			if _, ok := <-sub.C(); ok || !errors.As(sub.Err(), &ce) {
				t.Fatalf("subscription after the close: %v", sub.Err())
			}
			if got := st.String(); got != "connected closed" {
				t.Fatalf("states %q", got)
			}
			if len(f.conns) != 0 {
				t.Fatal("the client reconnected")
			}
			if _, err := c.Subscribe(context.Background(), "x", client.SubscribeOptions{}); !errors.As(err, &ce) {
				t.Fatalf("subscribe after the close: %v", err)
			}
		})
	}
}

// Close closes the connection with 1000, the code after which a hub
// expects no reconnect.
func TestCloseSendsNormalClosure(t *testing.T) {
	f := newFakeHub(t)
	c, fc := dialFake(t, f, nil, hello(), nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := fc.ws.Read(ctx)
	if code := websocket.CloseStatus(err); code != websocket.StatusNormalClosure {
		t.Fatalf("the hub read %v, want a 1000 close", err)
	}
	<-done
	if len(f.conns) != 0 {
		t.Fatal("the client reconnected after Close")
	}
}

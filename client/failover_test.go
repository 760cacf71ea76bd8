package client_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/streamhub/streamhub/client"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// deadURL returns a ws URL on a loopback port nothing listens on.
func deadURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "ws://" + addr + "/v1/ws"
}

// dialURLs dials urls[0] with the others as fallbacks, without waiting
// for any fake hub to accept; the caller accepts.
func dialURLs(t testing.TB, opts *client.Options, urls ...string) <-chan *client.Client {
	t.Helper()
	opts.Encoding = client.EncodingJSON
	opts.FallbackURLs = urls[1:]
	if opts.Backoff == (client.Backoff{}) {
		opts.Backoff = client.Backoff{Base: 10 * time.Millisecond, Cap: 50 * time.Millisecond}
	}
	out := make(chan *client.Client, 1)
	var mu sync.Mutex
	var c *client.Client
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if c != nil {
			_ = c.Close()
		}
	})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cl, err := client.Dial(ctx, urls[0], "", opts)
		if err != nil {
			t.Errorf("dial %v: %v", urls, err)
			close(out)
			return
		}
		mu.Lock()
		c = cl
		mu.Unlock()
		out <- cl
	}()
	return out
}

// subscribedOn dials urls (the first with the others as fallbacks),
// accepts on hub, subscribes to jobs.acme.> and delivers one event at
// position (9, 7).
func subscribedOn(t testing.TB, hub *fakeHub, rec *recoveries, urls ...string) (*client.Client, *client.Subscription, *fakeConn) {
	t.Helper()
	cc := dialURLs(t, &client.Options{OnRecovered: rec.record}, urls...)
	fc := hub.accept(resumeHello())
	c := <-cc
	if c == nil {
		t.FailNow()
	}
	sub, _ := subscribeFake(t, c, fc, "jobs.acme.>", client.SubscribeOptions{})
	fc.batch(protocol.Event{Subject: "jobs.acme.a", Epoch: 9, Seq: 7})
	collect(t, sub, 1, 5*time.Second)
	return c, sub, fc
}

// Dial tries the fallback URLs when the first hub is down; a lost
// connection goes to the next hub, and the subscription resumes there from
// the positions it saw on the first.
func TestFailoverToTheNextHub(t *testing.T) {
	a, b := newFakeHub(t), newFakeHub(t)
	var rec recoveries
	_, sub, fa := subscribedOn(t, a, &rec, deadURL(t), a.url(), b.url())

	fa.end() // hub A dies without a close frame
	fb := b.accept(resumeHello())
	cmd := fb.expect(protocol.OpSubscribe)
	if len(cmd.Resume) != 1 || cmd.Resume[0] != (protocol.ResumePosition{Subject: "jobs.acme.a", Epoch: 9, Seq: 7}) {
		t.Fatalf("resubscribe on hub B: %s, want the position seen on hub A", fb.last)
	}
	fb.send(protocol.EncodeSubscribeOK(protocol.EncodingJSON, cmd.ID, true, protocol.SubscribeResult{Resumed: true, Recovered: true}))
	fb.batch(protocol.Event{Subject: "jobs.acme.a", Epoch: 9, Seq: 8})
	if ev := collect(t, sub, 1, 5*time.Second)[0]; ev.Seq != 8 {
		t.Fatalf("on hub B got seq %d, want 8", ev.Seq)
	}
	testsupport.WaitFor(t, "recovered on hub B", 5*time.Second, func() bool { return rec.String() == "jobs.acme.>=recovered" })
}

// A resume the hub fails with internal (its history read failed) is asked
// again, never replaced by a snapshot that would skip the missed events;
// when the hub keeps failing, the client moves to the next hub and resumes
// there. The subscription never ends.
func TestFailedResumeIsRetriedNotSnapshotted(t *testing.T) {
	a, b := newFakeHub(t), newFakeHub(t)
	var rec recoveries
	c, sub, fa := subscribedOn(t, a, &rec, a.url(), b.url())
	fa.close(protocol.CloseShutdown)

	// Hub B fails every resume: six tries on its connection, then the
	// client leaves it.
	fb := b.accept(resumeHello())
	for i := range 6 {
		cmd := fb.expect(protocol.OpSubscribe)
		if len(cmd.Resume) != 1 || cmd.Snapshot {
			t.Fatalf("try %d on hub B: %s, want the resume again", i+1, fb.last)
		}
		fb.send(protocol.EncodeResumeError(protocol.EncodingJSON, cmd.ID, true, protocol.Errorf(protocol.CodeInternal, "history: no responders")))
	}
	// Back to hub A, where the resume works.
	fa = a.accept(resumeHello())
	cmd := fa.expect(protocol.OpSubscribe)
	if len(cmd.Resume) != 1 || cmd.Snapshot {
		t.Fatalf("on hub A again: %s, want the resume", fa.last)
	}
	fa.send(protocol.EncodeSubscribeOK(protocol.EncodingJSON, cmd.ID, true, protocol.SubscribeResult{Resumed: true, Recovered: true}))
	testsupport.WaitFor(t, "connected", 10*time.Second, func() bool { return c.State() == client.StateConnected })
	if err := sub.Err(); err != nil {
		t.Fatalf("the subscription ended: %v", err)
	}
	if got := rec.String(); got != "jobs.acme.>=recovered" {
		t.Fatalf("OnRecovered calls %q, want one recovered", got)
	}
}

// A SubscribeFunc user is told when the hub refuses the resubscribe for
// good (here forbidden): the handler sees the last event, then OnEnd the
// hub's error.
func TestSubscribeFuncToldWhenItEnds(t *testing.T) {
	f := newFakeHub(t)
	c, fc := dialFake(t, f, &client.Options{}, resumeHello(), nil)
	ended := make(chan error, 1)
	got := make(chan client.Event, 4)
	res := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.SubscribeFunc(ctx, "jobs.acme.>", client.SubscribeOptions{OnEnd: func(err error) { ended <- err }},
			func(ev client.Event) { got <- ev })
		res <- err
	}()
	fc.ok(fc.expect(protocol.OpSubscribe))
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	fc.batch(protocol.Event{Subject: "jobs.acme.a", Epoch: 9, Seq: 1})
	<-got
	fc.close(protocol.CloseShutdown)
	fc = f.accept(resumeHello())
	cmd := fc.expect(protocol.OpSubscribe)
	fc.send(protocol.EncodeResumeError(protocol.EncodingJSON, cmd.ID, true, protocol.Errorf(protocol.CodeForbidden, "scope revoked")))
	cmd = fc.expect(protocol.OpSubscribe) // the snapshot subscribe
	fc.send(protocol.EncodeError(protocol.EncodingJSON, cmd.ID, true, protocol.Errorf(protocol.CodeForbidden, "scope revoked")))
	select {
	case err := <-ended:
		var he *client.Error
		if !errors.As(err, &he) || he.Code != client.CodeForbidden {
			t.Fatalf("OnEnd got %v, want the hub's forbidden", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnEnd was not called")
	}
}

// The upstream_reconnected notice tells the application, through
// OnRecovered(false), which subscriptions may have missed ticks: those
// reaching beyond the stored families.
func TestUpstreamReconnectedNotice(t *testing.T) {
	f := newFakeHub(t)
	var rec recoveries
	c, fc := dialFake(t, f, &client.Options{OnRecovered: rec.record}, resumeHello(), nil)
	subscribeFake(t, c, fc, "ticks.*.BTC-USD", client.SubscribeOptions{})
	subscribeFake(t, c, fc, "jobs.acme.>", client.SubscribeOptions{})
	fc.send(protocol.EncodeNotice(protocol.EncodingJSON, protocol.NoticeUpstreamReconnected, "ticks missed", time.Now().UnixMilli()))
	testsupport.WaitFor(t, "OnRecovered for the tick subscription", 5*time.Second, func() bool {
		return rec.String() == "ticks.*.BTC-USD=snapshot"
	})
	if got := rec.String(); got != "ticks.*.BTC-USD=snapshot" {
		t.Fatalf("OnRecovered calls %q", got)
	}
}

// A first Subscribe the hub answers with internal (it could not serve it
// just now) is asked again, and succeeds.
func TestSubscribeAsksAgainAfterInternal(t *testing.T) {
	f := newFakeHub(t)
	c, fc := dialFake(t, f, &client.Options{}, hello(), nil)
	res := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := c.Subscribe(ctx, "jobs.acme.>", client.SubscribeOptions{})
		res <- err
	}()
	for range 2 {
		cmd := fc.expect(protocol.OpSubscribe)
		fc.send(protocol.EncodeError(protocol.EncodingJSON, cmd.ID, true, protocol.Errorf(protocol.CodeInternal, "not connected to NATS")))
	}
	fc.ok(fc.expect(protocol.OpSubscribe))
	if err := <-res; err != nil {
		t.Fatalf("Subscribe after two internal answers: %v", err)
	}
}

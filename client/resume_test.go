package client_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/client"
	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/server"
	"github.com/streamhub/streamhub/internal/server/servertest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// A job listener whose hub stops resumes on a new hub instance (same NATS,
// same address) and gets every event it missed, exactly once, in order,
// with OnRecovered reporting true.
func TestResumeOnAnotherHubInstance(t *testing.T) {
	ns := bustest.StartNATS(t)
	hubCfg := func(listen string) func(*server.Config) {
		return func(c *server.Config) {
			c.NATSURL = ns.ClientURL()
			c.Listen = listen
		}
	}
	first := servertest.Start(t, hubCfg("127.0.0.1:0"))
	addr := first.Addr()
	var rec recoveries
	c := dial(t, first, &client.Options{OnRecovered: rec.record,
		Backoff: client.Backoff{Base: 20 * time.Millisecond, Cap: 200 * time.Millisecond}})
	sub := subscribe(t, c, "jobs.acme.>", client.SubscribeOptions{Policy: client.PolicyDropOldest, Buffer: 1024})
	waitForPattern(t, first, "jobs.acme.>")

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	next := 1
	publishN := func(n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for range n {
			if _, err := js.Publish(ctx, "jobs.acme.j1", []byte(`{"i":`+strconv.Itoa(next)+`}`)); err != nil {
				t.Fatal(err)
			}
			next++
		}
	}
	var got []client.Event
	publishN(100)
	got = append(got, collect(t, sub, 100, 10*time.Second)...)

	servertest.Shutdown(t, first)
	testsupport.WaitFor(t, "reconnecting", 5*time.Second, func() bool { return c.State() == client.StateReconnecting })
	publishN(100) // missed while no hub is up
	second := servertest.Start(t, hubCfg(addr))
	testsupport.WaitFor(t, "connected to the second hub", 10*time.Second, func() bool { return c.State() == client.StateConnected })
	waitForPattern(t, second, "jobs.acme.>")
	publishN(50)
	got = append(got, collect(t, sub, 150, 10*time.Second)...)

	for i, ev := range got {
		var d struct{ I int }
		if err := ev.Decode(&d); err != nil {
			t.Fatal(err)
		}
		if d.I != i+1 || (i > 0 && ev.Seq <= got[i-1].Seq) {
			t.Fatalf("event %d: i=%d seq=%d (previous seq %d)", i, d.I, ev.Seq, got[max(i-1, 0)].Seq)
		}
	}
	if r := rec.String(); r != "jobs.acme.>=recovered" {
		t.Fatalf("OnRecovered calls %q", r)
	}
	select {
	case ev := <-sub.C():
		t.Fatalf("an extra event: %+v", ev)
	default:
	}
}

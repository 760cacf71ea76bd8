package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/streamhub/streamhub/client"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/server"
	"github.com/streamhub/streamhub/internal/server/servertest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// The hub the client is connected to shuts down (4000) and a new one comes
// up on the same address: the client reconnects, resubscribes, and events
// flow again on the same subscription.
func TestReconnectToNewHubOnSameAddress(t *testing.T) {
	cfg := func(listen string) func(*server.Config) {
		return func(c *server.Config) {
			fastDemo(c)
			c.Listen = listen
		}
	}
	first := servertest.Start(t, cfg("127.0.0.1:0"))
	addr := first.Addr()
	var st states
	c := dial(t, first, &client.Options{
		OnStateChange: st.record,
		Backoff:       client.Backoff{Base: 20 * time.Millisecond, Cap: 200 * time.Millisecond},
	})
	sub := subscribe(t, c, "ticks.*.BTC-USD", client.SubscribeOptions{Buffer: 4096})
	before := collect(t, sub, 1, 5*time.Second)[0]

	servertest.Shutdown(t, first)
	testsupport.WaitFor(t, "reconnecting", 5*time.Second, func() bool { return c.State() == client.StateReconnecting })

	second := servertest.Start(t, cfg(addr))
	testsupport.WaitFor(t, "connected again", 10*time.Second, func() bool { return c.State() == client.StateConnected })
	if got := st.String(); got != "connected reconnecting connected" {
		t.Fatalf("state changes %q", got)
	}
	// Events from the new hub (a new epoch) flow on the same subscription.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev := collect(t, sub, 1, time.Until(deadline))[0]
		if ev.Epoch != before.Epoch {
			break
		}
	}
	if sub.Err() != nil {
		t.Fatalf("subscription ended: %v", sub.Err())
	}
	if n := second.Hub().NumClients(); n != 1 {
		t.Fatalf("the new hub has %d clients", n)
	}
}

// A hub with a short heartbeat closes clients that do not answer pings;
// this client answers them and keeps its one connection.
func TestHeartbeatsAreAnswered(t *testing.T) {
	s := servertest.Start(t, func(c *server.Config) {
		fastDemo(c)
		c.Gateway.Heartbeat = 150 * time.Millisecond // short, yet robust to a loaded machine
	})
	var st states
	c := dial(t, s, &client.Options{OnStateChange: st.record})
	// Only one command is ever sent: from then on only pongs keep the hub
	// from closing the client, for a window of many heartbeats.
	sub := subscribe(t, c, "ticks.*.BTC-USD", client.SubscribeOptions{Policy: client.PolicyDropOldest, Buffer: 1024})
	collect(t, sub, 120, 10*time.Second)
	if n := s.Hub().Stats().Disconnects[fanout.ReasonHeartbeatTimeout]; n != 0 {
		t.Fatalf("the hub closed %d clients for silence", n)
	}
	if got := st.String(); got != "connected" {
		t.Fatalf("state changes %q", got)
	}
}

// Subscribe while the client is reconnecting waits for the connection.
func TestSubscribeWhileReconnecting(t *testing.T) {
	first := servertest.Start(t, fastDemo)
	addr := first.Addr()
	c := dial(t, first, &client.Options{Backoff: client.Backoff{Base: 20 * time.Millisecond, Cap: 100 * time.Millisecond}})
	servertest.Shutdown(t, first)
	testsupport.WaitFor(t, "reconnecting", 5*time.Second, func() bool { return c.State() == client.StateReconnecting })

	type result struct {
		sub *client.Subscription
		err error
	}
	res := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		sub, err := c.Subscribe(ctx, "ticks.binance.ETH-USD", client.SubscribeOptions{})
		res <- result{sub, err}
	}()
	servertest.Start(t, func(cfg *server.Config) {
		fastDemo(cfg)
		cfg.Listen = addr
	})
	r := <-res
	if r.err != nil {
		t.Fatalf("subscribe across the reconnect: %v", r.err)
	}
	if ev := collect(t, r.sub, 1, 5*time.Second)[0]; ev.Subject != "ticks.binance.ETH-USD" {
		t.Fatalf("got %s", ev.Subject)
	}
}

package client_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/streamhub/streamhub/client"
	"github.com/streamhub/streamhub/internal/server"
	"github.com/streamhub/streamhub/internal/upstream"
)

// exampleHub is an in-process hub with fast demo feeds, run without
// authentication (like `hub serve --demo --insecure-no-auth`), so the
// examples are self-contained. Against a real hub, pass your API key to
// Dial instead of "".
type exampleHub struct {
	*server.Server
	dir string
}

func startExampleHub() (*exampleHub, error) {
	dir, err := os.MkdirTemp("", "streamhub-example")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := server.Start(ctx, server.Config{
		Listen: "127.0.0.1:0", NATSListen: "127.0.0.1:-1", DataDir: dir,
		InsecureNoAuth: true, Demo: true,
		DemoConfig: upstream.Config{TickInterval: 20 * time.Millisecond, JobStepInterval: 30 * time.Millisecond},
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &exampleHub{Server: s, dir: dir}, nil
}

func (h *exampleHub) url() string { return "ws://" + h.Addr() + "/v1/ws" }

func (h *exampleHub) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = h.Shutdown(ctx)
	_ = os.RemoveAll(h.dir)
}

// A trading agent subscribes to BTC-USD on every venue and decodes ticks.
func Example_subscribeTicks() {
	hub, err := startExampleHub()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer hub.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, hub.url(), "", nil) // msgpack by default
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	sub, err := c.Subscribe(ctx, "ticks.*.BTC-USD", client.SubscribeOptions{MaxRate: 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	select {
	case ev := <-sub.C():
		var tick client.Tick
		if err := ev.Decode(&tick); err != nil {
			fmt.Println(err)
			return
		}
		venue := strings.Split(ev.Subject, ".")[1]
		fmt.Println(strings.HasPrefix(ev.Subject, "ticks."), tick.Symbol, venue == tick.Venue, tick.Last != "")
	case <-ctx.Done():
		fmt.Println("no tick")
	}
	// Output: true BTC-USD true true
}

// A job listener handles progress events with a callback, in JSON, and
// watches the connection state.
func ExampleClient_SubscribeFunc() {
	hub, err := startExampleHub()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer hub.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, hub.url(), "", &client.Options{
		Encoding:      client.EncodingJSON,
		OnStateChange: func(s client.State) { fmt.Println("state:", s) },
		OnGap:         func(g client.Gap) { /* refetch g.Subject from g.From to g.To */ },
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	first := make(chan client.JobProgress, 1)
	_, err = c.SubscribeFunc(ctx, "jobs.acme.>", client.SubscribeOptions{Policy: client.PolicyDropOldest}, func(ev client.Event) {
		var p client.JobProgress
		if ev.Decode(&p) == nil {
			select {
			case first <- p:
			default:
			}
		}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	select {
	case p := <-first:
		fmt.Println("tenant:", p.Tenant)
	case <-ctx.Done():
		fmt.Println("no job event")
	}
	_ = c.Close()
	// Output:
	// state: connected
	// tenant: acme
	// state: closed
}

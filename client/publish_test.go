package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/streamhub/streamhub/client"
	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/server"
	"github.com/streamhub/streamhub/internal/server/servertest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// publishWhenKnown retries p.Publish until the hub's store has seen the
// new key (it follows the bucket asynchronously).
func publishWhenKnown(t *testing.T, p *client.Publisher, m client.PublishMessage) client.PublishResult {
	t.Helper()
	var res client.PublishResult
	testsupport.WaitFor(t, "the hub to accept the new key", 10*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		res, err = p.Publish(ctx, m)
		return err == nil
	})
	return res
}

// Publish and PublishBatch against a real hub: acknowledged stored
// messages with their sequence, idempotent retries, per-message refusals,
// and signing with the key's secret.
func TestPublisherAgainstAHub(t *testing.T) {
	s := servertest.Start(t, func(c *server.Config) { c.InsecureNoAuth = false })
	key, secret := createKeyWith(t, s, auth.CreateRequest{Publish: []string{"jobs.acme.>"}, SignedPublish: true})
	p, err := client.NewPublisher("ws://"+s.Addr()+"/v1/ws", key, &client.PublisherOptions{SigningSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	m := client.PublishMessage{Subject: "jobs.acme.j1", Data: map[string]any{"state": "running", "percent": 5}, IdempotencyKey: "run-1"}
	first := publishWhenKnown(t, p, m)
	if first.Stream != "JOBS" || first.Seq == 0 || first.Duplicate || first.Err != nil {
		t.Fatalf("first publish %+v", first)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	again, err := p.Publish(ctx, m)
	if err != nil || !again.Duplicate || again.Seq != first.Seq {
		t.Fatalf("retry %+v %v, want a duplicate of seq %d", again, err, first.Seq)
	}

	res, err := p.PublishBatch(ctx, []client.PublishMessage{
		{Subject: "jobs.acme.j1", Data: json.RawMessage(`{"percent":50}`)},
		{Subject: "jobs.other.j1", Data: json.RawMessage(`{"percent":50}`)},
		{Subject: "jobs.acme.j1", Data: map[string]any{"state": "done"}, Critical: true},
	}, "batch-1")
	if err != nil || len(res) != 3 {
		t.Fatalf("batch: %v %v", res, err)
	}
	var he *client.Error
	if res[0].Err != nil || res[2].Err != nil || res[2].Seq <= res[0].Seq || !errors.As(res[1].Err, &he) || he.Code != client.CodeForbidden {
		t.Fatalf("batch results %+v, want 1 and 3 stored in order and 2 forbidden", res)
	}

	unsigned, _ := client.NewPublisher("http://"+s.Addr(), key, nil)
	_, err = unsigned.Publish(ctx, m)
	if !errors.As(err, &he) || he.Code != client.CodeSignatureRequired || !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("unsigned publish with a signed-only key: %v", err)
	}
	if _, err := client.NewPublisher("nats://x", key, nil); err == nil {
		t.Fatal("a nats:// URL was accepted")
	}
}

// A dialed Client publishes over the HTTP API of the hub it dialed, with
// its key, and asks for compression when told to.
func TestClientPublishesThroughItsHub(t *testing.T) {
	s := servertest.Start(t, func(c *server.Config) {
		c.InsecureNoAuth = false
		c.Gateway.Compression = true
	})
	key, _ := createKeyWith(t, s, auth.CreateRequest{Subscribe: []string{"jobs.acme.>"}, Publish: []string{"jobs.acme.>"}})
	c := dialKey(t, s, key, &client.Options{Compression: true})
	defer c.Close()
	sub, err := c.Subscribe(context.Background(), "jobs.acme.>", client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := c.Publish(ctx, client.PublishMessage{Subject: "jobs.acme.j7", Data: map[string]int{"percent": 70}})
	if err != nil || res.Seq == 0 {
		t.Fatalf("publish: %+v %v", res, err)
	}
	batch, err := c.PublishBatch(ctx, []client.PublishMessage{{Subject: "jobs.acme.j7", Data: map[string]int{"percent": 80}}}, "")
	if err != nil || batch[0].Err != nil || batch[0].Seq <= res.Seq {
		t.Fatalf("publish batch: %+v %v", batch, err)
	}
	for _, want := range []uint64{res.Seq, batch[0].Seq} {
		select {
		case ev := <-sub.C():
			if ev.Seq != want {
				t.Fatalf("event seq %d, want %d", ev.Seq, want)
			}
		case <-ctx.Done():
			t.Fatal("the published events did not arrive")
		}
	}
}

package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// A key's connections, subscriptions, deliveries and publishes are counted
// on the hub, flushed to the usage bucket (what `hub keys show` reads), and
// exported with a series of its own only when the key is metered.
func TestKeyUsageCountedFlushedAndMetered(t *testing.T) {
	e := newAuthEnv(t)
	s, _ := e.hub(t, func(c *Config) { c.UsageFlushInterval = 100 * time.Millisecond })
	secret, rec := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}, Publish: []string{"ticks.>"}, Metered: true})
	other, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}})

	c := dialKey(t, s, secret)
	c.subscribe(protocol.Command{}, "ticks.x.*", "ticks.z.a")
	dialKey(t, s, other).subscribe(protocol.Command{}, "ticks.y.a")
	waitPatterns(t, s, "ticks.x.*", "ticks.z.a", "ticks.y.a")
	nc := natsPublisher(t, s)
	const n = 5 // on distinct subjects: ticks are conflated per subject
	for i := range n {
		if err := nc.Publish(fmt.Sprintf("ticks.x.s%d", i), fmt.Appendf(nil, `{"i":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	c.events(10*time.Second, func(evs []protocol.EventFrame) bool { return len(evs) >= n })
	if r := callAPI(t, s, http.MethodPost, "/v1/publish", secret,
		strings.NewReader(`{"messages":[{"subject":"ticks.x.p1","data":{}},{"subject":"ticks.x.p2","data":{}}]}`), nil); r.status != http.StatusOK {
		t.Fatalf("publish: %d %s", r.status, r.body)
	}
	c.events(10*time.Second, func(evs []protocol.EventFrame) bool { return len(evs) >= 2 })

	js, err := jetstream.New(natsPublisher(t, s))
	if err != nil {
		t.Fatal(err)
	}
	var u auth.UsageCounts
	testsupport.WaitFor(t, "the usage flushed to the bucket", 20*time.Second, func() bool {
		u, err = auth.ReadUsage(ctx10(t), js, "", rec.ID)
		return err == nil && u.Messages >= n+2
	})
	if u.Messages != n+2 {
		t.Fatalf("%d messages delivered, want %d", u.Messages, n+2)
	}
	if u.Connections != 1 || u.Subscriptions != 2 || u.Publishes != 2 || u.Bytes < 100 ||
		time.Since(u.LastUsed) > time.Minute {
		t.Fatalf("usage %+v", u)
	}
	m := scrape(t, s)
	for _, want := range []string{
		`streamhub_key_messages_delivered_total{key_id="` + rec.ID + `"} 7`,
		`streamhub_key_subscriptions_total{key_id="` + rec.ID + `"} 2`,
		`streamhub_key_publishes_total{key_id="` + rec.ID + `"} 2`,
		`streamhub_key_connections_total{key_id="_other"} 1`,
		`streamhub_key_subscriptions_total{key_id="_other"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, grepLines(m, "streamhub_key_"))
		}
	}
	if strings.Count(m, "streamhub_key_connections_total{") != 2 {
		t.Errorf("one series per metered key plus _other, got:\n%s", grepLines(m, "streamhub_key_connections_total"))
	}
}

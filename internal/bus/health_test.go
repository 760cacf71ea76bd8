package bus

import (
	"context"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// A JetStream that does not answer (here: a server without it) keeps the
// hub healthy for the grace a cluster election needs, then not; the answer
// says why. A lost connection is unhealthy at once.
func TestHealthJetStreamGraceAndLostConnection(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	c := connect(t, ConnConfig{URLs: ns.ClientURL()})
	js, err := jetstream.New(c.NATS())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	h := StartHealth(ctx, c, js, HealthConfig{Interval: 50 * time.Millisecond, Timeout: 200 * time.Millisecond, JetStreamGrace: 600 * time.Millisecond})
	defer h.Close()
	if !h.Healthy() {
		t.Fatalf("unhealthy within the JetStream grace: %v", h.Err())
	}
	testsupport.WaitFor(t, "unhealthy after the grace", waitTimeout, func() bool { return !h.Healthy() })
	if err := h.Err(); err == nil || !strings.Contains(err.Error(), "JetStream not answering") {
		t.Fatalf("Err = %v, want it to say JetStream does not answer", err)
	}

	ns.Shutdown()
	testsupport.WaitFor(t, "unhealthy for the lost connection", waitTimeout, func() bool {
		err := h.Err()
		return err != nil && strings.Contains(err.Error(), "not connected")
	})
}

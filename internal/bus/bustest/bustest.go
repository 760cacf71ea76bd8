// Package bustest starts the NATS servers that tests need, so that each
// package's tests do not keep their own copy. Only tests import it.
package bustest

import (
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/streamhub/streamhub/internal/bus"
)

// StartNATS runs a plain nats-server with JetStream on a random loopback
// port, with no authentication, standing for an external NATS; it is shut
// down when the test ends. Its URL is ClientURL().
func StartNATS(t testing.TB) *natsserver.Server {
	t.Helper()
	return StartNATSWith(t, nil)
}

// StartNATSWith is StartNATS with options that mutate changes first: a
// server configured for a token, nkeys, TLS or an operator, as a real
// cluster may be.
func StartNATSWith(t testing.TB, mutate func(*natsserver.Options)) *natsserver.Server {
	t.Helper()
	return startNATS(t, -1, t.TempDir(), mutate)
}

// StartNATSAt is StartNATS on a given loopback port (-1: a free one) with
// its JetStream store in dir, so that a test can stop a server and start
// it again where its clients expect it, with its streams. It is shut down
// when the test ends, unless the test did so first.
func StartNATSAt(t testing.TB, port int, dir string) *natsserver.Server {
	t.Helper()
	return startNATS(t, port, dir, nil)
}

func startNATS(t testing.TB, port int, dir string, mutate func(*natsserver.Options)) *natsserver.Server {
	t.Helper()
	opts := &natsserver.Options{Host: "127.0.0.1", Port: port, JetStream: true,
		StoreDir: dir, NoSigs: true, NoLog: true}
	if mutate != nil {
		mutate(opts)
	}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// StartEmbedded starts the hub's own embedded nats-server (JetStream, the
// credentials it generates) on a random loopback port with its store in a
// fresh directory, as a running hub has it; it is shut down when the test
// ends. The directory holds the credentials file the hub's commands read.
func StartEmbedded(t testing.TB) (e *bus.Embedded, dataDir string) {
	t.Helper()
	dataDir = t.TempDir()
	e, err := bus.StartEmbedded(bus.EmbeddedConfig{Port: -1, StoreDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e, dataDir
}

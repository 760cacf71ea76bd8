package loadgen

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATSWSConfig configures the peer broker: a nats-server with its
// WebSocket listener enabled, as the nats-ws target of a run. The zero
// value of each field means the default its comment states.
type NATSWSConfig struct {
	// Host is the interface of both listeners. Default 127.0.0.1; only
	// loopback addresses are accepted.
	Host string
	// Port is the NATS client port (the publisher's). 0 or -1: any free
	// port.
	Port int
	// WSPort is the WebSocket port (the clients'), plain ws:// without
	// TLS or compression. 0 or -1: any free port.
	WSPort int
}

// NATSWS is a running in-process peer broker.
type NATSWS struct{ srv *server.Server }

// StartNATSWS starts the peer broker in this process: a plain nats-server
// (no JetStream, no auth, no logs, no signal handlers) with
// `websocket { listen: HOST:WSPORT, no_tls: true }`, and waits up to 10 s
// until it accepts connections. The caller must call Shutdown.
func StartNATSWS(cfg NATSWSConfig) (*NATSWS, error) {
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if err := CheckLoopback(cfg.Host + ":0"); err != nil {
		return nil, err
	}
	port := func(p int) int {
		if p == 0 {
			return -1
		}
		return p
	}
	opts := &server.Options{
		Host: cfg.Host, Port: port(cfg.Port), NoSigs: true, NoLog: true,
		Websocket: server.WebsocketOpts{Host: cfg.Host, Port: port(cfg.WSPort), NoTLS: true},
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("loadgen: nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("loadgen: nats-server on %s ports %d/%d not ready after 10 s", cfg.Host, cfg.Port, cfg.WSPort)
	}
	return &NATSWS{srv: srv}, nil
}

// ClientURL is the NATS URL for the publisher: nats://HOST:PORT.
func (n *NATSWS) ClientURL() string { return n.srv.ClientURL() }

// WSURL is the WebSocket URL for the clients: ws://HOST:WSPORT.
func (n *NATSWS) WSURL() string { return n.srv.WebsocketURL() }

// Shutdown stops the server and waits until it has stopped.
func (n *NATSWS) Shutdown() {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}

// ServeNATSWS runs the peer broker until ctx is done: it is what the
// hidden "hub bench-nats-server" subcommand runs in the child process that
// [SpawnNATSWS] spawns.
func ServeNATSWS(ctx context.Context, cfg NATSWSConfig) error {
	n, err := StartNATSWS(cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	n.Shutdown()
	return nil
}

package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/gateway"
	"github.com/streamhub/streamhub/internal/history"
	"github.com/streamhub/streamhub/internal/upstream"
)

// Config is everything a hub instance needs. The zero value of each field
// means the default documented on it.
type Config struct {
	// Listen is the HTTP address (WebSocket, health, metrics, dashboard).
	// Default 127.0.0.1:8080. Port 0 picks a free port (see Server.Addr).
	Listen string
	// Listener, when set, is served instead of listening on Listen (for a
	// socket handed over by a supervisor, or a test that shapes the
	// connections). Once Start succeeds the hub owns it: Shutdown closes it.
	Listener net.Listener
	// NATSURL lists the NATS servers to use (comma-separated). Empty means
	// start an embedded nats-server (with JetStream) in this process.
	NATSURL string
	// NATSListen is the embedded server's client address, so external
	// publishers and the nats CLI can reach it. Default 127.0.0.1:4222;
	// port -1 picks a free port.
	NATSListen string
	// DataDir holds the embedded server's JetStream store. Default ./data.
	DataDir string
	// Demo runs the synthetic feeds (ticks, chain, jobs) against NATS.
	Demo bool
	// DemoConfig tunes the demo feeds; zero fields take upstream's defaults.
	DemoConfig upstream.Config
	// InsecureNoAuth serves without authentication: every connection may
	// subscribe to anything. Only for local development. Without it every
	// client needs an API key or a browser token.
	InsecureNoAuth bool
	// TrustedProxies are the networks whose X-Forwarded-For is believed
	// when checking a key's allowed networks. Default none.
	TrustedProxies []netip.Prefix
	// ShutdownTimeout bounds the graceful shutdown. Default 10 s.
	ShutdownTimeout time.Duration

	Fanout  fanout.Config
	Gateway gateway.Config
	Streams bus.StreamsConfig
	History history.Config

	// Logger receives the hub's logs. Nil discards.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.NATSListen == "" {
		c.NATSListen = "127.0.0.1:4222"
	}
	if c.DataDir == "" {
		c.DataDir = "./data"
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports configuration errors before anything starts.
func (c Config) Validate() error {
	c = c.withDefaults()
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("server: listen address %q: %w", c.Listen, err)
	}
	if _, _, err := net.SplitHostPort(c.NATSListen); c.NATSURL == "" && err != nil {
		return fmt.Errorf("server: NATS listen address %q: %w", c.NATSListen, err)
	}
	return nil
}

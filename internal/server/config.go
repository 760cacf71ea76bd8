package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/gateway"
	"github.com/streamhub/streamhub/internal/history"
	"github.com/streamhub/streamhub/internal/tracing"
	"github.com/streamhub/streamhub/internal/upstream"
)

// DefaultListen is the HTTP address of a hub whose Config.Listen is empty.
const DefaultListen = "127.0.0.1:8080"

// DefaultKeyExpiryWarning is Config.KeyExpiryWarning's default.
const DefaultKeyExpiryWarning = 7 * 24 * time.Hour

// BuildInfo identifies the binary a hub runs, for the streamhub_build_info
// metric. Empty fields are exported as "unknown".
type BuildInfo struct {
	Version   string // release version, or "dev"
	Commit    string // VCS revision the binary was built from
	GoVersion string // the Go toolchain, as runtime.Version reports it
}

// Config is everything a hub instance needs. The zero value of each field
// means the default documented on it.
type Config struct {
	// Listen is the HTTP address (WebSocket, health, metrics, dashboard).
	// Default DefaultListen (127.0.0.1:8080). Port 0 picks a free port (see Server.Addr).
	Listen string
	// Listener, when set, is served instead of listening on Listen (for a
	// socket handed over by a supervisor, or a test that shapes the
	// connections). The hub owns it once Start has it: Shutdown closes it,
	// and so does a Start that fails after taking it.
	Listener net.Listener
	// TLSCertFile and TLSKeyFile, both or neither, make the listener
	// serve TLS (1.2 or newer, HTTP/1.1) with this PEM certificate chain
	// and key, for deployments without a proxy in front; a renewed pair is
	// picked up within a second, without a restart. Default: plain HTTP
	// (put TLS in a proxy or load balancer in front).
	TLSCertFile, TLSKeyFile string
	// NATSURL lists the NATS servers to use (comma-separated). Empty means
	// start an embedded nats-server (with JetStream) in this process.
	NATSURL string
	// NATSCredentials are presented to the servers of NATSURL. Default
	// none (a URL may carry its own user info). The embedded server needs
	// none here: the hub uses the credentials it generated in DataDir.
	NATSCredentials bus.Credentials
	// NATSAuth adds a token, an nkey, a user JWT and TLS (CA, client
	// certificate) for the servers of NATSURL. Default none. Like
	// NATSCredentials it is refused without NATSURL.
	NATSAuth bus.ClientAuth
	// NATSPingInterval and NATSMaxPingsOut set how quickly a NATS server
	// that stops answering is noticed: after (NATSMaxPingsOut+1) ×
	// NATSPingInterval without a pong the hub moves to another server.
	// Defaults bus.DefaultPingInterval (1 s) and bus.DefaultMaxPingsOut
	// (2): a hung server is left within 3 s.
	NATSPingInterval time.Duration
	NATSMaxPingsOut  int
	// NATSListen is the embedded server's client address, so external
	// publishers and the nats CLI can reach it. Default 127.0.0.1:4222;
	// port -1 picks a free port.
	NATSListen string
	// DataDir holds the embedded server's JetStream store and the
	// credentials its clients must present (bus.CredentialsFile, mode
	// 0600, created on first start). Default ./data.
	DataDir string
	// Demo runs the synthetic feeds (ticks, chain, jobs) against NATS and
	// serves POST /v1/demo/token: read-only tokens for anyone who asks.
	// Default off. It is refused (Validate) unless Listen is a loopback
	// address and NATS is the embedded server: the feeds publish fake data
	// on real subject names, and the endpoint needs no credentials.
	Demo bool
	// DemoTokenRate and DemoTokenBurst bound POST /v1/demo/token per
	// source address (an IPv6 source is its /64), as a token bucket; past
	// them the answer is 429 with Retry-After. Defaults 1 per second,
	// burst 20.
	DemoTokenRate  float64
	DemoTokenBurst int
	// DemoConnsPerSource caps the demo connections of one source address,
	// so that no caller takes every demo slot (the demo key's connection
	// limit). Default 10.
	DemoConnsPerSource int
	// DemoAuditInterval is how often the demo token endpoint writes its
	// audit lines: one per source with the counts of tokens issued and
	// requests refused. Default 1 min.
	DemoAuditInterval time.Duration
	// DemoConfig tunes the demo feeds; zero fields take upstream's defaults.
	DemoConfig upstream.Config
	// InsecureNoAuth serves without authentication: every connection may
	// subscribe to anything. Only for local development. Without it every
	// client needs an API key or a browser token.
	InsecureNoAuth bool
	// PublicOrigins are the origins, "scheme://host[:port]", that browsers
	// reach this hub at (its dashboard's page); WebSocket upgrades from
	// them are allowed (see Gateway.AllowedOrigins for others). Default:
	// the listen address's http origins on loopback,
	// http://127.0.0.1:PORT and http://localhost:PORT (and
	// http://[::1]:PORT), plus http://IP:PORT when listening on one
	// specific other address. A hub reached by any other name (a DNS
	// name, https behind a proxy) must list it.
	PublicOrigins []string
	// TrustedProxies are the networks whose X-Forwarded-For is believed
	// when checking a key's allowed networks. Default none.
	TrustedProxies []netip.Prefix
	// ConnLeaseTTL is how long a hub's connection leases count without
	// renewal: the per-key connection limit is enforced across every hub
	// on the NATS cluster through leases in a KV bucket, renewed every
	// TTL/3, so those of a hub that died are freed within this time.
	// Default 30 s (auth.DefaultLeaseTTL).
	ConnLeaseTTL time.Duration
	// ShutdownTimeout bounds the graceful shutdown. Default 10 s.
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout bounds reading a request's headers, so that a
	// client cannot hold a connection by sending them slowly. Default 5 s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole ordinary request, body included
	// (POST /v1/tokens, /v1/publish). WebSocket connections are not
	// affected: net/http lifts a connection's deadlines when the upgrade
	// hijacks it (a test holds it to that).
	// Default 30 s.
	ReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no next
	// request for this long, so idle connections cannot pile up and use
	// every file descriptor. WebSocket connections are not affected (they
	// have their heartbeat). Default 60 s.
	IdleTimeout time.Duration

	// AuditMaxAge and AuditMaxBytes bound the audit journal's stream
	// (AUDIT); the oldest records go first. Defaults 90 days and 64 MiB.
	AuditMaxAge   time.Duration
	AuditMaxBytes int64
	// AuditWindow is the aggregation window of authentication failures
	// and limit hits in the journal. Default 1 min.
	AuditWindow time.Duration
	// UsageFlushInterval is how often this hub adds its per-key usage
	// counts to the shared bucket (streamhub_usage), which therefore lags
	// by up to this much. Default 10 s.
	UsageFlushInterval time.Duration
	// KeyExpiryWarning is how close to its expiry an active key is counted
	// by the streamhub_keys_expiring metric. Default 7 days.
	KeyExpiryWarning time.Duration

	// Tracing configures OpenTelemetry tracing of messages; off unless it
	// names an OTLP endpoint (or the OTEL_EXPORTER_OTLP_ENDPOINT variable
	// it reads through its Getenv is set).
	Tracing tracing.Config

	Fanout  fanout.Config
	Gateway gateway.Config
	Streams bus.StreamsConfig
	History history.Config

	// Logger receives the hub's logs. Nil discards.
	Logger *slog.Logger
	// Build is exported as streamhub_build_info; empty fields read
	// "unknown".
	Build BuildInfo
}

// defaultPublicOrigins are the origins (scheme http, or https with TLS) of the listener's address
// addr when no public origin is configured: the loopback names of its port
// (what a browser on this machine uses), and the address itself when it is
// one specific non-loopback IP.
func defaultPublicOrigins(addr net.Addr, scheme string) []string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil
	}
	port := strconv.Itoa(tcp.Port)
	out := []string{scheme + "://127.0.0.1:" + port, scheme + "://localhost:" + port, scheme + "://[::1]:" + port}
	if ip := tcp.IP; ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() {
		out = append(out, scheme+"://"+net.JoinHostPort(ip.String(), port))
	}
	return out
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
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
	if c.DemoTokenRate <= 0 {
		c.DemoTokenRate = 1
	}
	if c.DemoTokenBurst <= 0 {
		c.DemoTokenBurst = 20
	}
	if c.DemoConnsPerSource <= 0 {
		c.DemoConnsPerSource = 10
	}
	if c.DemoAuditInterval <= 0 {
		c.DemoAuditInterval = time.Minute
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = 5 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.KeyExpiryWarning <= 0 {
		c.KeyExpiryWarning = DefaultKeyExpiryWarning
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	for _, f := range []*string{&c.Build.Version, &c.Build.Commit, &c.Build.GoVersion} {
		if *f == "" {
			*f = "unknown"
		}
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
	if c.NATSURL == "" && (c.NATSAuth != (bus.ClientAuth{}) || !c.NATSCredentials.IsZero()) {
		return errors.New("server: NATS credentials and TLS settings are for --nats-url; the embedded server uses its own (in the data dir)")
	}
	if err := c.NATSAuth.Validate(); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("server: TLS needs both a certificate and its key (--tls-cert and --tls-key)")
	}
	if c.Demo && c.NATSURL != "" {
		return errors.New("server: demo mode runs only with the embedded NATS: its feeds publish fake data on real subject names (drop --demo or --nats-url)")
	}
	if c.Demo && !loopbackListen(c.Listen) {
		return fmt.Errorf("server: demo mode runs only on a loopback listen address, not %q: it hands out tokens without credentials (drop --demo or listen on 127.0.0.1)", c.Listen)
	}
	if c.NATSPingInterval < 0 || c.NATSMaxPingsOut < 0 {
		return fmt.Errorf("server: NATS ping interval %s and max pings out %d must not be negative", c.NATSPingInterval, c.NATSMaxPingsOut)
	}
	if r := c.Streams.Replicas; r < 0 || r > 5 {
		return fmt.Errorf("server: stream replicas %d: want 1 to 5 (NATS's limit; 3 on a three-node cluster)", r)
	}
	if err := c.Tracing.Validate(); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	for _, o := range c.PublicOrigins {
		if !auth.ValidOrigin(o) {
			return fmt.Errorf("server: public origin %q: want scheme://host[:port] with http or https", o)
		}
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/natsflag"
	"github.com/streamhub/streamhub/internal/server"
	"github.com/streamhub/streamhub/internal/tracing"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("hub serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg server.Config
	fs.StringVar(&cfg.Listen, "listen", server.DefaultListen, "HTTP address for WebSocket clients, health, metrics and the dashboard")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM certificate chain: serve HTTPS/WSS on --listen (TLS 1.2+) with it and --tls-key; renewed files are picked up within a second (default: plain HTTP, for a proxy in front)")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "NATS servers to use, comma-separated (nats://a:4222,nats://b:4222); empty starts an embedded nats-server")
	natsFlags := natsflag.Register(fs)
	fs.DurationVar(&cfg.NATSPingInterval, "nats-ping-interval", bus.DefaultPingInterval, "how often the hub pings its NATS server; one that leaves (--nats-max-pings-out)+1 pings unanswered is left for another server of the cluster")
	fs.IntVar(&cfg.NATSMaxPingsOut, "nats-max-pings-out", bus.DefaultMaxPingsOut, "unanswered NATS pings allowed before the server is declared stale (the defaults leave a hung server within 3 s)")
	fs.IntVar(&cfg.Streams.Replicas, "stream-replicas", bus.DefaultStreamReplicas, "copies of the CHAIN, JOBS and TICKS streams and of the key bucket on a NATS cluster (3 survives losing a server; 1 on a single server); applied at startup to existing streams too")
	fs.StringVar(&cfg.NATSListen, "nats-listen", "127.0.0.1:4222", "client address of the embedded nats-server (port -1: any free port)")
	fs.StringVar(&cfg.DataDir, "data-dir", "./data", "directory of the embedded nats-server's JetStream store")
	fs.BoolVar(&cfg.Demo, "demo", cfg.Demo, "publish synthetic ticks, chain signals and job progress, and hand out read-only demo tokens (loopback --listen and embedded NATS only)")
	fs.BoolVar(&cfg.InsecureNoAuth, "insecure-no-auth", false, "serve without authentication on any address (local development only)")
	fs.DurationVar(&cfg.ConnLeaseTTL, "conn-lease-ttl", auth.DefaultLeaseTTL, "a key's connection limit holds across all hubs on the NATS cluster through leases renewed every third of this; a crashed hub's connections stop counting within it")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take")
	fs.DurationVar(&cfg.Gateway.Heartbeat, "heartbeat", 15*time.Second, "server ping interval; clients silent for twice as long are closed")
	fs.IntVar(&cfg.Fanout.MaxQueueMessages, "max-queue-messages", 4096, "per-client queue bound in messages")
	fs.IntVar(&cfg.Fanout.MaxQueueBytes, "max-queue-bytes", 1<<20, "per-client queue bound in bytes")
	fs.IntVar(&cfg.Fanout.MaxSubscriptions, "max-subscriptions", 128, "subscriptions per connection")
	fs.BoolVar(&cfg.Gateway.Compression, "compression", false, "offer permessage-deflate to WebSocket clients that ask for it (no context takeover; costs CPU per connection and message, see docs/PERFORMANCE.md)")
	fs.IntVar(&cfg.Gateway.CompressionThreshold, "compression-threshold", 512, "with --compression, the smallest message compressed, in bytes")
	fs.IntVar(&cfg.Gateway.SendBuffer, "send-buffer", 256<<10, "each connection's kernel send buffer in bytes (negative: the kernel's default, which grows to MiBs and hides slow clients)")
	fs.DurationVar(&cfg.Fanout.WriteTimeout, "write-timeout", 10*time.Second, "how long one write to a client may take; a client that stops reading for longer is disconnected (4002), whatever its policies (announced in hello.limits)")
	fs.IntVar(&cfg.History.MaxSnapshot, "snapshot-max", 1000, "subjects one snapshot returns at most; past it the least recently changed are left out and the answer says truncated")
	fs.DurationVar(&cfg.Streams.ChainMaxAge, "chain-retention", 24*time.Hour, "how long chain signals are kept for resume (the CHAIN stream's max age)")
	fs.DurationVar(&cfg.Streams.JobsMaxAge, "jobs-retention", 24*time.Hour, "how long job progress is kept for resume (the JOBS stream's max age)")
	fs.Int64Var(&cfg.Streams.ChainMaxBytes, "chain-max-bytes", 256<<20, "size bound of the CHAIN stream; the oldest messages go first")
	fs.Int64Var(&cfg.Streams.JobsMaxBytes, "jobs-max-bytes", 256<<20, "size bound of the JOBS stream; the oldest messages go first")
	fs.DurationVar(&cfg.AuditMaxAge, "audit-retention", auth.DefaultAuditMaxAge, "how long key audit records are kept (the AUDIT stream's max age)")
	fs.Int64Var(&cfg.AuditMaxBytes, "audit-max-bytes", auth.DefaultAuditMaxBytes, "size bound of the AUDIT stream; the oldest records go first")
	fs.DurationVar(&cfg.KeyExpiryWarning, "key-expiry-warning", server.DefaultKeyExpiryWarning, "keys expiring within this long are counted by the streamhub_keys_expiring metric")
	fs.StringVar(&cfg.Tracing.Endpoint, "otlp-endpoint", "", "OpenTelemetry collector URL for traces (OTLP/HTTP), e.g. http://127.0.0.1:4318; empty: "+tracing.EnvEndpoint+" if set, else tracing off")
	fs.Float64Var(&cfg.Tracing.SampleRatio, "trace-sample-ratio", tracing.DefaultSampleRatio, "share of messages without a traceparent that start a trace, up to 1 (negative: none); a publisher's traceparent decides for its own messages")
	proxies := fs.String("trusted-proxies", "", "networks (CIDRs, comma-separated) whose X-Forwarded-For is believed when checking a key's allowed networks")
	origins := fs.String("allowed-origins", "", "extra browser origins allowed to connect, comma-separated, each exactly scheme://host[:port] (besides --public-origin)")
	public := fs.String("public-origin", "", "origins browsers reach this hub at, comma-separated, each exactly scheme://host[:port] (default: http://127.0.0.1:PORT and http://localhost:PORT of --listen)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text (logfmt-style key=value lines) or json (one JSON object a line)")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("serve: unexpected arguments %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageErrorf("serve: --log-level: %w", err)
	}
	logger, err := newLogger(stderr, *logFormat, level)
	if err != nil {
		return err
	}
	cfg.Logger = logger
	cfg.Build = buildInfo()
	cfg.Tracing.Getenv = getenv
	if err := cfg.Tracing.Validate(); err != nil {
		return usageErrorf("serve: %w", err)
	}
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return usageErrorf("serve: --trusted-proxies: %w", err)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, prefix)
	}
	if natsFlags.Any() && cfg.NATSURL == "" {
		return usageErrorf("serve: the --nats-* credential and TLS flags need --nats-url (the embedded server uses the credentials in --data-dir)")
	}
	if cfg.NATSCredentials, cfg.NATSAuth, err = natsFlags.Resolve(); err != nil {
		return usageErrorf("serve: %w", err)
	}
	natsflag.WarnSecretsOnCommandLine(fs, getenv, logger)
	if *origins != "" {
		cfg.Gateway.AllowedOrigins = strings.Split(*origins, ",")
	}
	if *public != "" {
		cfg.PublicOrigins = strings.Split(*public, ",")
	}
	if cfg.InsecureNoAuth {
		cfg.Logger.Warn("serving WITHOUT authentication (--insecure-no-auth): anyone who can reach the hub can subscribe")
	}
	s, err := server.Start(ctx, cfg)
	if err != nil {
		return fmt.Errorf("serve: %w", startupError(err, cfg))
	}
	return s.Run(ctx)
}

// newLogger returns the hub's logger in the chosen format.
func newLogger(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageErrorf("serve: --log-format %q: want text or json", format)
}

// startupError says in a person's words why the hub could not start, for
// the failures a person can fix: the address is taken, the data directory
// belongs to another hub or cannot be written. Other errors pass as they
// are.
func startupError(err error, cfg server.Config) error {
	dataDir := cfg.DataDir
	var opErr *net.OpError
	var pathErr *fs.PathError
	switch {
	case errors.Is(err, bus.ErrStoreInUse):
		return fmt.Errorf("data dir %s is in use by another hub (or hub keys); stop it, or give this hub its own --data-dir", dataDir)
	case errors.As(err, &opErr) && opErr.Op == "listen":
		addr := cfg.Listen
		if opErr.Addr != nil {
			addr = opErr.Addr.String()
		}
		cause := opErr.Err
		var sysErr *os.SyscallError
		if errors.As(cause, &sysErr) {
			cause = sysErr.Err
		}
		return fmt.Errorf("cannot listen on %s: %w (is another hub running? choose another address with --listen)", addr, cause)
	case cfg.NATSURL == "" && strings.Contains(err.Error(), "embedded nats-server failed to start") &&
		strings.Contains(err.Error(), "address already in use"):
		// nats-server reports its listen failure as text only.
		return fmt.Errorf("cannot listen on %s for the embedded NATS: address already in use "+
			"(is another hub running? choose another address with --nats-listen, or use a NATS server with --nats-url)", cfg.NATSListen)
	case errors.As(err, &pathErr) && within(pathErr.Path, dataDir):
		return fmt.Errorf("data dir %s is not writable: %s %s: %w", dataDir, pathErr.Op, pathErr.Path, pathErr.Err)
	}
	return err
}

// within reports whether path is dir, inside it or one of its parents (a
// parent that cannot be created is the data dir's failure too).
func within(path, dir string) bool {
	p, err1 := filepath.Abs(path)
	d, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return false
	}
	inside := func(a, b string) bool { return a == b || strings.HasPrefix(a, b+string(filepath.Separator)) }
	return inside(p, d) || inside(d, p)
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/server"
)

func serve(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("hub serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg server.Config
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:8080", "HTTP address for WebSocket clients, health, metrics and the dashboard")
	fs.StringVar(&cfg.NATSURL, "nats-url", "", "NATS servers to use, comma-separated (nats://a:4222,nats://b:4222); empty starts an embedded nats-server")
	natsCreds := fs.String("nats-creds", "", `file with the user and password for --nats-url, {"user":…,"password":…} (the embedded server's are in --data-dir)`)
	fs.StringVar(&cfg.NATSListen, "nats-listen", "127.0.0.1:4222", "client address of the embedded nats-server (port -1: any free port)")
	fs.StringVar(&cfg.DataDir, "data-dir", "./data", "directory of the embedded nats-server's JetStream store")
	fs.BoolVar(&cfg.Demo, "demo", cfg.Demo, "publish synthetic ticks, chain signals and job progress, and hand out read-only demo tokens (loopback --listen and embedded NATS only)")
	fs.BoolVar(&cfg.InsecureNoAuth, "insecure-no-auth", false, "serve without authentication on any address (local development only)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take")
	fs.DurationVar(&cfg.Gateway.Heartbeat, "heartbeat", 15*time.Second, "server ping interval; clients silent for twice as long are closed")
	fs.IntVar(&cfg.Fanout.MaxQueueMessages, "max-queue-messages", 4096, "per-client queue bound in messages")
	fs.IntVar(&cfg.Fanout.MaxQueueBytes, "max-queue-bytes", 1<<20, "per-client queue bound in bytes")
	fs.IntVar(&cfg.Fanout.MaxSubscriptions, "max-subscriptions", 128, "subscriptions per connection")
	fs.DurationVar(&cfg.Streams.ChainMaxAge, "chain-retention", 24*time.Hour, "how long chain signals are kept for resume (the CHAIN stream's max age)")
	fs.DurationVar(&cfg.Streams.JobsMaxAge, "jobs-retention", 24*time.Hour, "how long job progress is kept for resume (the JOBS stream's max age)")
	fs.Int64Var(&cfg.Streams.ChainMaxBytes, "chain-max-bytes", 256<<20, "size bound of the CHAIN stream; the oldest messages go first")
	fs.Int64Var(&cfg.Streams.JobsMaxBytes, "jobs-max-bytes", 256<<20, "size bound of the JOBS stream; the oldest messages go first")
	proxies := fs.String("trusted-proxies", "", "networks (CIDRs, comma-separated) whose X-Forwarded-For is believed when checking a key's allowed networks")
	origins := fs.String("allowed-origins", "", "extra browser origins allowed to connect, comma-separated, each exactly scheme://host[:port] (besides --public-origin)")
	public := fs.String("public-origin", "", "origins browsers reach this hub at, comma-separated, each exactly scheme://host[:port] (default: http://127.0.0.1:PORT and http://localhost:PORT of --listen)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("serve: --log-level: %w", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	for _, p := range strings.Split(*proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("serve: --trusted-proxies: %w", err)
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, prefix)
	}
	if *natsCreds != "" {
		creds, err := bus.ReadCredentials(*natsCreds)
		if err != nil {
			return fmt.Errorf("serve: --nats-creds: %w", err)
		}
		cfg.NATSCredentials = creds
	}
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
		return err
	}
	return s.Run(ctx)
}

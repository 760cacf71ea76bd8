package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/streamhub/streamhub/internal/upstream/lease"
	"github.com/streamhub/streamhub/internal/upstream/venue"
)

// exchangeSpec is what differs between the exchange sources of hub ingest.
type exchangeSpec struct {
	name    string
	about   string // one line for hub ingest --help
	details string // the source's help text, before its flags
	symbols string // default --symbols
	adapter func() venue.Adapter
}

// exchangeSource returns the ingest source of an exchange.
func exchangeSource(spec exchangeSpec) ingestSource {
	return ingestSource{name: spec.name, about: spec.about,
		run: func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
			return ingestExchange(ctx, spec, args, getenv, stderr)
		}}
}

// ingestExchange parses an exchange source's flags and runs its connector
// until ctx is done (under the lease unless --lease=false).
func ingestExchange(ctx context.Context, spec exchangeSpec, args []string, getenv func(string) string, stderr io.Writer) error {
	a := spec.adapter()
	def := a.Defaults()
	cmd := "ingest " + spec.name
	fs := flag.NewFlagSet("hub "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg venue.Config
	symbols := fs.String("symbols", spec.symbols, "instruments, comma-separated, as BASE-QUOTE (BTC-USD; USDT is its own quote: BTC-USDT)")
	fs.StringVar(&cfg.URL, "url", def.URL, "the venue's WebSocket endpoint")
	fs.DurationVar(&cfg.HeartbeatWindow, "heartbeat-window", def.HeartbeatWindow, "reconnect when the venue sends nothing (no message, no ping) for this long")
	fs.DurationVar(&cfg.BackoffMin, "backoff-min", venue.DefaultBackoffMin, "least delay before a reconnection (jittered, doubling up to --backoff-max)")
	fs.DurationVar(&cfg.BackoffMax, "backoff-max", venue.DefaultBackoffMax, "greatest delay before a reconnection")
	var base ingestFlags
	base.register(fs)
	useLease := fs.Bool("lease", true, "publish only while holding the JetStream KV lease of this source, so that a standby ingestor takes over when this one dies (--lease=false: no JetStream needed, and no protection against two ingestors)")
	leaseKey := fs.String("lease-key", "ingest."+spec.name, "the lease's key: ingestors with the same key are one group, one leader")
	leaseTTL := fs.Duration("lease-ttl", lease.DefaultTTL, "lease lifetime without renewal; a dead leader is replaced within about 1.25 × this (the lease bucket's TTL wins once the bucket exists)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: hub %s [flags]\n\n%s\n", cmd, spec.details)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("%s: unexpected arguments %q", cmd, fs.Args())
	}
	syms, err := venue.ParseSymbols(strings.Split(*symbols, ","))
	if err != nil {
		return usageErrorf("%s: --symbols: %w", cmd, err)
	}
	cfg.Symbols = syms
	logger, err := base.logger(cmd, stderr)
	if err != nil {
		return err
	}
	cfg.Logger = logger.With("source", spec.name)
	nc, err := base.connect(cmd, "streamhub-ingest-"+spec.name)
	if err != nil {
		return err
	}
	defer nc.Close()
	conn, err := venue.New(nc, a, cfg)
	if err != nil {
		return usageErrorf("%s: %w", cmd, err)
	}
	var l *lease.Lease
	if *useLease {
		js, err := jetstream.New(nc)
		if err == nil {
			lctx, cancel := context.WithTimeout(ctx, publishTimeout)
			l, err = lease.New(lctx, js, lease.Config{Key: *leaseKey, TTL: *leaseTTL, Logger: cfg.Logger})
			cancel()
		}
		if err != nil {
			return fmt.Errorf("%s: the HA lease needs JetStream on %s (--lease=false runs without): %w", cmd, base.natsURL, err)
		}
	}
	if base.metricsAddr != "" {
		stop, err := serveIngestMetrics(base.metricsAddr, conn, l)
		if err != nil {
			return fmt.Errorf("%s: --metrics-listen: %w", cmd, err)
		}
		defer stop()
	}
	cfg.Logger.Info("ingest: starting", "venue_url", cfg.URL, "symbols", *symbols, "nats", base.natsURL, "lease", *useLease)
	if l == nil {
		err = conn.Run(ctx)
	} else {
		err = l.Run(ctx, conn.Run)
	}
	s := conn.Stats()
	cfg.Logger.Info("ingest: stopped", "published", s.Published, "connects", s.Connects, "gaps", s.Gaps, "malformed", s.Malformed)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return nil
}

// serveIngestMetrics serves the connector's counters (and whether it holds
// the lease) as Prometheus metrics on addr until stop is called.
func serveIngestMetrics(addr string, c *venue.Connector, l *lease.Lease) (stop func(), err error) {
	reg := prometheus.NewRegistry()
	labels := prometheus.Labels{"venue": c.Venue()}
	counter := statsCounter(reg, "streamhub_ingest_", labels, c.Stats)
	counter("connects", "Connections to the venue established.", func(s venue.Stats) uint64 { return s.Connects })
	counter("disconnects", "Connections to the venue that ended.", func(s venue.Stats) uint64 { return s.Disconnects })
	counter("stale", "Connections dropped because the venue was silent beyond the heartbeat window.", func(s venue.Stats) uint64 { return s.Stale })
	counter("refused", "Subscriptions the venue refused.", func(s venue.Stats) uint64 { return s.Refused })
	counter("messages", "Frames received from the venue.", func(s venue.Stats) uint64 { return s.Messages })
	counter("malformed", "Frames that could not be decoded and were dropped.", func(s venue.Stats) uint64 { return s.Malformed })
	counter("gaps", "Venue sequence gaps (lost venue messages).", func(s venue.Stats) uint64 { return s.Gaps })
	counter("epochs", "New epochs opened on a subject after a reconnection or a gap.", func(s venue.Stats) uint64 { return s.Epochs })
	counter("published", "Ticks NATS accepted.", func(s venue.Stats) uint64 { return s.Published })
	counter("publish_errors", "Ticks NATS refused.", func(s venue.Stats) uint64 { return s.PublishErrors })
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "streamhub_ingest_leader", Help: "1 while this ingestor holds the lease (always 1 with --lease=false).", ConstLabels: labels,
	}, func() float64 {
		if l == nil || l.Held() {
			return 1
		}
		return 0
	}))
	return serveMetrics(addr, reg)
}

// statsCounter returns a function that registers one counter on reg,
// named prefix+name+"_total", whose value v reads from a fresh stats().
func statsCounter[S any](reg *prometheus.Registry, prefix string, labels prometheus.Labels, stats func() S) func(name, help string, v func(S) uint64) {
	return func(name, help string, v func(S) uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: prefix + name + "_total", Help: help, ConstLabels: labels,
		}, func() float64 { return float64(v(stats())) }))
	}
}

// serveMetrics serves reg's metrics on addr at /metrics until stop is
// called; an ingestor's --metrics-listen.
func serveMetrics(addr string, reg *prometheus.Registry) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Default().Warn("ingest: metrics server", "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

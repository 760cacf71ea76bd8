package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/gateway"
	"github.com/streamhub/streamhub/internal/history"
	"github.com/streamhub/streamhub/internal/ingest"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/tracing"
	"github.com/streamhub/streamhub/internal/upstream"
)

// Server is one running hub instance. Start it with Start; stop it with
// Shutdown (or run it with Run). Its accessors are safe for concurrent use.
type Server struct {
	cfg Config
	log *slog.Logger

	embedded *bus.Embedded // nil when using an external cluster
	conn     *bus.Conn
	health   *bus.Health
	// cancelListen unregisters onConnEvent from the NATS connection.
	cancelListen func()
	js           jetstream.JetStream
	history      *history.Reader
	router       *bus.Router
	hub          *fanout.Hub
	ingest       *ingest.Ingester
	gateway      *gateway.Gateway
	demo         *upstream.Demo
	auth         *authenticator  // nil with InsecureNoAuth
	tracer       *tracing.Tracer // nil when tracing is off
	demoKeyID    string

	listener net.Listener
	http     *http.Server
	patterns []string // the HTTP mux's patterns, set once by routes

	cancelDemo context.CancelFunc
	bg         sync.WaitGroup // demo feeds and the HTTP server
	serveErr   chan error

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start brings a hub up: NATS, streams, the hub and its gateway, the demo
// feeds when configured, and the HTTP listener. On error, whatever it
// started is stopped again.
//
// The returned server is nil exactly when err is not nil. s is not a named
// result on purpose: "return nil, err" must not clear the server that the
// deferred teardown and the demo goroutine still use.
func Start(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{cfg: cfg, log: cfg.Logger, serveErr: make(chan error, 1)}
	defer func() {
		if err != nil {
			s.teardown()
		}
	}()
	if err := s.startNATS(ctx); err != nil {
		return nil, err
	}
	js, err := jetstream.New(s.conn.NATS())
	if err != nil {
		return nil, fmt.Errorf("server: jetstream: %w", err)
	}
	s.js = js
	if err := bus.EnsureStreams(ctx, js, cfg.Streams); err != nil {
		return nil, err
	}
	s.health = bus.StartHealth(ctx, s.conn, js, bus.HealthConfig{Logger: s.log})

	// The hub keeps the set of wanted patterns; the router follows it on its
	// own goroutine and feeds what NATS delivers through ingest back into
	// the hub, which matches each message once.
	s.hub = fanout.New(cfg.Fanout)
	if s.tracer, err = tracing.New(ctx, cfg.Tracing); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	icfg := ingest.Config{Logger: s.log}
	if s.tracer != nil {
		icfg.Tracer = s.tracer // only when on: a nil *Tracer in the interface would not be nil
	}
	s.ingest = ingest.New(s.hub, icfg)
	s.router = bus.NewRouter(s.conn, s.ingest.Handle, bus.RouterConfig{
		Logger: s.log, JetStream: js, Stored: s.ingest.HandleStored, OnHandover: s.ingest.NewEpoch,
	})
	s.router.Start(s.hub)

	gcfg := cfg.Gateway
	if gcfg.Logger == nil {
		gcfg.Logger = s.log
	}
	gcfg.Upstream = s.router
	s.history = history.New(js, s.router, cfg.History)
	gcfg.History = historyAdapter{s.history}
	gcfg.ResumeWindow = min(orDefault(cfg.Streams.ChainMaxAge, bus.DefaultStreamMaxAge), orDefault(cfg.Streams.JobsMaxAge, bus.DefaultStreamMaxAge))
	if !cfg.InsecureNoAuth {
		if err := s.startAuth(ctx, js); err != nil {
			return nil, err
		}
		gcfg.Auth = s.auth
	}
	// Listening before the gateway exists gives it the actual port for
	// its default public origins; connections wait for Serve below.
	if s.listener = cfg.Listener; s.listener == nil {
		s.listener, err = net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("server: listen: %w", err)
		}
	}
	scheme := "http"
	if cfg.TLSCertFile != "" {
		certs, err := newCertReloader(cfg.TLSCertFile, cfg.TLSKeyFile, s.log)
		if err != nil {
			return nil, err
		}
		s.listener, scheme = tls.NewListener(s.listener, serverTLSConfig(certs)), "https"
	}
	gcfg.PublicOrigins = cfg.PublicOrigins
	if len(gcfg.PublicOrigins) == 0 {
		gcfg.PublicOrigins = defaultPublicOrigins(s.listener.Addr(), scheme)
	}
	s.gateway = gateway.New(s.hub, gcfg)
	// From here on a NATS reconnect reaches the clients (none came before).
	s.cancelListen = s.conn.Listen(s.onConnEvent)
	if s.auth != nil {
		// Registered after the gateway exists; the store's initial load is
		// complete, so no connection was accepted with a stale view.
		s.auth.cancelWatch = s.auth.store.OnChange(s.onKeyChange)
	}

	if cfg.Demo {
		dcfg := cfg.DemoConfig
		if dcfg.Logger == nil {
			dcfg.Logger = s.log
		}
		s.demo = upstream.NewDemo(s.conn.NATS(), dcfg)
		demoCtx, cancel := context.WithCancel(context.Background())
		s.cancelDemo = cancel
		s.startDemoAudit(demoCtx)
		s.bg.Add(1)
		go func() {
			defer s.bg.Done()
			if err := s.demo.Run(demoCtx); err != nil {
				s.log.Error("demo feeds stopped", "err", err)
			}
		}()
	}

	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout, // net/http lifts the deadlines of a hijacked (upgraded) connection
		IdleTimeout:       cfg.IdleTimeout,
		ConnContext:       gateway.ConnContext,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		if err := s.http.Serve(s.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr <- fmt.Errorf("server: http: %w", err)
		}
	}()
	s.log.Info("hub listening", "addr", s.Addr(), "tls", cfg.TLSCertFile != "", "nats", s.NATSURL(), "embedded_nats", s.embedded != nil, "demo", cfg.Demo,
		"public_origins", strings.Join(gcfg.PublicOrigins, ","))
	return s, nil
}

func (s *Server) startNATS(ctx context.Context) error {
	url, creds, auth := s.cfg.NATSURL, s.cfg.NATSCredentials, s.cfg.NATSAuth
	if url == "" {
		host, portStr, _ := net.SplitHostPort(s.cfg.NATSListen)
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return fmt.Errorf("server: NATS listen port %q: %w", portStr, err)
		}
		s.embedded, err = bus.StartEmbedded(bus.EmbeddedConfig{
			Host: host, Port: port, StoreDir: s.cfg.DataDir, Logger: s.log,
		})
		if err != nil {
			return fmt.Errorf("server: embedded NATS: %w", err)
		}
		url, creds = s.embedded.ClientURL(), s.embedded.Credentials()
	}
	var err error
	// To its own embedded server the hub connects in process: no loopback
	// TCP between them for every message.
	s.conn, err = bus.Connect(ctx, bus.ConnConfig{URLs: url, Credentials: creds, Auth: auth, Name: "streamhub", Logger: s.log, InProcess: s.embedded,
		PingInterval: s.cfg.NATSPingInterval, MaxPingsOut: s.cfg.NATSMaxPingsOut})
	if err != nil {
		return fmt.Errorf("server: connect to NATS: %w", err)
	}
	return nil
}

// startAuth opens the key store (returning only after its initial load)
// and, in demo mode, makes sure the read-only demo key exists.
func (s *Server) startAuth(ctx context.Context, js jetstream.JetStream) error {
	journal, err := auth.OpenJournal(ctx, js, auth.JournalConfig{
		Manage: true, MaxAge: s.cfg.AuditMaxAge, MaxBytes: s.cfg.AuditMaxBytes,
		Replicas: s.cfg.Streams.Replicas, Window: s.cfg.AuditWindow, Logger: s.log,
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	usage, err := auth.OpenUsage(ctx, js, auth.UsageConfig{
		FlushInterval: s.cfg.UsageFlushInterval, Replicas: s.cfg.Streams.Replicas, Logger: s.log,
	})
	if err != nil {
		journal.Close(ctx)
		return fmt.Errorf("server: %w", err)
	}
	store, err := auth.OpenStore(ctx, js, auth.StoreConfig{Logger: s.log, Journal: journal, Replicas: s.cfg.Streams.Replicas})
	if err != nil {
		usage.Close(ctx)
		journal.Close(ctx)
		return fmt.Errorf("server: key store: %w", err)
	}
	if err := bus.EnsureReplicas(ctx, js, "KV_"+auth.DefaultBucket, s.cfg.Streams.Replicas); err != nil {
		store.Close()
		usage.Close(ctx)
		journal.Close(ctx)
		return fmt.Errorf("server: key store: %w", err)
	}
	tk, err := openTickets(ctx, js, s.cfg.Streams.Replicas)
	if err != nil {
		store.Close()
		journal.Close(ctx)
		return err
	}
	leases, err := auth.OpenLeases(ctx, js, auth.LeaseConfig{TTL: s.cfg.ConnLeaseTTL, Replicas: s.cfg.Streams.Replicas, Logger: s.log})
	if err != nil {
		store.Close()
		return fmt.Errorf("server: connection leases: %w", err)
	}
	s.auth = &authenticator{
		store:   store,
		tickets: tk,
		journal: journal,
		usage:   usage,
		tokens:  auth.NewTokenIssuer(store, auth.TokenConfig{}),
		limiter: auth.NewClusterLimiter(leases),
		leases:  leases,
		trusted: s.cfg.TrustedProxies,
	}
	if !s.cfg.Demo {
		return nil
	}
	now := time.Now()
	for _, rec := range store.List() {
		if rec.Name == demoKeyName && rec.Active(now) {
			s.demoKeyID = rec.ID
			break
		}
	}
	if s.demoKeyID == "" {
		_, rec, err := store.Create(ctx, auth.CreateRequest{Name: demoKeyName, Env: auth.EnvTest, Subscribe: demoScopes})
		if err != nil {
			return fmt.Errorf("server: demo key: %w", err)
		}
		s.demoKeyID = rec.ID
	}
	s.auth.demo = &demoGuard{
		sources:  newDemoSources(s.cfg.DemoTokenRate, s.cfg.DemoTokenBurst, maxDemoSources),
		keyID:    s.demoKeyID,
		maxConns: s.cfg.DemoConnsPerSource,
		interval: s.cfg.DemoAuditInterval,
		log:      s.log,
	}
	return nil
}

// Run serves until ctx is done, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case err := <-s.serveErr:
		_ = s.Shutdown(context.Background())
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	return s.Shutdown(sctx)
}

// Shutdown stops the hub in order: readiness goes false and new
// connections are refused; every client is closed with the going-away code
// (4000, reconnect); the demo feeds stop; NATS is drained; the embedded
// server stops. It returns once everything has stopped or ctx expired.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.log.Info("hub shutting down")
		var errs []error
		gwErr := make(chan error, 1)
		go func() { gwErr <- s.gateway.Shutdown(ctx) }() // readiness false from here on
		if err := s.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("server: http shutdown: %w", err))
		}
		if err := <-gwErr; err != nil {
			errs = append(errs, err)
		}
		s.teardown()
		s.shutdownErr = errors.Join(errs...)
	})
	return s.shutdownErr
}

// onConnEvent reacts to the NATS connection's losses and returns: after a
// reconnect, the stored patterns' consumers are replaced by fresh ones
// that go on after the last message delivered (bus.Router.ResumeStored),
// and, since the ticks published meanwhile were not received (core NATS is
// at most once), the hub's own tick numbering starts a new epoch and every
// subscribed connection gets the upstream_reconnected notice. It runs
// on nats.go's callback goroutine and does not block (Notify writes on
// goroutines of its own).
func (s *Server) onConnEvent(ev bus.ConnEvent) {
	switch ev {
	case bus.EventDisconnected:
		s.log.Warn("NATS connection lost; not ready until it is back")
	case bus.EventReconnected:
		s.router.ResumeStored()
		s.ingest.NewEpoch()
		n := 0
		if s.gateway != nil {
			n = s.gateway.Notify(protocol.NoticeUpstreamReconnected,
				"the hub's NATS connection was re-established: ticks published meanwhile were missed; take fresh values (chain and jobs lost nothing)")
		}
		s.log.Info("NATS connection back; stored streams resume, ticks continue in a new epoch", "url", s.conn.ConnectedURL(), "notified", n)
	}
}

// teardown stops the background parts; it tolerates a partial Start.
func (s *Server) teardown() {
	if s.cancelListen != nil {
		s.cancelListen()
	}
	if s.cancelDemo != nil {
		s.cancelDemo()
	}
	if s.http != nil && s.listener != nil {
		_ = s.http.Close()
	} else if s.listener != nil {
		_ = s.listener.Close() // Start failed between Listen and Serve
	}
	s.bg.Wait()
	if s.router != nil {
		_ = s.router.Close()
	}
	if s.health != nil {
		s.health.Close()
	}
	if s.auth != nil {
		if s.auth.cancelWatch != nil {
			s.auth.cancelWatch()
		}
		s.auth.store.Close()
		// Before the drain: the last records and counts need the connection,
		// and the leases are withdrawn while NATS is still there.
		jctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		s.auth.leases.Close(jctx)
		s.auth.usage.Close(jctx)
		s.auth.journal.Close(jctx)
		cancel()
	}
	if s.conn != nil {
		dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.conn.Drain(dctx); err != nil {
			s.log.Warn("NATS drain", "err", err)
		}
		cancel()
	}
	if s.embedded != nil {
		s.embedded.Shutdown()
	}
	tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := s.tracer.Shutdown(tctx); err != nil {
		s.log.Warn("tracing shutdown", "err", err)
	}
	cancel()
}

// Addr returns the HTTP listener's address.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// NATSURL returns the URL of the NATS server the hub uses.
func (s *Server) NATSURL() string {
	if s.embedded != nil {
		return s.embedded.ClientURL()
	}
	return s.cfg.NATSURL
}

// NATSCredentials returns the credentials the hub presents to NATS: the
// embedded server's, or the configured ones. They are secret.
func (s *Server) NATSCredentials() bus.Credentials {
	if s.embedded != nil {
		return s.embedded.Credentials()
	}
	return s.cfg.NATSCredentials
}

// Hub returns the fan-out hub, for tests and metrics.
func (s *Server) Hub() *fanout.Hub { return s.hub }

// Router returns the NATS router, for tests and metrics.
func (s *Server) Router() *bus.Router { return s.router }

// Ready reports whether the hub should receive traffic: NATS connected,
// JetStream answering (see bus.Health) and not draining.
func (s *Server) Ready() bool { return s.NotReady() == nil }

// NotReady says why the hub should not receive traffic, or nil when it
// should (Ready).
func (s *Server) NotReady() error {
	switch {
	case s.gateway.Draining():
		return errors.New("draining")
	case !s.conn.Connected():
		return bus.ErrNotConnected
	}
	return s.health.Err()
}

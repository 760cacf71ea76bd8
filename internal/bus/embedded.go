package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/crypto/bcrypt"
)

// Defaults of [EmbeddedConfig].
const (
	DefaultEmbeddedHost     = "127.0.0.1"
	DefaultEmbeddedPort     = 4222
	DefaultEmbeddedStoreDir = "./data"
	// embeddedReadyTimeout bounds how long StartEmbedded waits for the server
	// to accept connections.
	embeddedReadyTimeout = 10 * time.Second
)

// ErrRemoteHost is returned by [StartEmbedded] for a non-loopback Host when
// [EmbeddedConfig.AllowRemote] is not set.
var ErrRemoteHost = errors.New("bus: embedded nats-server refuses a non-loopback host")

// EmbeddedConfig configures [StartEmbedded]. The zero value is a usable
// configuration: every zero field means the default its comment states.
//
// JetStream is always enabled: the CHAIN and JOBS streams need it, and an
// idle JetStream costs nothing but a directory.
type EmbeddedConfig struct {
	// Host is the interface the server listens on. Default "127.0.0.1".
	Host string
	// Port is the client port. Default 4222; -1 picks a random free port
	// (read it back with [Embedded.ClientURL]).
	Port int
	// StoreDir is the JetStream store directory. Default "./data".
	StoreDir string
	// MaxPayload is the largest message the server accepts, in bytes.
	// Default (0): the server's default, 1 MiB.
	MaxPayload int32
	// AllowRemote permits a Host that is not a loopback address. The
	// embedded server requires the credentials of its store directory
	// (see [CredentialsFile]) but has no TLS, so on any other interface
	// they would cross the network in clear. Set it only behind a network
	// boundary that does that job.
	AllowRemote bool
	// Logger receives the server's log lines: notices and debug lines at
	// Debug, warnings at Warn, errors at Error. Nil discards them. The
	// server's per-message trace is never enabled.
	Logger *slog.Logger
}

// Embedded is a running in-process nats-server. Its methods are safe for
// concurrent use.
type Embedded struct {
	srv      *server.Server
	creds    Credentials
	log      *slog.Logger
	shutdown sync.Once
	unlock   func() // releases the store directory's lock
}

// StartEmbedded starts a nats-server in this process with JetStream enabled
// and waits up to 10 s for it to accept client connections. Clients must
// authenticate with the credentials of the store directory, created there
// on first start (see [Embedded.Credentials]). It refuses a
// non-loopback Host unless cfg.AllowRemote is set (see [ErrRemoteHost]). The
// caller must call [Embedded.Shutdown].
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host := cfg.Host
	if host == "" {
		host = DefaultEmbeddedHost
	}
	if !cfg.AllowRemote && !isLoopback(host) {
		return nil, fmt.Errorf("%w: %q (set AllowRemote to listen there)", ErrRemoteHost, host)
	}
	port := cfg.Port
	switch {
	case port == 0:
		port = DefaultEmbeddedPort
	case port < -1 || port > 65535:
		return nil, fmt.Errorf("bus: embedded nats-server: invalid port %d", port)
	}
	storeDir := cfg.StoreDir
	if storeDir == "" {
		storeDir = DefaultEmbeddedStoreDir
	}
	if cfg.MaxPayload < 0 {
		return nil, fmt.Errorf("bus: embedded nats-server: negative max payload %d", cfg.MaxPayload)
	}

	unlock, err := LockStoreDir(storeDir)
	if err != nil {
		return nil, err
	}
	// Every client authenticates, so that another local process cannot
	// read the key bucket or the token signing secret.
	creds, err := loadOrCreateCredentials(storeDir)
	if err != nil {
		unlock()
		return nil, err
	}
	// The server keeps only a bcrypt hash of the password (nats-server
	// recognises one by its prefix, and would warn about a plaintext
	// password on every start). The password is 128 random bits, so the
	// minimum cost is enough: cost protects guessable passwords, and every
	// connection pays it.
	hash, err := bcrypt.GenerateFromPassword([]byte(creds.Password), bcrypt.MinCost)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("bus: embedded nats-server: hash the password: %w", err)
	}
	opts := &server.Options{
		Username:               creds.User,
		Password:               string(hash),
		Host:                   host,
		Port:                   port,
		JetStream:              true,
		StoreDir:               storeDir,
		MaxPayload:             cfg.MaxPayload,
		NoSigs:                 true, // the process's signals belong to cmd/hub
		DisableJetStreamBanner: true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("bus: embedded nats-server: %w", err)
	}
	adapter := newServerLogger(log.With("component", "nats-server"))
	srv.SetLogger(adapter, adapter.debugEnabled(), false)

	e := &Embedded{srv: srv, creds: creds, log: log, unlock: unlock}
	srv.Start()
	if err := e.waitReady(adapter); err != nil {
		e.Shutdown()
		return nil, err
	}
	log.Debug("bus: embedded nats-server ready", "url", srv.ClientURL(), "store_dir", storeDir)
	return e, nil
}

// waitReady polls the server until it accepts connections, giving up early
// when the server reported a fatal error (a nats-server in its own process
// would have exited) and after embeddedReadyTimeout.
func (e *Embedded) waitReady(l *serverLogger) error {
	deadline := time.Now().Add(embeddedReadyTimeout)
	for {
		if msg := l.fatal(); msg != "" {
			return fmt.Errorf("bus: embedded nats-server failed to start: %s", msg)
		}
		if e.srv.ReadyForConnections(50 * time.Millisecond) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bus: embedded nats-server not ready for connections after %s", embeddedReadyTimeout)
		}
	}
}

// ClientURL returns the URL clients connect to, with the actual port when
// the server was started with Port -1.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Credentials returns the user and password every client must present
// (stored in the store directory's [CredentialsFile]).
func (e *Embedded) Credentials() Credentials { return e.creds }

// Server returns the underlying server, for tests and monitoring
// (Subsz, Connz, NumSubscriptions). Do not shut it down directly.
func (e *Embedded) Server() *server.Server { return e.srv }

// Shutdown stops the server and waits until it has stopped. It is
// idempotent; calls after the first return at once.
func (e *Embedded) Shutdown() {
	e.shutdown.Do(func() {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
		e.unlock()
		e.log.Debug("bus: embedded nats-server stopped")
	})
}

// isLoopback reports whether host names a loopback interface: "localhost"
// or a loopback IP address. Names are not resolved.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/internal/bus"
)

// ingestFlags are the flags every `hub ingest` source has: where to
// publish, how to log, where to serve metrics.
type ingestFlags struct {
	natsURL, credsFile, dataDir string
	metricsAddr                 string
	logLevel, logFormat         string
}

// register defines the flags on fs.
func (f *ingestFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.natsURL, "nats-url", "nats://127.0.0.1:4222", "NATS servers to publish to, comma-separated")
	fs.StringVar(&f.credsFile, "nats-creds", "", `file with the user and password for --nats-url, {"user":…,"password":…}`)
	fs.StringVar(&f.dataDir, "data-dir", bus.DefaultEmbeddedStoreDir, "the hub's data directory, whose NATS credentials are used for a loopback --nats-url")
	fs.StringVar(&f.metricsAddr, "metrics-listen", "", "serve Prometheus metrics on this address at /metrics (empty: none)")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
}

// logger returns the logger the flags ask for; a bad level is a usage error.
func (f *ingestFlags) logger(cmd string, stderr io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, usageErrorf("%s: --log-level: %w", cmd, err)
	}
	return newLogger(stderr, f.logFormat, level)
}

// connect opens the ingestor's NATS connection, named name, reconnecting
// forever. The caller closes it.
func (f *ingestFlags) connect(cmd, name string) (*nats.Conn, error) {
	creds, err := bus.ClientCredentials(f.natsURL, f.credsFile, f.dataDir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	nc, err := nats.Connect(f.natsURL, creds.Option(), nats.Name(name),
		nats.Timeout(publishTimeout), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("%s: connect to %s: %w", cmd, f.natsURL, err)
	}
	return nc, nil
}

package keycmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/natsflag"
)

// Environment variables read by [Run] when the matching flag is not given.
const (
	EnvNATSURL = "STREAMHUB_NATS_URL"
	EnvDataDir = "STREAMHUB_DATA_DIR"
	// DefaultDataDir is the data directory used when neither --data-dir nor
	// STREAMHUB_DATA_DIR is set; it matches bus.DefaultEmbeddedStoreDir.
	DefaultDataDir = bus.DefaultEmbeddedStoreDir
)

const (
	commandTimeout = 30 * time.Second // bounds a whole command, store opening included
	connectWait    = 5 * time.Second  // bounds the first connection to --nats-url
	idLen          = 12               // a key id: 12 base62 characters (docs/auth.md)
	hubURLHint     = "nats://127.0.0.1:4222"
)

// command is one subcommand. setup registers its flags on fs and returns
// the function that runs it with the positional arguments.
type command struct {
	name, args, summary string
	setup               func(fs *flag.FlagSet) func(ctx context.Context, e *env, pos []string) error
}

// env is what one Run call works with.
type env struct {
	getenv         func(string) string
	stdout, stderr io.Writer
	natsURL        string
	dataDir        string
	nats           natsflag.Flags      // --nats-creds, --nats-user, …: shared by the command's and its subcommand's flag sets
	js             jetstream.JetStream // set by connect
	urlSet, dirSet bool                // given as flags (flags beat environment variables)
	closers        []func()            // see close
}

// Run runs `hub keys` with args, the arguments after "keys": a subcommand
// (create, list, show, revoke, rotate) and its flags. Results go to stdout;
// usage, flag errors and the store's audit lines go to stderr. -h prints
// usage and returns nil. Errors are prefixed "keycmd:" and never contain a
// secret; mistakes in args wrap a *UsageError. ctx bounds the command
// (which also gives up after 30 s).
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	e := &env{getenv: getenv, stdout: stdout, stderr: scrubWriter{stderr}}
	defer e.close()
	if err := e.run(ctx, args); err != nil {
		if msg := err.Error(); keyPattern.MatchString(msg) {
			return redactedError{msg: scrub(msg), err: err}
		}
		return err
	}
	return nil
}

func (e *env) run(ctx context.Context, args []string) error {
	top := e.flagSet("keys", "COMMAND [flags]", "")
	top.Usage = func() { e.usage() }
	if err := top.Parse(args); err != nil {
		return helpOrErr(err, "")
	}
	if top.NArg() == 0 || top.Arg(0) == "help" {
		e.usage()
		if top.NArg() == 0 {
			return usage(errors.New("keycmd: missing command (create, list, show, revoke, rotate or audit)"))
		}
		return nil
	}
	name := top.Arg(0)
	for _, c := range commands {
		if c.name != name {
			continue
		}
		fs := e.flagSet(c.name, c.args, c.summary)
		run := c.setup(fs)
		pos, err := parseInterspersed(fs, top.Args()[1:])
		if err != nil {
			return helpOrErr(err, c.name)
		}
		if err := e.nats.FillFromEnv(fs, e.getenv); err != nil {
			return usage(fmt.Errorf("keycmd: %w", err))
		}
		ctx, cancel := context.WithTimeout(ctx, commandTimeout)
		defer cancel()
		return run(auth.WithActor(ctx, auth.CLIActor()), e, pos)
	}
	e.usage()
	return usage(fmt.Errorf("keycmd: unknown command %q (want create, list, show, revoke, rotate or audit)", name))
}

// UsageError is a mistake in the command line: a bad flag, a missing or
// unexpected argument, an unknown command. The command did nothing. Run's
// errors wrap one when that is the cause (find it with errors.As).
type UsageError struct{ Err error }

// Error returns the mistake's description.
func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the error that describes the mistake.
func (e *UsageError) Unwrap() error { return e.Err }

func usage(err error) error { return &UsageError{Err: err} }

func helpOrErr(err error, cmd string) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if cmd == "" {
		return usage(fmt.Errorf("keycmd: %w", err))
	}
	return usage(fmt.Errorf("keycmd: %s: %w", cmd, err))
}

func (e *env) usage() {
	fmt.Fprintf(e.stderr, "usage: hub keys COMMAND [flags]\n\nManage StreamHub API keys.\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(e.stderr, "  %-7s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(e.stderr, "\nRun 'hub keys COMMAND -h' for a command's flags.\n"+
		"The store: --nats-url (or %s) for a running hub or cluster, otherwise\n"+
		"--data-dir (or %s, default %s) while no hub runs on it. With a loopback\n"+
		"--nats-url, the hub's NATS credentials are read from --data-dir.\n", EnvNATSURL, EnvDataDir, DefaultDataDir)
}

// flagSet returns a FlagSet with the store flags every command accepts.
func (e *env) flagSet(name, args, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet("hub keys "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Func("nats-url", "NATS URL(s) of a running hub or cluster, comma-separated (env "+EnvNATSURL+")",
		func(s string) error { e.natsURL, e.urlSet = s, true; return nil })
	fs.Func("data-dir", "embedded store directory, when no hub is running on it; with --nats-url on loopback, where the hub's NATS credentials are (env "+EnvDataDir+", default "+DefaultDataDir+")",
		func(s string) error { e.dataDir, e.dirSet = s, true; return nil })
	e.nats.Register(fs) // --nats-creds defaults to those in --data-dir, for a loopback URL
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: hub keys %s %s\n\n%s.\n\nflags:\n", name, args, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseInterspersed parses flags that may come after positional arguments
// ("show ID --json") and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// openStore opens the key store the flags and environment point at, with
// the audit journal, so that the changes it makes are recorded. Everything
// it starts is stopped by e.close, which Run defers.
func (e *env) openStore(ctx context.Context, create bool) (*auth.Store, error) {
	js, natsURL, err := e.connect(ctx, create)
	if err != nil {
		return nil, err
	}
	j, err := auth.OpenJournal(ctx, js, auth.JournalConfig{Logger: slog.New(slog.NewTextHandler(e.stderr, nil))})
	if err != nil {
		return nil, redact(fmt.Errorf("keycmd: open audit journal: %w", err), natsURL)
	}
	// Closed after the store (closers run last first), so that every
	// record the store made is published before the command returns.
	e.closers = append(e.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		j.Close(ctx)
	})
	log := slog.New(slog.NewTextHandler(e.stderr, nil)) // audit lines (no secrets)
	st, err := auth.OpenStore(ctx, js, auth.StoreConfig{Logger: log, Journal: j})
	if err != nil {
		return nil, redact(fmt.Errorf("keycmd: open key store: %w", err), natsURL)
	}
	e.closers = append(e.closers, st.Close)
	return st, nil
}

// connect reaches the NATS server the flags and environment point at (an
// embedded one on --data-dir, started here, or --nats-url) and returns its
// JetStream context and the URL, for redacting errors.
func (e *env) connect(ctx context.Context, create bool) (jetstream.JetStream, string, error) {
	// --nats-url talks to a running hub, whose data directory (--data-dir
	// or its default) holds the credentials of its embedded NATS; a
	// --data-dir alone opens that directory's store itself.
	natsURL, dataDir := e.natsURL, e.dataDir
	switch {
	case e.urlSet && !e.dirSet:
		dataDir = e.getenv(EnvDataDir)
	case !e.urlSet && !e.dirSet:
		natsURL, dataDir = e.getenv(EnvNATSURL), e.getenv(EnvDataDir)
	}
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	var creds bus.Credentials
	var natsAuth bus.ClientAuth
	if natsURL == "" {
		if _, err := os.Stat(dataDir); !create && errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("keycmd: no key store in %s (the directory does not exist); "+
				"pass --data-dir, or --nats-url %s to talk to a running hub", dataDir, hubURLHint)
		}
		srv, err := bus.StartEmbedded(bus.EmbeddedConfig{Port: -1, StoreDir: dataDir})
		if errors.Is(err, bus.ErrStoreInUse) {
			return nil, "", fmt.Errorf("keycmd: the store in %s is in use, probably by a running hub "+
				"(two NATS servers cannot share one JetStream directory); talk to the hub instead "+
				"with --nats-url %s: %w", dataDir, hubURLHint, err)
		}
		if err != nil {
			return nil, "", fmt.Errorf("keycmd: open store in %s: %w", dataDir, err)
		}
		e.closers = append(e.closers, srv.Shutdown)
		natsURL, creds = srv.ClientURL(), srv.Credentials()
	} else if e.nats.Any() {
		var err error
		if creds, natsAuth, err = e.nats.Resolve(); err != nil {
			return nil, "", usage(fmt.Errorf("keycmd: %w", err))
		}
	} else {
		var err error
		// Beside a running hub: its embedded server's credentials.
		if creds, err = bus.ClientCredentials(natsURL, "", dataDir); err != nil {
			return nil, "", fmt.Errorf("keycmd: %w", err)
		}
	}
	conn, err := bus.Connect(ctx, bus.ConnConfig{URLs: natsURL, Credentials: creds, Auth: natsAuth, Name: "streamhub-keys", ConnectWait: connectWait})
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "authorization") {
		return nil, "", redact(fmt.Errorf("keycmd: connect to NATS: %w (the hub's NATS needs the credentials in its data directory: "+
			"pass the hub's --data-dir, or --nats-creds FILE)", err), natsURL)
	}
	if err != nil {
		return nil, "", redact(fmt.Errorf("keycmd: connect to NATS: %w", err), natsURL)
	}
	e.closers = append(e.closers, conn.Close)
	js, err := jetstream.New(conn.NATS())
	if err != nil {
		return nil, "", fmt.Errorf("keycmd: jetstream: %w", err)
	}
	e.js = js
	return js, natsURL, nil
}

// close stops what openStore started, last first.
func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// keyPattern matches an API key the way secret scanners do (docs/auth.md).
var keyPattern = regexp.MustCompile(`sh_(live|test)_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}`)

// scrub redacts every API key in s. It is a safety net for text this
// package does not format itself (the flag package quotes bad values).
func scrub(s string) string {
	return keyPattern.ReplaceAllStringFunc(s, func(k string) string { return k[:len(k)-38] + "[REDACTED]" })
}

// scrubWriter scrubs each write; the flag package and slog write a line
// per call, so a key is never split across writes.
type scrubWriter struct{ w io.Writer }

func (s scrubWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(s.w, scrub(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// redactedError hides credentials a NATS URL may carry (user, password,
// token) from an error's text while keeping it matchable with errors.Is.
type redactedError struct {
	msg string
	err error
}

func (r redactedError) Error() string { return r.msg }
func (r redactedError) Unwrap() error { return r.err }

func redact(err error, urls string) error {
	msg := err.Error()
	for _, raw := range strings.Split(urls, ",") {
		if u, perr := url.Parse(strings.TrimSpace(raw)); perr == nil && u.User != nil {
			msg = strings.ReplaceAll(msg, u.User.String(), "REDACTED")
		}
	}
	return redactedError{msg: msg, err: err}
}

// parseDuration accepts Go durations ("720h", "90m") and whole days
// ("30d"); negative values are refused.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil || n > 100*366 {
			return 0, fmt.Errorf("%q is not a number of days (for example 30d)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (for example 720h, 90m or 30d)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

func durationFlag(fs *flag.FlagSet, name string, d *time.Duration, usage string) {
	fs.Func(name, usage, func(s string) error {
		v, err := parseDuration(s)
		*d = v
		return err
	})
}

// listFlag registers a repeatable flag whose values may also be
// comma-separated; check validates each element.
func listFlag(fs *flag.FlagSet, name string, dst *[]string, usage string, check func(string) error) {
	fs.Func(name, usage+" (repeatable or comma-separated)", func(s string) error {
		for _, v := range strings.Split(s, ",") {
			v = strings.TrimSpace(v)
			if v == "" {
				return errors.New("empty element")
			}
			if err := check(v); err != nil {
				return err
			}
			*dst = append(*dst, v)
		}
		return nil
	})
}

// Command hub is StreamHub: a real-time WebSocket streaming hub for price
// ticks, on-chain signals and AI job progress, fed by NATS.
//
//	hub [serve] [flags]     run the hub (the default)
//	hub keys …              manage API keys
//	hub publish …           publish one message to NATS (for testing)
//	hub ingest SOURCE …     publish a real source's data to NATS (coinbase, binance, kraken, evm)
//	hub subscribe …         print the events of subject patterns
//	hub health              exit 0 when a hub answers ready, 1 otherwise
//	hub version             print the version, commit and Go version
//
// Every flag can also be set by an environment variable: --nats-url is
// STREAMHUB_NATS_URL, and so on. Flags win over the environment.
//
// Exit codes: 0 success (and help), 1 failure, 2 usage error (a bad flag,
// argument or environment value, or an unknown command).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/streamhub/streamhub/internal/natsflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := report(run(ctx, os.Args[1:], os.Getenv), os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it parses args and the environment
// (through getenv) and runs the chosen subcommand until it ends or ctx is
// done.
func run(ctx context.Context, args []string, getenv func(string) string) error {
	return runIO(ctx, args, getenv, os.Stdout, os.Stderr)
}

func runIO(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelpFlag(args[0]) {
		// "hub -h" asks about hub; "hub serve -h" asks about serve.
		fmt.Fprint(stdout, usage)
		return nil
	}
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		return versionCmd(args[1:], stdout, stderr)
	}
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, getenv, stderr)
	case "keys":
		return keys(ctx, args, getenv, stdout, stderr)
	case "publish":
		return publish(ctx, args, getenv, stdout, stderr)
	case "ingest":
		return ingestCmd(ctx, args, getenv, stdout, stderr)
	case "subscribe":
		return subscribe(ctx, args, getenv, stdout, stderr)
	case "health":
		return health(ctx, args, getenv, stdout, stderr)
	case "version":
		return versionCmd(args, stdout, stderr)
	case "bench":
		return bench(ctx, args, getenv, stdout, stderr)
	case "bench-nats-server": // hidden: the peer that "hub bench" measures against
		return benchNATSServer(ctx, args, getenv, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageErrorf("unknown command %q", cmd)
}

func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

const usage = `usage: hub [command] [flags]

commands:
  serve      run the hub (the default)
  keys       manage API keys: create, list, show, revoke, rotate
  publish    publish a message to NATS, as an ingestor would
  ingest     publish a real source's data to NATS: coinbase, binance, kraken, evm ("hub ingest -h")
  subscribe  print the events of subject patterns from a running hub
  health     check that a running hub is ready (exit 0) or not (exit 1)
  version    print the version, commit and Go version (also --version)
  bench      measure the hub against nats-server (WebSocket), Centrifugo and Bun, on loopback
  help       this text

Run "hub <command> -h" for a command's flags. Every flag can be set by an
environment variable: STREAMHUB_ and the flag's name in capitals with "-"
as "_", for example STREAMHUB_NATS_URL for --nats-url.

Exit codes: 0 success, 1 failure, 2 usage error.
`

// parseFlags parses args into fs, then fills every flag not given on the
// command line from its STREAMHUB_* environment variable.
// Both kinds of error are usage errors (exit 2); -h gives flag.ErrHelp.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return asUsage(err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := envName(f.Name)
		if v := getenv(env); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = usageErrorf("%s=%q: %w", env, v, e)
			}
		}
	})
	return err
}

func envName(flagName string) string { return natsflag.EnvName(flagName) }

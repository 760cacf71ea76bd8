package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// ingestSource is one source of `hub ingest`: its name, a line for the
// help, and its command, which parses the rest of the arguments.
type ingestSource struct {
	name  string
	about string
	run   func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

// ingestSources are the sources of `hub ingest`, in the order of the help.
// Each is defined in ingest_<source>.go.
var ingestSources = []ingestSource{
	coinbaseSource,
	binanceSource,
	krakenSource,
	evmSource,
}

// ingestCmd runs a real ingestor: a process that publishes one source's data
// to NATS, as its own process so that ingestors and hubs scale and fail
// independently.
func ingestCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelpFlag(args[0]) || args[0] == "help" {
		w := stdout
		if len(args) == 0 {
			w = stderr
		}
		fmt.Fprint(w, ingestUsage())
		if len(args) == 0 {
			return usageErrorf("ingest needs a source: %s", sourceNames())
		}
		return nil
	}
	for _, s := range ingestSources {
		if s.name == args[0] {
			return s.run(ctx, args[1:], getenv, stdout, stderr)
		}
	}
	fmt.Fprint(stderr, ingestUsage())
	return usageErrorf("unknown ingest source %q (sources: %s)", args[0], sourceNames())
}

func ingestUsage() string {
	var b strings.Builder
	b.WriteString("usage: hub ingest SOURCE [flags]\n\n")
	b.WriteString("Publishes a real source's data to NATS, for every hub on it. Run two of\n")
	b.WriteString("one source for high availability: the exchanges elect a leader on a\n")
	b.WriteString("JetStream KV lease and only the leader publishes; evm's messages carry\n")
	b.WriteString("ids by which the stream stores each once.\n\nsources:\n")
	for _, s := range ingestSources {
		fmt.Fprintf(&b, "  %-9s %s\n", s.name, s.about)
	}
	b.WriteString("\nRun \"hub ingest SOURCE -h\" for a source's flags.\n")
	return b.String()
}

// sourceNames lists the sources, comma-separated.
func sourceNames() string {
	names := make([]string, len(ingestSources))
	for i, s := range ingestSources {
		names[i] = s.name
	}
	return strings.Join(names, ", ")
}

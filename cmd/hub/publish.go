package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/ingest"
	"github.com/streamhub/streamhub/internal/natsflag"
	"github.com/streamhub/streamhub/internal/subject"
)

// publishTimeout bounds connecting to NATS and its confirmation of the
// message.
const publishTimeout = 5 * time.Second

// publish sends one message to NATS the way an ingestor would, with the
// upstream headers the hub understands.
func publish(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hub publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("nats-url", "nats://127.0.0.1:4222", "NATS server to publish to")
	critical := fs.Bool("critical", false, "mark the message critical (never conflated or dropped)")
	dataDir := fs.String("data-dir", bus.DefaultEmbeddedStoreDir, "the hub's data directory, whose NATS credentials are used for a loopback --nats-url")
	natsFlags := natsflag.Register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hub publish [flags] SUBJECT JSON")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return usageErrorf("publish: need a subject and a JSON payload")
	}
	subj, data := fs.Arg(0), fs.Arg(1)
	if err := subject.Validate(subj); err != nil {
		return usageErrorf("publish: %w", err)
	}
	creds, auth, err := natsFlags.Resolve()
	if err != nil {
		return usageErrorf("publish: %w", err)
	}
	if !natsFlags.Any() {
		// Beside a running hub: its embedded server's credentials.
		if creds, err = bus.ClientCredentials(*url, "", *dataDir); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	opts, err := auth.Options()
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	nc, err := nats.Connect(*url, append(opts, creds.Option(), nats.Name("streamhub-publish"), nats.Timeout(publishTimeout))...)
	if err != nil {
		return fmt.Errorf("publish: connect to %s: %w", *url, err)
	}
	defer nc.Close()
	m := nats.NewMsg(subj)
	m.Data = []byte(data)
	m.Header.Set(ingest.HeaderTS, strconv.FormatInt(time.Now().UnixMilli(), 10))
	if *critical {
		m.Header.Set(ingest.HeaderCritical, "1")
	}
	if err := nc.PublishMsg(m); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	// FlushWithContext needs a deadline; the server's answer to the flush's
	// PING is what confirms the message reached NATS.
	fctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := nc.FlushWithContext(fctx); err != nil {
		return fmt.Errorf("publish: NATS did not confirm the message: %w", err)
	}
	fmt.Fprintf(stdout, "published %d bytes to %s\n", len(data), subj)
	return nil
}

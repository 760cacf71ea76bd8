package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/streamhub/streamhub/client"
)

// subscribe prints the events of one or more patterns from a running hub:
// the terminal's way to watch a stream.
func subscribe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hub subscribe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hubURL := fs.String("url", "http://127.0.0.1:8080", "the hub's HTTP address")
	key := fs.String("key", "", "API key (default: a demo token from a hub in demo mode)")
	policy := fs.String("policy", "", "overflow policy: keep-latest, drop-oldest or disconnect (default: per subject prefix)")
	maxRate := fs.Float64("max-rate", 0, "at most this many events per second per subject (0: unlimited)")
	snapshot := fs.Bool("snapshot", false, "start with the current value of every matching subject")
	count := fs.Int("count", 0, "exit after this many events (0: run until interrupted)")
	encoding := fs.String("encoding", "msgpack", "wire encoding: msgpack or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hub subscribe [flags] PATTERN...")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return usageErrorf("subscribe: need at least one subject pattern, for example 'ticks.>'")
	}
	opts := &client.Options{Encoding: client.EncodingMsgpack, DialTimeout: 10 * time.Second}
	if *encoding == "json" {
		opts.Encoding = client.EncodingJSON
	}
	if *key == "" {
		base := strings.TrimRight(*hubURL, "/")
		opts.TokenProvider = func(ctx context.Context) (string, error) { return demoToken(ctx, base) }
	}
	sopts := client.SubscribeOptions{MaxRate: *maxRate, Snapshot: *snapshot}
	switch *policy {
	case "":
	case "keep-latest":
		sopts.Policy = client.PolicyKeepLatest
	case "drop-oldest":
		sopts.Policy = client.PolicyDropOldest
	case "disconnect":
		sopts.Policy = client.PolicyDisconnect
	default:
		return usageErrorf("subscribe: unknown policy %q", *policy)
	}
	wsURL, err := websocketURL(*hubURL)
	if err != nil {
		return err
	}
	c, err := client.Dial(ctx, wsURL, *key, opts)
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	defer c.Close()

	events := make(chan client.Event, 256)
	for _, p := range fs.Args() {
		if _, err := c.SubscribeFunc(ctx, p, sopts, func(ev client.Event) {
			select {
			case events <- ev:
			default: // the terminal is slower than the stream; keep the newest
			}
		}); err != nil {
			return fmt.Errorf("subscribe %s: %w", p, err)
		}
	}
	for n := 0; *count == 0 || n < *count; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-c.Done():
			return fmt.Errorf("subscribe: %w", c.Err())
		case ev := <-events:
			printEvent(stdout, ev)
		}
	}
	return nil
}

func printEvent(w io.Writer, ev client.Event) {
	flags := ""
	if ev.Snapshot {
		flags += " snapshot"
	}
	if ev.Critical {
		flags += " critical"
	}
	fmt.Fprintf(w, "%s seq=%d%s %s\n", ev.Subject, ev.Seq, flags, ev.Data)
}

// websocketURL turns the hub's HTTP address into its WebSocket endpoint.
func websocketURL(hub string) (string, error) {
	u, err := url.Parse(hub)
	if err != nil || u.Host == "" {
		return "", usageErrorf("subscribe: --url %q is not an http(s) address", hub)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	case "ws", "wss":
	default:
		return "", usageErrorf("subscribe: --url %q is not an http(s) address", hub)
	}
	u.Path = "/v1/ws"
	return u.String(), nil
}

// demoToken asks a hub in demo mode for a read-only token.
func demoToken(ctx context.Context, base string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/demo/token", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("demo token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("demo token: the hub answered %s; it is not in demo mode, pass --key", resp.Status)
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("demo token: %w", err)
	}
	return body.Token, nil
}

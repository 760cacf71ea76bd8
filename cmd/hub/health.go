package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/streamhub/streamhub/internal/server"
)

// health asks a running hub whether it is ready (GET /readyz) and succeeds
// only on 200. It is the container's health check: distroless images have
// no shell and no curl.
func health(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hub health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	hubURL := fs.String("url", "", "the hub's HTTP address (default: http:// and the address hub serve listens on, from STREAMHUB_LISTEN, with an unspecified host as 127.0.0.1)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: hub health [flags]\n\nExits 0 when the hub answers GET /readyz with 200, 1 otherwise.")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("health: unexpected arguments %q", fs.Args())
	}
	base := *hubURL
	if base == "" {
		var err error
		if base, err = listenURL(getenv(envName("listen"))); err != nil {
			return usageErrorf("health: %w", err)
		}
	}
	target := strings.TrimRight(base, "/") + "/readyz"
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return usageErrorf("health: --url %q: %w", base, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s: not ready", target, resp.Status)
	}
	fmt.Fprintf(stdout, "%s: ready\n", target)
	return nil
}

// listenURL turns the address hub serve listens on (empty: its default)
// into a URL to reach it from the same host.
func listenURL(listen string) (string, error) {
	if listen == "" {
		listen = server.DefaultListen
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

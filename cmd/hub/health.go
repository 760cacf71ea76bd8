package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
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
	hubURL := fs.String("url", "", "the hub's HTTP address (default: http:// and the address hub serve listens on, from STREAMHUB_LISTEN, with an unspecified host as 127.0.0.1; https:// when STREAMHUB_TLS_CERT is set)")
	certFile := fs.String("tls-cert", "", "the certificate the hub serves (hub serve --tls-cert): ask over HTTPS and accept exactly this certificate, whatever name it is for")
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
		if *certFile != "" {
			base = "https" + strings.TrimPrefix(base, "http")
		}
	}
	client := http.DefaultClient
	if *certFile != "" {
		pinned, err := pinnedClient(*certFile)
		if err != nil {
			return usageErrorf("health: --tls-cert: %w", err)
		}
		client = pinned
	}
	target := strings.TrimRight(base, "/") + "/readyz"
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return usageErrorf("health: --url %q: %w", base, err)
	}
	resp, err := client.Do(req)
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

// pinnedClient returns an HTTP client that accepts exactly the leaf
// certificate in certFile: the health check runs beside the hub, on
// 127.0.0.1, where the certificate's names (the public DNS name) do not
// match, and a pinned certificate is a stricter check than a name.
func pinnedClient(certFile string) (*http.Client, error) {
	b, err := os.ReadFile(certFile)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", certFile)
	}
	want := block.Bytes
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], want) {
				return errors.New("the hub serves another certificate than --tls-cert")
			}
			return nil
		},
	}}}, nil
}

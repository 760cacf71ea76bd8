package keycmd

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/bus"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type result struct {
	out, errOut string
	err         error
}

// run calls Run with args and an environment made of env.
func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	err := Run(ctx, args, func(k string) string { return env[k] }, &out, &errOut)
	return result{out.String(), errOut.String(), err}
}

// mustRun is run that fails the test on an error.
func mustRun(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	r := run(t, env, args...)
	if r.err != nil {
		t.Fatalf("hub keys %s: %v\nstderr: %s", strings.Join(args, " "), r.err, r.errOut)
	}
	return r
}

// oneSecret returns the only API key in out.
func oneSecret(t *testing.T, r result) auth.Key {
	t.Helper()
	keys := keyPattern.FindAllString(r.out, -1)
	if len(keys) != 1 {
		t.Fatalf("want exactly one key printed, got %d in:\n%s", len(keys), r.out)
	}
	if keyPattern.MatchString(r.errOut) {
		t.Fatalf("key on stderr: %s", r.errOut)
	}
	if !strings.Contains(r.out, "will not be shown again") {
		t.Fatalf("no notice that the key is shown once:\n%s", r.out)
	}
	k, err := auth.ParseKey(keys[0])
	if err != nil {
		t.Fatalf("printed key does not parse: %v", err)
	}
	return k
}

// openStore opens a Store on url, as a running hub would; it is closed at
// cleanup.
func openStore(t *testing.T, url string, creds bus.Credentials) *auth.Store {
	t.Helper()
	nc, err := nats.Connect(url, creds.Option(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := auth.OpenStore(ctx, js, auth.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	return st
}

// withDirStore runs fn with a Store on the embedded store in dir, holding
// the directory's lock (StartEmbedded takes it), and stops everything before it
// returns.
func withDirStore(t *testing.T, dir string, fn func(st *auth.Store)) {
	t.Helper()
	srv, err := bus.StartEmbedded(bus.EmbeddedConfig{Port: -1, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	nc, err := nats.Connect(srv.ClientURL(), srv.Credentials().Option(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := auth.OpenStore(ctx, js, auth.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fn(st)
}

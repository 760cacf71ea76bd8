package bus

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The embedded server admits only clients with its store's credentials:
// another local process cannot read the key bucket or the signing secret.
func TestEmbeddedRequiresItsCredentials(t *testing.T) {
	dir := t.TempDir()
	e := startServer(t, -1, dir)
	creds := e.Credentials()
	if creds.IsZero() || len(creds.Password) < 20 {
		t.Fatalf("credentials %q/%d chars, want a user and a long random password", creds.User, len(creds.Password))
	}
	for name, opts := range map[string][]nats.Option{
		"none":           nil,
		"wrong password": {nats.UserInfo(creds.User, creds.Password+"x")},
		"token":          {nats.Token(creds.Password)},
	} {
		nc, err := nats.Connect(e.ClientURL(), append(opts, nats.Timeout(2*time.Second), nats.NoReconnect())...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected without the credentials", name)
		} else if !errors.Is(err, nats.ErrAuthorization) && !strings.Contains(strings.ToLower(err.Error()), "authorization") {
			t.Errorf("%s: %v, want an authorization violation", name, err)
		}
	}
	// With them: JetStream works, the key bucket included.
	js, err := jetstream.New(publisher(t, e))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Fatalf("JetStream with the credentials: %v", err)
	}

	// They are in the store directory, readable by the owner only, and the
	// same after a restart.
	path := filepath.Join(dir, CredentialsFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	e.Shutdown()
	again := startServer(t, -1, dir)
	if again.Credentials() != creds {
		t.Fatalf("credentials changed across a restart")
	}
	if other := startServer(t, -1, t.TempDir()); other.Credentials() == creds {
		t.Fatalf("two store directories share credentials")
	}
}

// Commands find the credentials of a local hub's data directory, and never
// send them anywhere but to loopback.
func TestClientCredentials(t *testing.T) {
	dir := t.TempDir()
	e := startServer(t, -1, dir)
	want := e.Credentials()
	e.Shutdown()
	explicit := filepath.Join(t.TempDir(), "other.json")
	if err := os.WriteFile(explicit, []byte(`{"user":"u","password":"p"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		urls, file, dir string
		want            Credentials
	}{
		{"nats://127.0.0.1:4222", "", dir, want},
		{"nats://localhost:4222,nats://[::1]:4222", "", dir, want},
		{"127.0.0.1:4222", "", dir, want},
		{"nats://nats.example.com:4222", "", dir, Credentials{}},               // remote: never
		{"nats://127.0.0.1:4222,nats://10.0.0.1:4222", "", dir, Credentials{}}, // one remote is enough
		{"nats://me:secret@127.0.0.1:4222", "", dir, Credentials{}},            // the URL has its own
		{"nats://127.0.0.1:4222", "", t.TempDir(), Credentials{}},              // no file: none
		{"nats://nats.example.com:4222", explicit, dir, Credentials{"u", "p"}}, // explicit: as given
	} {
		got, err := ClientCredentials(tc.urls, tc.file, tc.dir)
		if err != nil || got != tc.want {
			t.Errorf("ClientCredentials(%q, %q, …) = %+v, %v; want %+v", tc.urls, tc.file, got, err, tc.want)
		}
	}
	if _, err := ClientCredentials("nats://127.0.0.1:4222", filepath.Join(dir, "missing.json"), ""); err == nil {
		t.Errorf("a missing explicit credentials file is not an error")
	}
}

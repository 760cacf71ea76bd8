package bus

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"
)

// CredentialsFile is the file, in the embedded server's store directory,
// holding the user and password that every client of that server must
// present. [StartEmbedded] creates it, mode 0600, on first start.
const CredentialsFile = "nats-credentials.json"

// Credentials are a NATS user and password. The zero value means none.
// Never log them.
type Credentials struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// IsZero reports whether c holds no credentials.
func (c Credentials) IsZero() bool { return c.User == "" && c.Password == "" }

// Option returns the nats.go option that presents c; for the zero value it
// changes nothing (credentials in the URL, if any, still apply).
func (c Credentials) Option() nats.Option {
	if c.IsZero() {
		return func(*nats.Options) error { return nil }
	}
	return nats.UserInfo(c.User, c.Password)
}

// URL returns rawURL (one server URL) with c as its user info, for tools
// that take nothing but a URL. The result is a secret: never log it.
func (c Credentials) URL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || c.IsZero() {
		return rawURL
	}
	u.User = url.UserPassword(c.User, c.Password)
	return u.String()
}

// ReadCredentials reads a credentials file ({"user":…,"password":…}).
// The error wraps fs.ErrNotExist when there is none.
func ReadCredentials(path string) (Credentials, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, fmt.Errorf("bus: NATS credentials: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil || c.User == "" || c.Password == "" {
		return Credentials{}, fmt.Errorf("bus: NATS credentials in %s: want {\"user\":…,\"password\":…}", path)
	}
	return c, nil
}

// loadOrCreateCredentials returns the credentials of the store directory
// dir, creating them (random, in a file of mode 0600 created exclusively)
// when dir has none. The caller holds dir's lock.
func loadOrCreateCredentials(dir string) (Credentials, error) {
	path := filepath.Join(dir, CredentialsFile)
	c, err := ReadCredentials(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	c = Credentials{User: "streamhub", Password: rand.Text()}
	b, _ := json.Marshal(c)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Credentials{}, fmt.Errorf("bus: create NATS credentials: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return Credentials{}, fmt.Errorf("bus: write NATS credentials: %w", err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(path)
		return Credentials{}, fmt.Errorf("bus: write NATS credentials: %w", err)
	}
	return c, nil
}

// ClientCredentials returns the credentials a command presents to the NATS
// servers urls (comma-separated): those of the file credsFile when given;
// otherwise, when every URL is a loopback one without user info, those of
// an embedded server's store directory dataDir, if it has any (so that
// `hub keys --nats-url nats://127.0.0.1:4222` works beside a running hub
// without further flags); otherwise none. Credentials of a local data
// directory are never sent to a remote server.
func ClientCredentials(urls, credsFile, dataDir string) (Credentials, error) {
	if credsFile != "" {
		return ReadCredentials(credsFile)
	}
	for _, raw := range strings.Split(urls, ",") {
		raw = strings.TrimSpace(raw)
		if !strings.Contains(raw, "://") {
			raw = "nats://" + raw // as nats.go reads a bare host:port
		}
		u, err := url.Parse(raw)
		if err != nil || u.User != nil || !isLoopback(u.Hostname()) {
			return Credentials{}, nil
		}
	}
	if dataDir == "" {
		dataDir = DefaultEmbeddedStoreDir
	}
	c, err := ReadCredentials(filepath.Join(dataDir, CredentialsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Credentials{}, nil
	}
	return c, err
}

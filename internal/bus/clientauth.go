package bus

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
)

// ClientAuth is how a client proves itself to NATS servers beyond a user
// and password ([Credentials]), and how it checks them: a token, an nkey,
// a user JWT, TLS. The zero value adds nothing. The fields hold file
// names, not secrets, except Token, which must never be logged. A value is
// immutable once handed to [Connect]; it may be shared between goroutines.
type ClientAuth struct {
	// Token is a server authorization token. Default none.
	Token string
	// NKeySeedFile is a file holding a user nkey seed ("SU…"); the client
	// signs the server's nonce with it. Default none.
	NKeySeedFile string
	// UserCredsFile is a NATS credentials file holding a user JWT and its
	// nkey seed, as nsc and Synadia Cloud write them (decentralized
	// auth). Default none.
	UserCredsFile string
	// CAFile holds the PEM certificates that the servers' certificates
	// must chain to; setting it turns TLS on. Default: the system's roots
	// when the servers require TLS (or a URL says tls://).
	CAFile string
	// CertFile and KeyFile are the client certificate and its key in PEM,
	// for servers that verify clients (mutual TLS); both or neither. Setting
	// them turns TLS on.
	CertFile, KeyFile string
}

// TLS reports whether a accounts for TLS settings.
func (a ClientAuth) TLS() bool { return a.CAFile != "" || a.CertFile != "" || a.KeyFile != "" }

// Validate reports settings that cannot work together, and files that
// cannot be read, with the setting's name: an nkey and a user JWT at once,
// a certificate without its key.
func (a ClientAuth) Validate() error {
	if a.NKeySeedFile != "" && a.UserCredsFile != "" {
		return errors.New("bus: NATS auth: an nkey seed and a user credentials file exclude each other")
	}
	if (a.CertFile == "") != (a.KeyFile == "") {
		return errors.New("bus: NATS TLS: a client certificate needs its key, and a key its certificate")
	}
	for _, f := range []struct{ what, path string }{
		{"nkey seed", a.NKeySeedFile}, {"user credentials", a.UserCredsFile},
		{"CA", a.CAFile}, {"client certificate", a.CertFile}, {"client key", a.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return fmt.Errorf("bus: NATS %s file: %w", f.what, err)
		}
	}
	return nil
}

// Options returns the nats.go options that apply a, after [ClientAuth.Validate].
// Files are read here (the nkey seed again at each connection, by nats.go,
// which wipes it from memory after use); their errors name the setting.
func (a ClientAuth) Options() ([]nats.Option, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	var opts []nats.Option
	if a.Token != "" {
		opts = append(opts, nats.Token(a.Token))
	}
	if a.NKeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(a.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("bus: NATS nkey seed %s: %w", a.NKeySeedFile, err)
		}
		opts = append(opts, o)
	}
	if a.UserCredsFile != "" {
		opts = append(opts, nats.UserCredentials(a.UserCredsFile))
	}
	if a.TLS() {
		// TLS 1.2 at least, as nats.go's own default; the helpers below add
		// the roots and the client certificate (and turn Secure on).
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	if a.CAFile != "" {
		opts = append(opts, nats.RootCAs(a.CAFile))
	}
	if a.CertFile != "" {
		opts = append(opts, nats.ClientCert(a.CertFile, a.KeyFile))
	}
	return opts, nil
}

// IsUserCredsFile reports whether the file at path is a NATS user
// credentials file (a user JWT and nkey seed) rather than the hub's JSON
// user and password. It reads only the start of the file.
func IsUserCredsFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, _ := f.Read(buf)
	return bytes.Contains(buf[:n], []byte("BEGIN NATS USER JWT"))
}

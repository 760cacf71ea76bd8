// Package natsflag holds the command-line flags that connect a StreamHub
// command to a real NATS cluster: credentials of every kind NATS has, and
// TLS. hub serve, hub publish and hub keys register the same flags, with
// the same environment variables, so that one environment (a container's)
// serves them all. Only commands import it.
package natsflag

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/streamhub/streamhub/internal/bus"
)

// Flags are the values of the NATS connection flags. Secrets come from the
// environment (STREAMHUB_NATS_PASSWORD, STREAMHUB_NATS_TOKEN) or from files;
// on the command line they are visible to every local user, and
// WarnSecretsOnCommandLine says so. A Flags is used by one goroutine.
type Flags struct {
	creds, user, password, token, nkey, ca, cert, key string
}

// secret names the flags whose value is a secret.
var secret = map[string]bool{"nats-password": true, "nats-token": true}

// Register registers the flags on fs and returns their values.
func Register(fs *flag.FlagSet) *Flags {
	n := &Flags{}
	n.Register(fs)
	return n
}

// Register registers the flags on fs, with n holding their values: flag
// sets that share n (a command's and its subcommand's) fill the same
// values.
func (n *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&n.creds, "nats-creds", "", `credentials file for --nats-url: a NATS user JWT and seed (.creds, as nsc writes it), or {"user":…,"password":…} (the embedded server's are in --data-dir)`)
	fs.StringVar(&n.user, "nats-user", "", "NATS user for --nats-url (with --nats-password)")
	fs.StringVar(&n.password, "nats-password", "", "NATS password for --nats-user; set it as STREAMHUB_NATS_PASSWORD, not on the command line")
	fs.StringVar(&n.token, "nats-token", "", "NATS authorization token for --nats-url; set it as STREAMHUB_NATS_TOKEN, not on the command line")
	fs.StringVar(&n.nkey, "nats-nkey", "", "file holding a NATS user nkey seed (SU…) for --nats-url")
	fs.StringVar(&n.ca, "nats-ca", "", "PEM file of the CA that NATS servers' certificates chain to (turns TLS on; default: the system's roots for tls:// URLs)")
	fs.StringVar(&n.cert, "nats-cert", "", "PEM client certificate for NATS servers that verify clients (mutual TLS; with --nats-key)")
	fs.StringVar(&n.key, "nats-key", "", "PEM key of --nats-cert")
}

// EnvName is a flag's environment variable: STREAMHUB_ and its name in
// capitals with "_" for "-".
func EnvName(flagName string) string {
	return "STREAMHUB_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// FillFromEnv sets each of these flags that is still empty after parsing
// from its environment variable, for commands whose flag parsing does not
// do that for every flag. fs must be a flag set n was registered on.
func (n *Flags) FillFromEnv(fs *flag.FlagSet, getenv func(string) string) error {
	for _, name := range n.names() {
		if fs.Lookup(name).Value.String() != "" {
			continue
		}
		if v := getenv(EnvName(name)); v != "" {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%s: %w", EnvName(name), err)
			}
		}
	}
	return nil
}

func (n *Flags) names() []string {
	return []string{"nats-creds", "nats-user", "nats-password", "nats-token", "nats-nkey", "nats-ca", "nats-cert", "nats-key"}
}

// Any reports whether any of the flags is set.
func (n *Flags) Any() bool { return *n != Flags{} }

// Resolve turns the flags into what bus.Connect takes. A user JWT
// credentials file goes into auth; a JSON one, or --nats-user and
// --nats-password, into creds. Its errors are mistakes in the flags.
func (n *Flags) Resolve() (creds bus.Credentials, auth bus.ClientAuth, err error) {
	auth = bus.ClientAuth{Token: n.token, NKeySeedFile: n.nkey, CAFile: n.ca, CertFile: n.cert, KeyFile: n.key}
	if n.creds != "" {
		if bus.IsUserCredsFile(n.creds) {
			auth.UserCredsFile = n.creds
		} else if creds, err = bus.ReadCredentials(n.creds); err != nil {
			return creds, auth, fmt.Errorf("--nats-creds: %w", err)
		}
	}
	if n.user != "" || n.password != "" {
		if !creds.IsZero() {
			return creds, auth, errors.New("--nats-user and --nats-password exclude a user and password in --nats-creds")
		}
		if n.user == "" || n.password == "" {
			return creds, auth, errors.New("--nats-user and --nats-password go together")
		}
		creds = bus.Credentials{User: n.user, Password: n.password}
	}
	if err := auth.Validate(); err != nil {
		return creds, auth, err
	}
	return creds, auth, nil
}

// WarnSecretsOnCommandLine logs a warning for each secret given as a flag
// (not through the environment): other local users can read it in the
// process list. Flags may have been set from the environment too, so a
// value that differs from its variable's came from the command line.
func WarnSecretsOnCommandLine(fs *flag.FlagSet, getenv func(string) string, log *slog.Logger) {
	for name := range secret {
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if v := f.Value.String(); v != "" && v != getenv(EnvName(name)) {
			log.Warn(fmt.Sprintf("--%s on the command line is visible to every local user; set %s instead", name, EnvName(name)))
		}
	}
}

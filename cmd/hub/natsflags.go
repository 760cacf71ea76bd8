package main

import (
	"flag"
	"fmt"
	"log/slog"

	"github.com/streamhub/streamhub/internal/bus"
)

// natsFlags are the flags that connect a command to a real NATS cluster:
// credentials of every kind NATS has, and TLS. Secrets come from the
// environment (STREAMHUB_NATS_PASSWORD, STREAMHUB_NATS_TOKEN) or from files;
// on the command line they are visible to every local user, and the hub
// says so.
type natsFlags struct {
	creds, user, password, token, nkey, ca, cert, key string
}

// secretFlags are the flags whose value is a secret.
var secretFlags = []string{"nats-password", "nats-token"}

// addNATSFlags registers the NATS connection flags on fs.
func addNATSFlags(fs *flag.FlagSet) *natsFlags {
	n := &natsFlags{}
	fs.StringVar(&n.creds, "nats-creds", "", `credentials file for --nats-url: a NATS user JWT and seed (.creds, as nsc writes it), or {"user":…,"password":…} (the embedded server's are in --data-dir)`)
	fs.StringVar(&n.user, "nats-user", "", "NATS user for --nats-url (with --nats-password)")
	fs.StringVar(&n.password, "nats-password", "", "NATS password for --nats-user; set it as STREAMHUB_NATS_PASSWORD, not on the command line")
	fs.StringVar(&n.token, "nats-token", "", "NATS authorization token for --nats-url; set it as STREAMHUB_NATS_TOKEN, not on the command line")
	fs.StringVar(&n.nkey, "nats-nkey", "", "file holding a NATS user nkey seed (SU…) for --nats-url")
	fs.StringVar(&n.ca, "nats-ca", "", "PEM file of the CA that NATS servers' certificates chain to (turns TLS on; default: the system's roots for tls:// URLs)")
	fs.StringVar(&n.cert, "nats-cert", "", "PEM client certificate for NATS servers that verify clients (mutual TLS; with --nats-key)")
	fs.StringVar(&n.key, "nats-key", "", "PEM key of --nats-cert")
	return n
}

// any reports whether any of the flags is set.
func (n *natsFlags) any() bool { return *n != natsFlags{} }

// resolve turns the flags into what bus.Connect takes. A user JWT
// credentials file goes into auth; a JSON one, or --nats-user and
// --nats-password, into creds.
func (n *natsFlags) resolve() (creds bus.Credentials, auth bus.ClientAuth, err error) {
	auth = bus.ClientAuth{Token: n.token, NKeySeedFile: n.nkey, CAFile: n.ca, CertFile: n.cert, KeyFile: n.key}
	if n.creds != "" {
		if bus.IsUserCredsFile(n.creds) {
			auth.UserCredsFile = n.creds
		} else if creds, err = bus.ReadCredentials(n.creds); err != nil {
			return creds, auth, usageErrorf("--nats-creds: %w", err)
		}
	}
	if n.user != "" || n.password != "" {
		if !creds.IsZero() {
			return creds, auth, usageErrorf("--nats-user and --nats-password exclude a user and password in --nats-creds")
		}
		if n.user == "" || n.password == "" {
			return creds, auth, usageErrorf("--nats-user and --nats-password go together")
		}
		creds = bus.Credentials{User: n.user, Password: n.password}
	}
	if err := auth.Validate(); err != nil {
		return creds, auth, usageErrorf("%w", err)
	}
	return creds, auth, nil
}

// warnSecretsOnCommandLine logs a warning for each secret given as a flag
// (not through the environment): other local users can read it in the
// process list. parseFlags sets flags from the environment too, so a value
// that differs from its variable's came from the command line.
func warnSecretsOnCommandLine(fs *flag.FlagSet, getenv func(string) string, log *slog.Logger) {
	for _, s := range secretFlags {
		if v := fs.Lookup(s).Value.String(); v != "" && v != getenv(envName(s)) {
			log.Warn(fmt.Sprintf("--%s on the command line is visible to every local user; set %s instead", s, envName(s)))
		}
	}
}

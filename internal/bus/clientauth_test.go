package bus_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// Each way a real cluster admits clients, against a real nats-server
// configured for it: the hub connects with the matching settings, and is
// refused without them (or with the wrong ones), with the reason in the
// error.
func TestConnectWithEachClusterAuth(t *testing.T) {
	pki := testsupport.NewTLSFiles(t)
	nkeySeed, nkeyPub := userNKey(t)
	userCreds, operator, account, accountJWT := operatorUser(t)

	cases := []struct {
		name   string
		server func(*natsserver.Options)
		good   bus.ConnConfig
		bad    bus.ConnConfig
	}{
		{
			name:   "user and password",
			server: func(o *natsserver.Options) { o.Username, o.Password = "hub", "s3cret" },
			good:   bus.ConnConfig{Credentials: bus.Credentials{User: "hub", Password: "s3cret"}},
			bad:    bus.ConnConfig{Credentials: bus.Credentials{User: "hub", Password: "wrong"}},
		},
		{
			name:   "token",
			server: func(o *natsserver.Options) { o.Authorization = "t0ken" },
			good:   bus.ConnConfig{Auth: bus.ClientAuth{Token: "t0ken"}},
			bad:    bus.ConnConfig{Auth: bus.ClientAuth{Token: "other"}},
		},
		{
			name:   "nkey",
			server: func(o *natsserver.Options) { o.Nkeys = []*natsserver.NkeyUser{{Nkey: nkeyPub}} },
			good:   bus.ConnConfig{Auth: bus.ClientAuth{NKeySeedFile: nkeySeed}},
		},
		{
			name: "user JWT credentials (operator mode)",
			server: func(o *natsserver.Options) {
				o.JetStream = false // an operator's JetStream needs a system account; auth is what is tested
				o.TrustedOperators = []*jwt.OperatorClaims{operator}
				r := &natsserver.MemAccResolver{}
				if err := r.Store(account, accountJWT); err != nil {
					t.Fatal(err)
				}
				o.AccountResolver = r
			},
			good: bus.ConnConfig{Auth: bus.ClientAuth{UserCredsFile: userCreds}},
		},
		{
			name: "TLS with a private CA",
			server: func(o *natsserver.Options) {
				o.TLSConfig = serverTLS(t, pki, false)
				o.TLS = true
			},
			good: bus.ConnConfig{Auth: bus.ClientAuth{CAFile: pki.CA}},
			// The system's roots do not know the test CA.
			bad: bus.ConnConfig{URLs: "tls://"},
		},
		{
			name: "mutual TLS",
			server: func(o *natsserver.Options) {
				o.TLSConfig = serverTLS(t, pki, true)
				o.TLS, o.TLSVerify = true, true
			},
			good: bus.ConnConfig{Auth: bus.ClientAuth{CAFile: pki.CA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}},
			bad:  bus.ConnConfig{Auth: bus.ClientAuth{CAFile: pki.CA}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := bustest.StartNATSWith(t, tc.server)
			url := ns.ClientURL()
			connect := func(cfg bus.ConnConfig) error {
				if cfg.URLs == "tls://" {
					cfg.URLs = strings.Replace(url, "nats://", "tls://", 1)
				} else {
					cfg.URLs = url
				}
				cfg.ConnectWait = 3 * time.Second
				c, err := bus.Connect(t.Context(), cfg)
				if err == nil {
					c.Close()
				}
				return err
			}
			if err := connect(tc.good); err != nil {
				t.Fatalf("with the right settings: %v", err)
			}
			if err := connect(bus.ConnConfig{}); err == nil {
				t.Fatal("connected with no settings")
			}
			if tc.bad != (bus.ConnConfig{}) {
				if err := connect(tc.bad); err == nil {
					t.Fatal("connected with the wrong settings")
				}
			}
		})
	}
}

// Settings that cannot work are refused before any connection, naming
// the setting; secrets never appear in the error.
func TestClientAuthValidate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		auth bus.ClientAuth
		want string
	}{
		{bus.ClientAuth{NKeySeedFile: file, UserCredsFile: file}, "exclude each other"},
		{bus.ClientAuth{CertFile: file}, "needs its key"},
		{bus.ClientAuth{KeyFile: file}, "needs its key"},
		{bus.ClientAuth{CAFile: filepath.Join(dir, "missing")}, "CA file"},
		{bus.ClientAuth{NKeySeedFile: file, Token: "SECRET-TOKEN"}, "nkey seed"}, // not a seed
	} {
		_, err := tc.auth.Options()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.auth, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET-TOKEN") {
			t.Errorf("the token leaked into %q", err)
		}
	}
	if !bus.IsUserCredsFile(writeUserCreds(t)) || bus.IsUserCredsFile(file) {
		t.Error("IsUserCredsFile does not tell a user JWT credentials file from another")
	}
}

func serverTLS(t *testing.T, pki *testsupport.TLSFiles, verify bool) *tls.Config {
	t.Helper()
	c, err := natsserver.GenTLSConfig(&natsserver.TLSConfigOpts{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CaFile: pki.CA, Verify: verify})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// userNKey writes a new user nkey seed to a file and returns the file and
// the public key.
func userNKey(t *testing.T) (seedFile, pub string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ = kp.PublicKey()
	seedFile = filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return seedFile, pub
}

// operatorUser makes an operator, an account it signs and a user of that
// account, as nsc would, and writes the user's credentials file.
func operatorUser(t *testing.T) (credsFile string, op *jwt.OperatorClaims, account, accountJWT string) {
	t.Helper()
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	op = jwt.NewOperatorClaims(opub)
	akp, _ := nkeys.CreateAccount()
	account, _ = akp.PublicKey()
	accountJWT, err := jwt.NewAccountClaims(account).Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	userJWT, err := jwt.NewUserClaims(upub).Encode(akp)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := ukp.Seed()
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		t.Fatal(err)
	}
	credsFile = filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(credsFile, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return credsFile, op, account, accountJWT
}

func writeUserCreds(t *testing.T) string {
	f, _, _, _ := operatorUser(t)
	return f
}

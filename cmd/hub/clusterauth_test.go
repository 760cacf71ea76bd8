package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// hub serve configured through the environment, as a Deployment would be,
// joins a NATS that demands mutual TLS and a token; hub publish reaches the
// same NATS with the same settings as flags. The token appears in no log.
func TestServeAndPublishAgainstATLSAndTokenNATS(t *testing.T) {
	pki := testsupport.NewTLSFiles(t)
	const token = "cluster-t0ken-Zq8"
	ns := bustest.StartNATSWith(t, func(o *natsserver.Options) {
		tc, err := natsserver.GenTLSConfig(&natsserver.TLSConfigOpts{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CaFile: pki.CA, Verify: true})
		if err != nil {
			t.Fatal(err)
		}
		o.TLSConfig, o.TLS, o.TLSVerify = tc, true, true
		o.Authorization = token
	})
	natsURL := strings.Replace(ns.ClientURL(), "nats://", "tls://", 1)
	addr := freeAddr(t)
	logs := &testsupport.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() {
		served <- runIO(ctx, []string{"serve", "--insecure-no-auth", "--log-level", "debug"}, env(map[string]string{
			"STREAMHUB_LISTEN":     addr,
			"STREAMHUB_NATS_URL":   natsURL,
			"STREAMHUB_NATS_TOKEN": token,
			"STREAMHUB_NATS_CA":    pki.CA,
			"STREAMHUB_NATS_CERT":  pki.ClientCert,
			"STREAMHUB_NATS_KEY":   pki.ClientKey,
		}), io.Discard, logs)
	}()
	defer func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("serve: %v\n%s", err, logs.String())
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not return after cancel")
		}
	}()
	testsupport.WaitFor(t, "the hub to be ready on its TLS NATS", 30*time.Second, func() bool {
		select {
		case err := <-served:
			t.Fatalf("serve ended: %v\n%s", err, logs.String())
		default:
		}
		return ready("http://" + addr)
	})

	publishArgs := func(extra ...string) []string {
		return append([]string{"publish", "--nats-url", natsURL, "--nats-ca", pki.CA, "--nats-cert", pki.ClientCert, "--nats-key", pki.ClientKey}, append(extra, "jobs.acme.j_tls", `{"state":"done"}`)...)
	}
	var out testsupport.Buffer
	pctx, pcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer pcancel()
	if err := runIO(pctx, publishArgs(), env(map[string]string{"STREAMHUB_NATS_TOKEN": token}), &out, &out); err != nil || !strings.Contains(out.String(), "published") {
		t.Fatalf("publish with TLS and the token: %v\n%s", err, out.String())
	}
	// Without the client certificate, the NATS refuses.
	if err := runIO(pctx, []string{"publish", "--nats-url", natsURL, "--nats-ca", pki.CA, "jobs.acme.j_tls", "{}"},
		env(map[string]string{"STREAMHUB_NATS_TOKEN": token}), io.Discard, io.Discard); err == nil {
		t.Fatal("publish without the client certificate succeeded")
	}
	// hub keys in the hub's own environment (docker exec, kubectl exec):
	// no flags at all.
	out = testsupport.Buffer{}
	podEnv := env(map[string]string{"STREAMHUB_NATS_URL": natsURL, "STREAMHUB_NATS_TOKEN": token,
		"STREAMHUB_NATS_CA": pki.CA, "STREAMHUB_NATS_CERT": pki.ClientCert, "STREAMHUB_NATS_KEY": pki.ClientKey})
	if err := runIO(pctx, []string{"keys", "create", "--name", "tls-agent", "--subscribe", "ticks.>"}, podEnv, &out, &out); err != nil || !apiKey.MatchString(out.String()) {
		t.Fatalf("keys create from the environment: %v\n%s", err, out.String())
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the NATS token is in the hub's log:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "visible to every local user") {
		t.Errorf("a warning about a secret on the command line, for one from the environment:\n%s", logs.String())
	}
}

// Bad combinations of the NATS flags are usage errors (exit 2) that name
// the flag, before anything starts; a secret given as a flag works but is
// warned about.
func TestNATSFlagMistakes(t *testing.T) {
	dir := t.TempDir()
	pki := testsupport.NewTLSFiles(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--nats-token", "x"}, "need --nats-url"},
		{[]string{"serve", "--nats-url", "nats://127.0.0.1:1", "--nats-cert", pki.ClientCert}, "needs its key"},
		{[]string{"serve", "--nats-url", "nats://127.0.0.1:1", "--nats-user", "u"}, "go together"},
		{[]string{"serve", "--nats-url", "nats://127.0.0.1:1", "--nats-ca", dir + "/missing.pem"}, "CA file"},
		{[]string{"publish", "--nats-url", "nats://127.0.0.1:1", "--nats-nkey", dir + "/none", "a.b", "{}"}, "nkey seed file"},
		{[]string{"keys", "list", "--nats-url", "nats://127.0.0.1:1", "--nats-key", pki.ClientKey}, "needs its key"},
	} {
		err := runIO(context.Background(), tc.args, env(nil), io.Discard, io.Discard)
		var ue usageError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error mentioning %q", tc.args, err, tc.want)
		}
	}

	// --nats-password on the command line: the hub warns, then goes on (here
	// to a NATS that is not there).
	logs := &testsupport.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = runIO(ctx, []string{"serve", "--listen", freeAddr(t), "--nats-url", "nats://" + freeAddr(t), "--nats-user", "u", "--nats-password", "pw-on-the-line"}, env(nil), io.Discard, logs)
	if !strings.Contains(logs.String(), "STREAMHUB_NATS_PASSWORD") {
		t.Errorf("no warning about --nats-password on the command line:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "pw-on-the-line") {
		t.Errorf("the password is in the log:\n%s", logs.String())
	}
}

// hub serve with --tls-cert and --tls-key from the environment, as a pod
// gets them from a mounted secret; hub health with the same environment
// checks it over HTTPS, accepting exactly that certificate.
func TestServeWithTLSAndHealthOverHTTPS(t *testing.T) {
	pki := testsupport.NewTLSFiles(t)
	addr := freeAddr(t)
	podEnv := map[string]string{
		"STREAMHUB_LISTEN":      addr,
		"STREAMHUB_NATS_LISTEN": "127.0.0.1:-1",
		"STREAMHUB_DATA_DIR":    t.TempDir(),
		"STREAMHUB_TLS_CERT":    pki.ServerCert,
		"STREAMHUB_TLS_KEY":     pki.ServerKey,
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	logs := &testsupport.Buffer{}
	go func() { served <- runIO(ctx, []string{"serve"}, env(podEnv), io.Discard, logs) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	healthEnv := map[string]string{"STREAMHUB_LISTEN": addr, "STREAMHUB_TLS_CERT": pki.ServerCert}
	testsupport.WaitFor(t, "hub health over HTTPS to pass", 30*time.Second, func() bool {
		return runIO(ctx, []string{"health", "--timeout", "1s"}, env(healthEnv), io.Discard, io.Discard) == nil
	})
	// Another certificate (the client's, same CA) is not the hub's: refused.
	healthEnv["STREAMHUB_TLS_CERT"] = pki.ClientCert
	if err := runIO(ctx, []string{"health", "--timeout", "2s"}, env(healthEnv), io.Discard, io.Discard); err == nil {
		t.Error("hub health accepted a certificate other than --tls-cert")
	}
	if !strings.Contains(logs.String(), "tls=true") {
		t.Errorf("the startup line does not say TLS:\n%s", logs.String())
	}
}

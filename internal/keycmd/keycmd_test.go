package keycmd

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/testsupport"

	"github.com/streamhub/streamhub/internal/auth"
)

var (
	inside  = netip.MustParseAddr("10.1.2.3")
	outside = netip.MustParseAddr("192.0.2.7")
)

// secretFree fails when any output reveals a key or the secret part of one.
func secretFree(t *testing.T, r result, keys ...auth.Key) {
	t.Helper()
	all := r.out + r.errOut
	if r.err != nil {
		all += r.err.Error()
	}
	for _, k := range keys {
		full := k.Reveal()
		if strings.Contains(all, full) || strings.Contains(all, full[len(full)-38:len(full)-6]) {
			t.Fatalf("output reveals a secret:\n%s", all)
		}
	}
	if strings.Contains(strings.ToLower(all), "hash") {
		t.Fatalf("output mentions a hash:\n%s", all)
	}
}

func showJSON(t *testing.T, env map[string]string, id string) map[string]any {
	t.Helper()
	r := mustRun(t, env, "show", id, "--json")
	var m map[string]any
	if err := json.Unmarshal([]byte(r.out), &m); err != nil {
		t.Fatalf("show --json: %v\n%s", err, r.out)
	}
	return m
}

func TestRoundTripDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	byFlag := map[string]string{}
	byEnv := map[string]string{EnvDataDir: dir}

	r := mustRun(t, byFlag, "create", "--data-dir", dir, "--name", "ingest-acme",
		"--subscribe", "ticks.>", "--subscribe", "chain.eth.*, chain.btc.*", "--publish", "jobs.acme.>",
		"--expires", "720h", "--cidr", "10.0.0.0/8", "--max-conns", "50", "--max-subs", "64",
		"--commands-per-sec", "5", "--publish-per-sec", "7")
	key := oneSecret(t, r)
	for _, want := range []string{key.ID(), "ticks.>,chain.eth.*,chain.btc.*", "jobs.acme.>", "10.0.0.0/8", "50 connections", "in 720h0m0s"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("create output lacks %q:\n%s", want, r.out)
		}
	}

	var seen []result // every output after create, checked for secrets at the end
	r = mustRun(t, byEnv, "list")
	seen = append(seen, r)
	if !regexp.MustCompile(key.ID() + ` +ingest-acme +live +ticks.>,chain.eth.\*,chain.btc.\* +jobs.acme.> .* never +active\n`).MatchString(r.out) {
		t.Fatalf("list row wrong:\n%s", r.out)
	}
	r = mustRun(t, byEnv, "list", "--json")
	seen = append(seen, r)
	var list []map[string]any
	if err := json.Unmarshal([]byte(r.out), &list); err != nil || len(list) != 1 {
		t.Fatalf("list --json: %v\n%s", err, r.out)
	}
	m := showJSON(t, byEnv, key.ID())
	if m["id"] != key.ID() || m["status"] != "active" || m["name"] != "ingest-acme" || m["env"] != "live" {
		t.Fatalf("show --json = %v", m)
	}
	lim, _ := m["limits"].(map[string]any)
	if lim["max_conns"] != 50.0 || lim["max_subs_per_conn"] != 64.0 || lim["commands_per_sec"] != 5.0 || lim["publish_per_sec"] != 7.0 {
		t.Fatalf("limits = %v", m["limits"])
	}
	created, _ := time.Parse(time.RFC3339Nano, m["created"].(string))
	expires, _ := time.Parse(time.RFC3339Nano, m["expires"].(string))
	if expires.Sub(created) != 720*time.Hour {
		t.Fatalf("expires %v after created, want 720h", expires.Sub(created))
	}
	// show takes a full key too, and prints its metadata, not its secret.
	r = mustRun(t, byEnv, "show", key.Reveal())
	seen = append(seen, r)
	if !strings.Contains(r.out, "id         "+key.ID()) || !strings.Contains(r.out, "last used  never") {
		t.Fatalf("show:\n%s", r.out)
	}

	withDirStore(t, dir, func(st *auth.Store) {
		if _, err := st.Authenticate(key.Reveal(), inside, time.Now()); err != nil {
			t.Fatalf("printed key does not authenticate: %v", err)
		}
		if _, err := st.Authenticate(key.Reveal(), outside, time.Now()); !errors.Is(err, auth.ErrNetwork) {
			t.Fatalf("outside the CIDR: %v", err)
		}
	})

	r = mustRun(t, byEnv, "rotate", key.ID(), "--overlap", "1h")
	nu := oneSecret(t, r)
	if nu.ID() == key.ID() || !strings.Contains(r.out, "The old key "+key.ID()+" keeps working until") || !strings.Contains(r.out, "(in 1h0m0s)") {
		t.Fatalf("rotate output:\n%s", r.out)
	}
	old := showJSON(t, byEnv, key.ID())
	oldExp, _ := time.Parse(time.RFC3339Nano, old["expires"].(string))
	if old["rotated_to"] != nu.ID() || time.Until(oldExp) < 59*time.Minute || time.Until(oldExp) > time.Hour {
		t.Fatalf("old key after rotate: %v", old)
	}
	withDirStore(t, dir, func(st *auth.Store) {
		for _, k := range []auth.Key{key, nu} {
			if _, err := st.Authenticate(k.Reveal(), inside, time.Now()); err != nil {
				t.Fatalf("during the overlap %s: %v", k.ID(), err)
			}
		}
	})

	r = mustRun(t, byEnv, "revoke", nu.ID())
	seen = append(seen, r)
	if !strings.Contains(r.out, "Revoked key "+nu.ID()) {
		t.Fatalf("revoke:\n%s", r.out)
	}
	r = mustRun(t, byEnv, "revoke", nu.ID())
	seen = append(seen, r)
	if !strings.Contains(r.out, "already revoked") {
		t.Fatalf("second revoke:\n%s", r.out)
	}
	r = mustRun(t, byEnv, "list")
	seen = append(seen, r)
	if !regexp.MustCompile(nu.ID() + ` .* revoked\n`).MatchString(r.out) {
		t.Fatalf("list after revoke:\n%s", r.out)
	}
	withDirStore(t, dir, func(st *auth.Store) {
		if _, err := st.Authenticate(nu.Reveal(), inside, time.Now()); !errors.Is(err, auth.ErrRevoked) {
			t.Fatalf("revoked key: %v", err)
		}
	})

	// A second key, retired at once by rotate --overlap 0.
	r = mustRun(t, byEnv, "create", "--name", "two", "--env", "test", "--publish", "jobs.x.>")
	two := oneSecret(t, r)
	r = mustRun(t, byEnv, "rotate", two.ID(), "--overlap=0")
	three := oneSecret(t, r)
	if !strings.Contains(r.out, "The old key "+two.ID()+" stopped working now") {
		t.Fatalf("rotate --overlap 0:\n%s", r.out)
	}
	withDirStore(t, dir, func(st *auth.Store) {
		if _, err := st.Authenticate(two.Reveal(), inside, time.Now()); !errors.Is(err, auth.ErrExpired) {
			t.Fatalf("key retired by rotation: %v", err)
		}
		if _, err := st.Authenticate(three.Reveal(), inside, time.Now()); err != nil {
			t.Fatalf("its replacement: %v", err)
		}
	})
	r = mustRun(t, byEnv, "list")
	seen = append(seen, r)
	if !regexp.MustCompile(two.ID() + ` +two +test .* expired\n`).MatchString(r.out) {
		t.Fatalf("list with an expired key:\n%s", r.out)
	}
	for _, r := range seen {
		secretFree(t, r, key, nu, two, three)
	}
}

func TestRoundTripNATSURL(t *testing.T) {
	srv, hubDir := bustest.StartEmbedded(t)
	url := srv.ClientURL()
	hub := openStore(t, url, srv.Credentials()) // a running hub's store, following the bucket
	// The hub's data directory holds the credentials of its NATS server.
	byFlag := map[string]string{EnvDataDir: hubDir}
	byEnv := map[string]string{EnvNATSURL: url, EnvDataDir: hubDir}
	authErr := func(k auth.Key) error {
		_, err := hub.Authenticate(k.Reveal(), inside, time.Now())
		return err
	}

	key := oneSecret(t, mustRun(t, byFlag, "create", "--nats-url", url, "--name", "agent", "--subscribe", "ticks.coinbase.*"))
	testsupport.WaitFor(t, "the hub to accept the new key", 5*time.Second, func() bool { return authErr(key) == nil })
	r := mustRun(t, byEnv, "list")
	if !strings.Contains(r.out, key.ID()) || !strings.Contains(r.out, "ticks.coinbase.*") {
		t.Fatalf("list:\n%s", r.out)
	}
	secretFree(t, r, key)

	nu := oneSecret(t, mustRun(t, byEnv, "rotate", key.ID(), "--overlap", "0s"))
	testsupport.WaitFor(t, "the hub to refuse the rotated key", 5*time.Second, func() bool { return errors.Is(authErr(key), auth.ErrExpired) })
	testsupport.WaitFor(t, "the hub to accept the new key", 5*time.Second, func() bool { return authErr(nu) == nil })

	r = mustRun(t, byEnv, "revoke", nu.ID())
	secretFree(t, r, key, nu)
	testsupport.WaitFor(t, "the hub to refuse the revoked key", 5*time.Second, func() bool { return errors.Is(authErr(nu), auth.ErrRevoked) })

	// Without the hub's credentials its NATS refuses the command, which
	// says where they are.
	if r := run(t, byEnv, "list", "--nats-url", url, "--data-dir", t.TempDir()); r.err == nil || !strings.Contains(r.err.Error(), "--nats-creds") {
		t.Fatalf("a data directory without the hub's credentials: %v", r.err)
	}
	// --nats-creds names them explicitly, for any URL.
	creds := filepath.Join(t.TempDir(), "creds.json")
	if b, err := json.Marshal(srv.Credentials()); err != nil || os.WriteFile(creds, b, 0o600) != nil {
		t.Fatal(err)
	}
	if r := mustRun(t, map[string]string{}, "list", "--nats-url", url, "--nats-creds", creds, "--data-dir", t.TempDir()); !strings.Contains(r.out, key.ID()) {
		t.Fatalf("list with --nats-creds:\n%s", r.out)
	}
	// An explicit --data-dir beats STREAMHUB_NATS_URL.
	if r := run(t, byEnv, "list", "--data-dir", filepath.Join(t.TempDir(), "missing")); r.err == nil || !strings.Contains(r.err.Error(), "does not exist") {
		t.Fatalf("--data-dir over the environment: %v", r.err)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{EnvDataDir: dir}
	key := oneSecret(t, mustRun(t, env, "create", "--name", "k", "--subscribe", "ticks.>"))
	typo := key.Reveal()[:30] + "!" + key.Reveal()[31:]
	for _, tc := range []struct {
		args []string
		want string
		is   error
	}{
		{nil, "missing command", nil},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`, nil},
		{[]string{"create", "--bogus"}, "flag provided but not defined: -bogus", nil},
		{[]string{"create", "--subscribe", "ticks.>"}, "--name is required", nil},
		{[]string{"create", "--name", "x"}, "at least one --subscribe or --publish", nil},
		{[]string{"create", "--name", "x", "--subscribe", "ticks..x"}, `flag -subscribe: subject: invalid subject: empty token`, nil},
		{[]string{"create", "--name", "x", "--publish", "jobs.>.x"}, `flag -publish: subject: invalid subject: '>' must be the last`, nil},
		{[]string{"create", "--name", "x", "--subscribe", "ticks.coin*"}, "wildcard character inside token", nil},
		{[]string{"create", "--name", "x", "--subscribe", "a,,b"}, "empty element", nil},
		{[]string{"create", "--name", "x", "--subscribe", "t", "--cidr", "10.0.0.0/33"}, "flag -cidr", nil},
		{[]string{"create", "--name", "x", "--subscribe", "t", "--expires", "soon"}, `"soon" is not a duration`, nil},
		{[]string{"create", "--name", "x", "--subscribe", "t", "--expires", "-5h"}, "negative", nil},
		{[]string{"create", "--name", "x", "--subscribe", "t", "--env", "prod"}, "environment must be", auth.ErrInvalidRequest},
		{[]string{"create", "--name", "x", "--subscribe", "t", "--max-conns", "-1"}, "negative limit", auth.ErrInvalidRequest},
		{[]string{"create", "--name", "x", "--subscribe", "t", "stray"}, "no positional arguments", nil},
		{[]string{"create", "--name", key.Reveal(), "--subscribe", "t"}, "looks like an API key", nil},
		{[]string{"create", "--name", "x", "--subscribe", key.Reveal() + ".."}, "flag -subscribe", nil},
		{[]string{"list", "stray"}, "no positional arguments", nil},
		{[]string{"show"}, "exactly one key id, got 0", nil},
		{[]string{"show", "a", "b"}, "exactly one key id, got 2", nil},
		{[]string{"show", "not-an-id"}, "not a key id", nil},
		{[]string{"show", typo}, "neither a key id nor a valid key", auth.ErrMalformed},
		{[]string{"show", "AAAAAAAAAAAA"}, "no key with id AAAAAAAAAAAA", auth.ErrUnknown},
		{[]string{"revoke", "AAAAAAAAAAAA"}, "no key with id AAAAAAAAAAAA", auth.ErrUnknown},
		{[]string{"rotate", "AAAAAAAAAAAA"}, "no key with id AAAAAAAAAAAA", auth.ErrUnknown},
		{[]string{"rotate", key.ID(), "--overlap", "forever"}, `flag -overlap: "forever" is not a duration`, nil},
	} {
		r := run(t, env, tc.args...)
		if r.err == nil || !strings.Contains(r.err.Error(), tc.want) || !strings.HasPrefix(r.err.Error(), "keycmd: ") {
			t.Errorf("%q: error %v, want it to contain %q", tc.args, r.err, tc.want)
			continue
		}
		if tc.is != nil && !errors.Is(r.err, tc.is) {
			t.Errorf("%q: %v is not %v", tc.args, r.err, tc.is)
		}
		secretFree(t, r, key)
		if strings.Contains(r.out+r.errOut+r.err.Error(), typo) {
			t.Errorf("%q: the mistyped key was echoed", tc.args)
		}
	}
	// Revoked keys cannot be rotated.
	mustRun(t, env, "revoke", key.ID())
	if r := run(t, env, "rotate", key.ID()); !errors.Is(r.err, auth.ErrRevoked) || !strings.Contains(r.err.Error(), "create a new key") {
		t.Fatalf("rotate revoked: %v", r.err)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"help"}, {"create", "-h"}, {"list", "--help"}, {"show", "-h"}, {"revoke", "-h"}, {"rotate", "-h"}} {
		r := run(t, nil, args...)
		if r.err != nil || !strings.Contains(r.errOut, "usage: hub keys") || r.out != "" {
			t.Errorf("%q: err %v, stderr %q", args, r.err, r.errOut)
		}
	}
	r := run(t, nil, "rotate", "-h")
	if !strings.Contains(r.errOut, "-overlap") || !strings.Contains(r.errOut, "-nats-url") {
		t.Fatalf("rotate usage lacks flags:\n%s", r.errOut)
	}
}

func TestDataDirInUse(t *testing.T) {
	dir := t.TempDir()
	unlock, err := bus.LockStoreDir(dir) // as a running hub holds it
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, "list", "--data-dir", dir)
	unlock()
	if !errors.Is(r.err, bus.ErrStoreInUse) || !strings.Contains(r.err.Error(), "--nats-url nats://127.0.0.1:4222") {
		t.Fatalf("locked directory: %v", r.err)
	}
	if r := mustRun(t, nil, "list", "--data-dir", dir); !strings.Contains(r.out, "No keys yet") {
		t.Fatalf("after unlock:\n%s", r.out)
	}
}

func TestMissingDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nope")
	for _, cmd := range [][]string{{"list"}, {"show", "AAAAAAAAAAAA"}, {"revoke", "AAAAAAAAAAAA"}} {
		r := run(t, nil, append(cmd, "--data-dir", dir)...)
		if r.err == nil || !strings.Contains(r.err.Error(), "does not exist") {
			t.Fatalf("%q: %v", cmd, r.err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the commands created the directory: %v", err)
	}
}

func TestUnreachableNATSHidesCredentials(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var out, errOut strings.Builder
	err := Run(ctx, []string{"list", "--nats-url", "nats://alice:hunter2pw@127.0.0.1:1"}, func(string) string { return "" }, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "connect to NATS") {
		t.Fatalf("err = %v", err)
	}
	if s := err.Error() + out.String() + errOut.String(); strings.Contains(s, "hunter2pw") || strings.Contains(s, "alice") {
		t.Fatalf("credentials leaked: %s", s)
	}
}

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"720h", 720 * time.Hour, true},
		{"90m", 90 * time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"30d", 720 * time.Hour, true},
		{"0", 0, true},
		{"0d", 0, true},
		{" 24h ", 24 * time.Hour, true},
		{"", 0, false},
		{"-1h", 0, false},
		{"-1d", 0, false},
		{"1.5d", 0, false},
		{"d", 0, false},
		{"99999999d", 0, false},
		{"forever", 0, false},
		{"24", 0, false},
	} {
		got, err := parseDuration(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseDuration(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// A key created with --signed-publish says so, and signing-secret prints
// the secret the hub verifies its publishes with.
func TestSignedPublishAndSigningSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{EnvDataDir: dir}
	key := oneSecret(t, mustRun(t, env, "create", "--name", "signer", "--publish", "jobs.acme.>", "--signed-publish"))
	if m := showJSON(t, env, key.ID()); m["signed_publish"] != true {
		t.Fatalf("show --json = %v, want signed_publish", m)
	}
	r := mustRun(t, env, "signing-secret", key.ID())
	withDirStore(t, dir, func(st *auth.Store) {
		want := st.PublishSecret(key.ID())
		if !strings.Contains(r.out, "\n    "+want+"\n") || !strings.Contains(r.out, "publishes only signed requests") {
			t.Fatalf("signing-secret output lacks %s:\n%s", want, r.out)
		}
	})
}

package keycmd

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/bus"
)

// create, rotate and revoke leave records in the audit journal, which
// `hub keys audit` prints, filtered by --key and --since; none holds a
// secret.
func TestAuditCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{EnvDataDir: dir}

	key := oneSecret(t, mustRun(t, env, "create", "--name", "agent", "--subscribe", "ticks.>"))
	nu := oneSecret(t, mustRun(t, env, "rotate", key.ID()))
	mustRun(t, env, "revoke", nu.ID())

	r := mustRun(t, env, "audit")
	secretFree(t, r, key, nu)
	for _, re := range []string{
		`key_created +` + key.ID() + ` +cli \S*@\S+ +- +env=live expires=never name=agent subscribe=ticks.>`,
		`key_created +` + nu.ID() + ` .*rotated_from=` + key.ID(),
		`key_rotated +` + key.ID() + ` .*new_key_id=` + nu.ID(),
		`key_revoked +` + nu.ID() + ` .*revoked=true`,
	} {
		if !regexp.MustCompile(re).MatchString(r.out) {
			t.Errorf("audit output lacks %s:\n%s", re, r.out)
		}
	}

	r = mustRun(t, env, "audit", "--key", nu.ID(), "--json")
	var recs []auth.AuditRecord
	if err := json.Unmarshal([]byte(r.out), &recs); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, r.out)
	}
	if len(recs) != 2 || recs[0].Event != auth.EventKeyCreated || recs[1].Event != auth.EventKeyRevoked ||
		recs[1].Actor.Kind != auth.ActorCLI {
		t.Fatalf("audit --key %s: %+v", nu.ID(), recs)
	}
	if r := mustRun(t, env, "audit", "--since", "1h", "--key", key.ID()); strings.Count(r.out, key.ID()) != 2 {
		t.Fatalf("--since 1h --key: want created and rotated:\n%s", r.out)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if r := mustRun(t, env, "audit", "--since", future); !strings.Contains(r.out, "No audit records match.") {
		t.Fatalf("--since the future:\n%s", r.out)
	}
	for _, bad := range [][]string{{"audit", "--since", "yesterday"}, {"audit", "--key", "nope"}, {"audit", "--limit", "0"}} {
		if r := run(t, env, bad...); !isUsage(r.err) {
			t.Errorf("%v: want a usage error, got %v", bad, r.err)
		}
	}
}

// list flags keys within --warn-within of their expiry and says how many.
func TestListExpiryWarning(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{EnvDataDir: dir}
	soon := oneSecret(t, mustRun(t, env, "create", "--name", "soon", "--subscribe", "ticks.>", "--expires", "48h"))
	later := oneSecret(t, mustRun(t, env, "create", "--name", "later", "--subscribe", "ticks.>", "--expires", "30d"))
	r := mustRun(t, env, "list")
	if !regexp.MustCompile(soon.ID()+` .* expiring\n`).MatchString(r.out) ||
		!regexp.MustCompile(later.ID()+` .* active\n`).MatchString(r.out) ||
		!strings.Contains(r.out, "1 key(s) expire within 168h0m0s") {
		t.Fatalf("list with the default 7d warning:\n%s", r.out)
	}
	r = mustRun(t, env, "list", "--warn-within", "60d")
	if !regexp.MustCompile(later.ID()+` .* expiring\n`).MatchString(r.out) || !strings.Contains(r.out, "2 key(s) expire within") {
		t.Fatalf("list --warn-within 60d:\n%s", r.out)
	}
	if r := mustRun(t, env, "list", "--warn-within", "1h"); strings.Contains(r.out, "expiring") {
		t.Fatalf("list --warn-within 1h:\n%s", r.out)
	}
}

func isUsage(err error) bool {
	var ue *UsageError
	return errors.As(err, &ue)
}

// show prints the key's usage summed over every hub, as flushed to the
// usage bucket.
func TestShowUsage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{EnvDataDir: dir}
	key := oneSecret(t, mustRun(t, env, "create", "--name", "agent", "--subscribe", "ticks.>"))
	if r := mustRun(t, env, "show", key.ID()); !strings.Contains(r.out, "connections 0, subscriptions 0, delivered 0 messages (0 bytes), published 0, last use never") {
		t.Fatalf("show of an unused key:\n%s", r.out)
	}
	srv, err := bus.StartEmbedded(bus.EmbeddedConfig{Port: -1, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL(), srv.Credentials().Option(), nats.MaxReconnects(0))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 2 { // two hubs
		u, err := auth.OpenUsage(ctx, js, auth.UsageConfig{})
		if err != nil {
			t.Fatal(err)
		}
		k := u.Key(key.ID())
		k.Connected()
		k.Subscribed(2)
		k.Delivered(3, 300)
		k.Published(1)
		u.Close(ctx)
	}
	nc.Close()
	srv.Shutdown()

	r := mustRun(t, env, "show", key.ID())
	if !regexp.MustCompile(`connections 2, subscriptions 4, delivered 6 messages \(600 bytes\), published 2, last use 20`).MatchString(r.out) {
		t.Fatalf("show:\n%s", r.out)
	}
	var got struct {
		ID    string           `json:"id"`
		Usage auth.UsageCounts `json:"usage"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, env, "show", key.ID(), "--json").out), &got); err != nil ||
		got.ID != key.ID() || got.Usage.Messages != 6 || got.Usage.Publishes != 2 {
		t.Fatalf("show --json: %+v, %v", got, err)
	}
}

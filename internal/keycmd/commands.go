package keycmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/subject"
)

type runFunc = func(ctx context.Context, e *env, pos []string) error

var commands = []command{
	{"create", "--name N (--subscribe P | --publish P)... [flags]", "create a key and print it, once", setupCreate},
	{"list", "[--json]", "list every key (never secrets)", setupList},
	{"show", "ID [--json]", "show one key's metadata", setupShow},
	{"revoke", "ID", "revoke a key at once, on every hub", setupRevoke},
	{"rotate", "ID [--overlap 24h]", "replace a key by a new one; the old one expires after the overlap", setupRotate},
	{"signing-secret", "ID", "print the key's secret for signing HTTP publishes (Streamhub-Signature)", setupSigningSecret},
	{"audit", "[--key ID] [--since 24h|TIME] [--json]", "print the audit journal: who changed which key, when, from where", setupAudit},
}

// DefaultExpiryWarning is how close to its expiry a key is flagged
// "expiring" by list and show.
const DefaultExpiryWarning = 7 * 24 * time.Hour

// DefaultOverlap is how long a rotated key keeps working when rotate is
// given no --overlap.
const DefaultOverlap = 24 * time.Hour

func setupCreate(fs *flag.FlagSet) runFunc {
	var req auth.CreateRequest
	fs.StringVar(&req.Name, "name", "", "name of the key, for people (required)")
	fs.StringVar(&req.Env, "env", auth.EnvLive, "environment: live or test")
	listFlag(fs, "subscribe", &req.Subscribe, "subject pattern the key may subscribe to, e.g. 'ticks.>'", subject.ValidatePattern)
	listFlag(fs, "publish", &req.Publish, "subject pattern the key may publish on, e.g. 'jobs.acme.>'", subject.ValidatePattern)
	durationFlag(fs, "expires", &req.TTL, "lifetime from now, e.g. 720h or 30d (default: never)")
	listFlag(fs, "cidr", &req.CIDRs, "network the key may be used from, e.g. 10.0.0.0/8 (default: anywhere)",
		func(s string) error { _, err := netip.ParsePrefix(s); return err })
	fs.IntVar(&req.Limits.MaxConns, "max-conns", 0, fmt.Sprintf("concurrent connections across all hubs of the cluster (0: %d)", auth.DefaultMaxConns))
	fs.IntVar(&req.Limits.MaxSubsPerConn, "max-subs", 0, fmt.Sprintf("subscriptions per connection (0: %d)", auth.DefaultMaxSubsPerConn))
	fs.Float64Var(&req.Limits.CommandsPerSec, "commands-per-sec", 0, fmt.Sprintf("commands per second per connection (0: %d)", auth.DefaultCommandsPerSec))
	fs.Float64Var(&req.Limits.PublishPerSec, "publish-per-sec", 0, fmt.Sprintf("publishes per second per hub instance (0: %d)", auth.DefaultPublishPerSec))
	fs.BoolVar(&req.SignedPublish, "signed-publish", false, "refuse the key's HTTP publishes unless signed with its signing secret (see 'hub keys signing-secret')")
	fs.BoolVar(&req.Admin, "admin", false, "grant the admin scope: the HTTP admin API for keys (/v1/admin/...)")
	fs.BoolVar(&req.Metered, "metered", false, "give the key its own series in the per-key usage metrics")
	return func(ctx context.Context, e *env, pos []string) error {
		switch {
		case len(pos) > 0:
			return unexpectedArgs("create", pos)
		case req.Name == "":
			return usage(errors.New("keycmd: create: --name is required"))
		case len(req.Subscribe)+len(req.Publish) == 0 && !req.Admin:
			return usage(errors.New("keycmd: create: give at least one --subscribe or --publish pattern, or --admin"))
		case slices.ContainsFunc(slices.Concat([]string{req.Name}, req.Subscribe, req.Publish), keyPattern.MatchString):
			return usage(errors.New("keycmd: create: a flag value looks like an API key; keys are never arguments of create"))
		}
		st, err := e.openStore(ctx, true)
		if err != nil {
			return err
		}
		key, rec, err := st.Create(ctx, req)
		if err != nil {
			return fmt.Errorf("keycmd: create: %w", err)
		}
		fmt.Fprintf(e.stdout, "Created key %s %q (%s):\n\n    %s\n\n", rec.ID, rec.Name, rec.Env, key.Reveal())
		secretNotice(e.stdout, rec.ID)
		return printRecord(e.stdout, &rec, time.Now())
	}
}

func setupList(fs *flag.FlagSet) runFunc {
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	warn := DefaultExpiryWarning
	durationFlag(fs, "warn-within", &warn, "flag keys expiring within this long as expiring, e.g. 72h or 14d (default 7d)")
	return func(ctx context.Context, e *env, pos []string) error {
		if len(pos) > 0 {
			return unexpectedArgs("list", pos)
		}
		st, err := e.openStore(ctx, false)
		if err != nil {
			return err
		}
		recs, now := st.List(), time.Now()
		if *asJSON {
			out := make([]jsonRecord, 0, len(recs))
			for _, r := range recs {
				out = append(out, jsonRecord{r, status(&r, now, warn)})
			}
			return writeJSON(e.stdout, out)
		}
		if len(recs) == 0 {
			_, err := fmt.Fprintln(e.stdout, "No keys yet; create one with 'hub keys create'.")
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tENV\tSUBSCRIBE\tPUBLISH\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
		for _, r := range recs {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, r.Env,
				joinOr(r.Subscribe, "-"), joinOr(r.Publish, "-"), stamp(r.Created, "-"),
				stamp(r.Expires, "never"), stamp(r.LastUsed, "never"), status(&r, now, warn))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if n := expiringCount(recs, now, warn); n > 0 {
			_, err := fmt.Fprintf(e.stdout, "\n%d key(s) expire within %s: rotate them ('hub keys rotate ID') before their clients are cut off.\n", n, warn)
			return err
		}
		return nil
	}
}

func setupShow(fs *flag.FlagSet) runFunc {
	asJSON := fs.Bool("json", false, "print JSON")
	return func(ctx context.Context, e *env, pos []string) error {
		id, st, err := e.openForID(ctx, "show", pos)
		if err != nil {
			return err
		}
		rec, ok := st.Get(id)
		if !ok {
			return unknownID("show", id, auth.ErrUnknown)
		}
		use, err := auth.ReadUsage(ctx, e.js, "", id)
		if err != nil {
			return fmt.Errorf("keycmd: show: %w", err)
		}
		if *asJSON {
			return writeJSON(e.stdout, showRecord{jsonRecord{rec, status(&rec, time.Now(), DefaultExpiryWarning)}, use})
		}
		if err := printRecord(e.stdout, &rec, time.Now()); err != nil {
			return err
		}
		return printUsage(e.stdout, use)
	}
}

func setupRevoke(*flag.FlagSet) runFunc {
	return func(ctx context.Context, e *env, pos []string) error {
		id, st, err := e.openForID(ctx, "revoke", pos)
		if err != nil {
			return err
		}
		before, _ := st.Get(id)
		rec, err := st.Revoke(ctx, id)
		if errors.Is(err, auth.ErrUnknown) {
			return unknownID("revoke", id, err)
		}
		if err != nil {
			return fmt.Errorf("keycmd: revoke: %w", err)
		}
		if before.Revoked {
			_, err = fmt.Fprintf(e.stdout, "Key %s %q was already revoked at %s; nothing changed.\n", rec.ID, rec.Name, stamp(rec.RevokedAt, "?"))
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "Revoked key %s %q. Every hub refuses it from now on and closes its "+
			"connections within a second, telling clients not to reconnect.\n", rec.ID, rec.Name)
		return err
	}
}

func setupRotate(fs *flag.FlagSet) runFunc {
	overlap := DefaultOverlap
	durationFlag(fs, "overlap", &overlap, "how long the old key keeps working, e.g. 24h or 7d; 0 retires it at once (default 24h)")
	return func(ctx context.Context, e *env, pos []string) error {
		id, st, err := e.openForID(ctx, "rotate", pos)
		if err != nil {
			return err
		}
		key, nu, err := st.Rotate(ctx, id, overlap)
		switch {
		case errors.Is(err, auth.ErrUnknown):
			return unknownID("rotate", id, err)
		case errors.Is(err, auth.ErrRevoked), errors.Is(err, auth.ErrExpired):
			return fmt.Errorf("keycmd: rotate: key %s can no longer be used, so it cannot be rotated; create a new key: %w", id, err)
		case err != nil:
			return fmt.Errorf("keycmd: rotate: %w", err)
		}
		now := time.Now()
		fmt.Fprintf(e.stdout, "Rotated key %s %q; its replacement is %s:\n\n    %s\n\n", id, nu.Name, nu.ID, key.Reveal())
		secretNotice(e.stdout, nu.ID)
		if old, ok := st.Get(id); ok && old.ExpiredAt(now) {
			fmt.Fprintf(e.stdout, "The old key %s stopped working now.\n\n", id)
		} else if ok {
			fmt.Fprintf(e.stdout, "The old key %s keeps working until %s (%s), then expires.\n\n", id, stamp(old.Expires, "?"), relative(old.Expires, now))
		}
		return printRecord(e.stdout, &nu, now)
	}
}

func setupSigningSecret(*flag.FlagSet) runFunc {
	return func(ctx context.Context, e *env, pos []string) error {
		id, st, err := e.openForID(ctx, "signing-secret", pos)
		if err != nil {
			return err
		}
		rec, ok := st.Get(id)
		if !ok {
			return unknownID("signing-secret", id, auth.ErrUnknown)
		}
		note := "Signatures are checked whenever a publish carries one"
		if rec.SignedPublish {
			note = "This key publishes only signed requests"
		}
		_, err = fmt.Fprintf(e.stdout, "Publish signing secret of key %s %q:\n\n    %s\n\n%s: sign each POST /v1/publish with\n"+
			"%s: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>\\n<METHOD>\\n<path>\\n<body>\">\n"+
			"(docs/http.md). Keep it secret; it changes when the key is rotated.\n", rec.ID, rec.Name, st.PublishSecret(rec.ID), note, auth.SignatureHeader)
		return err
	}
}

// jsonRecord is a record as list --json and show --json print it. Records
// from the store carry no hash, so none is printed.
type jsonRecord struct {
	auth.KeyRecord
	Status string `json:"status"`
}

// showRecord is what show --json prints: the record and its usage.
type showRecord struct {
	jsonRecord
	Usage auth.UsageCounts `json:"usage"`
}

// printUsage prints a key's usage over every hub, as last flushed.
func printUsage(w io.Writer, u auth.UsageCounts) error {
	_, err := fmt.Fprintf(w, "\nusage (all hubs, as of their last flush, every 10 s by default):\n"+
		"  connections %d, subscriptions %d, delivered %d messages (%d bytes), published %d, last use %s\n",
		u.Connections, u.Subscriptions, u.Messages, u.Bytes, u.Publishes, stamp(u.LastUsed, "never"))
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // keep '>' in patterns readable
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("keycmd: write JSON: %w", err)
	}
	return nil
}

func secretNotice(w io.Writer, id string) {
	fmt.Fprintf(w, "This is the only time the key is shown: it will not be shown again. Store it now;\n"+
		"if it is lost, replace it with 'hub keys rotate %s'.\n\n", id)
}

// printRecord prints a record's metadata, one field a line.
func printRecord(w io.Writer, r *auth.KeyRecord, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("id", r.ID)
	row("name", r.Name)
	row("env", r.Env)
	row("status", status(r, now, DefaultExpiryWarning))
	row("subscribe", joinOr(r.Subscribe, "-"))
	row("publish", joinOr(r.Publish, "-"))
	row("created", stamp(r.Created, "-"))
	if r.Expires.IsZero() {
		row("expires", "never")
	} else {
		row("expires", stamp(r.Expires, "")+" ("+relative(r.Expires, now)+")")
	}
	row("last used", stamp(r.LastUsed, "never"))
	if r.Revoked {
		row("revoked", stamp(r.RevokedAt, "yes"))
	}
	row("networks", joinOr(r.CIDRs, "anywhere"))
	l := r.EffectiveLimits()
	row("limits", fmt.Sprintf("%d connections, %d subscriptions per connection, %g commands/s (burst %d), %g publishes/s (burst %d)",
		l.MaxConns, l.MaxSubsPerConn, l.CommandsPerSec, l.CommandsBurst, l.PublishPerSec, l.PublishBurst))
	if r.SignedPublish {
		row("publishing", "signed requests only")
	}
	if r.RotatedTo != "" {
		row("rotated to", r.RotatedTo)
	}
	if r.Admin {
		row("admin", "yes (HTTP admin API)")
	}
	if r.Metered {
		row("metered", "yes (own usage metric series)")
	}
	return tw.Flush()
}

// status is a key's state at now: revoked, expired, expiring (active, and
// expiring within warn) or active.
func status(r *auth.KeyRecord, now time.Time, warn time.Duration) string {
	switch {
	case r.Revoked:
		return "revoked"
	case r.ExpiredAt(now):
		return "expired"
	case auth.ExpiresWithin(r, now, warn):
		return "expiring"
	}
	return "active"
}

func expiringCount(recs []auth.KeyRecord, now time.Time, warn time.Duration) int {
	n := 0
	for i := range recs {
		if auth.ExpiresWithin(&recs[i], now, warn) {
			n++
		}
	}
	return n
}

func stamp(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func relative(t, now time.Time) string {
	if d := t.Sub(now).Round(time.Second); d > 0 {
		return "in " + d.String()
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}

func joinOr(list []string, empty string) string {
	if len(list) == 0 {
		return empty
	}
	return strings.Join(list, ",")
}

// openForID checks that pos is one key id, then opens the store.
func (e *env) openForID(ctx context.Context, cmd string, pos []string) (string, *auth.Store, error) {
	id, err := oneID(cmd, pos)
	if err != nil {
		return "", nil, err
	}
	st, err := e.openStore(ctx, false)
	return id, st, err
}

// oneID returns the single positional argument as a key id. A full key is
// accepted too (its id is used). The argument is never quoted in an error:
// it may be a secret pasted in the wrong place.
func oneID(cmd string, pos []string) (string, error) {
	if len(pos) != 1 {
		return "", usage(fmt.Errorf("keycmd: %s: want exactly one key id, got %d arguments (ids are listed by 'hub keys list')", cmd, len(pos)))
	}
	arg := pos[0]
	if strings.HasPrefix(arg, "sh_") {
		k, err := auth.ParseKey(arg) // its errors never quote the input
		if err != nil {
			return "", usage(fmt.Errorf("keycmd: %s: the argument is neither a key id nor a valid key: %w", cmd, err))
		}
		return k.ID(), nil
	}
	if len(arg) != idLen || strings.Trim(arg, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != "" {
		return "", usage(fmt.Errorf("keycmd: %s: the argument is not a key id (an id is %d letters and digits, as listed by 'hub keys list')", cmd, idLen))
	}
	return arg, nil
}

func unknownID(cmd, id string, err error) error {
	return fmt.Errorf("keycmd: %s: no key with id %s (ids are listed by 'hub keys list'): %w", cmd, id, err)
}

func unexpectedArgs(cmd string, pos []string) error {
	return usage(fmt.Errorf("keycmd: %s: takes no positional arguments, got %d (flags start with --)", cmd, len(pos)))
}

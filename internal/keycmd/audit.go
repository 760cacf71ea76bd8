package keycmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/streamhub/streamhub/internal/auth"
)

func setupAudit(fs *flag.FlagSet) runFunc {
	var q auth.AuditQuery
	var since string
	asJSON := fs.Bool("json", false, "print a JSON array instead of a table")
	fs.Func("key", "only the records of this key id", func(s string) error {
		id, err := oneID("audit", []string{s})
		q.KeyID = id
		return err
	})
	fs.StringVar(&since, "since", "", "only records from this long ago (e.g. 24h, 7d) or since this time (RFC 3339, e.g. 2026-11-30T12:00:00Z) (default: all)")
	fs.IntVar(&q.Limit, "limit", 1000, "print at most the newest N records")
	return func(ctx context.Context, e *env, pos []string) error {
		if len(pos) > 0 {
			return unexpectedArgs("audit", pos)
		}
		if since != "" {
			t, err := parseSince(since, time.Now())
			if err != nil {
				return usage(fmt.Errorf("keycmd: audit: --since: %w", err))
			}
			q.Since = t
		}
		if q.Limit <= 0 {
			return usage(errors.New("keycmd: audit: --limit must be positive"))
		}
		js, natsURL, err := e.connect(ctx, false)
		if err != nil {
			return err
		}
		recs, err := auth.ReadAudit(ctx, js, q)
		if errors.Is(err, auth.ErrNoAudit) {
			recs, err = nil, nil
		}
		if err != nil {
			return redact(fmt.Errorf("keycmd: audit: %w", err), natsURL)
		}
		if *asJSON {
			if recs == nil {
				recs = []auth.AuditRecord{}
			}
			return writeJSON(e.stdout, recs)
		}
		return printAudit(e.stdout, recs)
	}
}

// parseSince reads --since: a duration back from now, or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w, nor an RFC 3339 time", err)
	}
	return now.Add(-d), nil
}

func printAudit(w io.Writer, recs []auth.AuditRecord) error {
	if len(recs) == 0 {
		_, err := fmt.Fprintln(w, "No audit records match.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tKEY\tACTOR\tSOURCE\tDETAILS")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", stamp(r.Time, "-"), r.Event, orDash(r.KeyID),
			actorString(r.Actor), orDash(r.Source), details(&r))
	}
	return tw.Flush()
}

func actorString(a auth.Actor) string {
	s := a.Kind
	if a.ID != "" {
		s += " " + a.ID
	}
	if a.Host != "" {
		s += "@" + a.Host
	}
	return s
}

func details(r *auth.AuditRecord) string {
	var parts []string
	if r.Reason != "" {
		parts = append(parts, "reason="+r.Reason)
	}
	if r.Count > 0 {
		parts = append(parts, fmt.Sprintf("count=%d in %s", r.Count, r.Until.Sub(r.Since).Round(time.Second)))
	}
	if r.NewKeyID != "" {
		parts = append(parts, "new_key_id="+r.NewKeyID)
	}
	for _, k := range slices.Sorted(maps.Keys(r.Changes)) {
		if k == "rotated_to" && r.NewKeyID != "" {
			continue
		}
		v := r.Changes[k]
		if list, ok := v.([]any); ok {
			strs := make([]string, len(list))
			for i, x := range list {
				strs[i] = fmt.Sprint(x)
			}
			v = strings.Join(strs, ",")
		}
		parts = append(parts, fmt.Sprintf("%s=%v", k, v))
	}
	return strings.Join(parts, " ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

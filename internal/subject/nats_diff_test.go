package subject_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/streamhub/streamhub/internal/subject"
)

// The matcher must agree with nats-server's own, since NATS does the
// upstream matching and a client must see the same semantics end to end.

var diffTokens = []string{"a", "b", "ticks", "BTC-USD", "é", "日本", "*", ">"}

func randomPattern(r *rand.Rand, wildcards bool) string {
	n := 1 + r.IntN(5)
	toks := make([]string, n)
	for i := range toks {
		for {
			toks[i] = diffTokens[r.IntN(len(diffTokens))]
			isWild := toks[i] == "*" || toks[i] == ">"
			if !isWild || (wildcards && (toks[i] == "*" || i == n-1)) {
				break
			}
		}
	}
	return strings.Join(toks, ".")
}

func TestMatchAgreesWithNATS(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		p, s := randomPattern(r, true), randomPattern(r, false)
		if err := subject.ValidatePattern(p); err != nil {
			t.Fatalf("generator made invalid pattern %q: %v", p, err)
		}
		got := subject.Match(p, s)
		want := server.SubjectMatchesFilter(s, p)
		if got != want {
			t.Fatalf("Match(%q, %q) = %v, nats-server says %v", p, s, got, want)
		}
	}
}

func TestSubsetAgreesWithMatching(t *testing.T) {
	// sub ⊆ super must mean: every subject sub matches, super matches too.
	// Check it on random subjects, and that a subset claim is never refuted.
	r := rand.New(rand.NewPCG(3, 4))
	for range 20_000 {
		sub, super := randomPattern(r, true), randomPattern(r, true)
		if !subject.Subset(sub, super) {
			continue
		}
		for range 50 {
			s := randomPattern(r, false)
			if subject.Match(sub, s) && !server.SubjectMatchesFilter(s, super) {
				t.Fatalf("Subset(%q, %q) but %q matches only the first", sub, super, s)
			}
		}
	}
}

func FuzzMatchAgainstNATS(f *testing.F) {
	f.Add("a.*.>", "a.b.c")
	f.Add(">", "x")
	f.Add("a.b", "a.b")
	f.Fuzz(func(t *testing.T, p, s string) {
		if subject.ValidatePattern(p) != nil || subject.Validate(s) != nil {
			return
		}
		if got, want := subject.Match(p, s), server.SubjectMatchesFilter(s, p); got != want {
			t.Fatalf("Match(%q, %q) = %v, nats-server says %v", p, s, got, want)
		}
	})
}

// Whatever the hub accepts, nats-server must accept too: a subject or
// pattern that passed validation is handed to NATS as is.
func FuzzValidSubjectsAreValidInNATS(f *testing.F) {
	for _, s := range []string{"a.b", "a.*.>", ">", "é.日本", "a.\u00a0", "a.\u200b", "a.\u202eb", "a.\xff", "a.\ufffd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if subject.ValidatePattern(s) == nil && !server.IsValidSubject(s) {
			t.Fatalf("ValidatePattern accepts %q, nats-server does not", s)
		}
		if subject.Validate(s) == nil && !server.IsValidLiteralSubject(s) {
			t.Fatalf("Validate accepts %q, nats-server does not", s)
		}
	})
}

func TestIntersectsAgreesWithNATS(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 200_000 {
		a, b := randomPattern(r, true), randomPattern(r, true)
		got := subject.Intersects(a, b)
		if want := server.SubjectsCollide(a, b); got != want {
			t.Fatalf("Intersects(%q, %q) = %v, nats-server says %v", a, b, got, want)
		}
		if got != subject.Intersects(b, a) {
			t.Fatalf("Intersects(%q, %q) is not symmetric", a, b)
		}
	}
}

package subject

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestValidatePattern(t *testing.T) {
	long := strings.Repeat("a", MaxBytes+1)
	tests := []struct {
		in      string
		pattern bool // valid as a pattern
		literal bool // valid as a subject
	}{
		{"ticks.coinbase.BTC-USD", true, true},
		{"ticks.*.BTC-USD", true, false},
		{"ticks.>", true, false},
		{">", true, false},
		{"*", true, false},
		{"a.*.>", true, false},
		{"", false, false},
		{".", false, false},
		{"a.", false, false},
		{".a", false, false},
		{"a..b", false, false},
		{"a.>.b", false, false},
		{"a b", false, false},
		{"a\tb", false, false},
		{"a\r\nb", false, false},
		{"a\x00b", false, false},
		{"a\x7fb", false, false},
		{"a.b*", false, false},
		{"a.*b", false, false},
		{"a.>b", false, false},
		{"\xff\xfe", false, false},
		{long, false, false},
		{strings.Repeat("a", MaxBytes), true, true},
		{strings.Repeat("a.", MaxTokens-1) + "a", true, true},
		{strings.Repeat("a.", MaxTokens) + "a", false, false},
		{"jobs.acme.j_1", true, true},
		{"ünïcode.ok", true, true},
		{"日本.株価", true, true},
		{"ticks.\u00a0BTC", false, false},     // NBSP
		{"ticks.BTC\u200b", false, false},     // zero-width space
		{"ticks.\u202eDSU-CTB", false, false}, // right-to-left override
		{"ticks.\u2066x\u2069", false, false}, // bidi isolates
		{"a.\u3000.b", false, false},          // ideographic space
		{"a.\u0085", false, false},            // C1 control (NEL)
		{"a.\ufeff", false, false},            // byte order mark
		{"a.\ufffd", true, true},              // the replacement character is printable
		{"a.b\xc3", false, false},             // truncated UTF-8
	}
	for _, tt := range tests {
		err := ValidatePattern(tt.in)
		if (err == nil) != tt.pattern {
			t.Errorf("ValidatePattern(%q) = %v, want valid=%v", tt.in, err, tt.pattern)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidatePattern(%q) error %v does not wrap ErrInvalid", tt.in, err)
		}
		if err := Validate(tt.in); (err == nil) != tt.literal {
			t.Errorf("Validate(%q) = %v, want valid=%v", tt.in, err, tt.literal)
		}
		if tt.pattern && IsLiteral(tt.in) != tt.literal {
			t.Errorf("IsLiteral(%q) = %v, want %v", tt.in, !tt.literal, tt.literal)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, subject string
		want             bool
	}{
		{"a.b.c", "a.b.c", true},
		{"a.b.c", "a.b", false},
		{"a.b", "a.b.c", false},
		{"a.*.c", "a.x.c", true},
		{"a.*.c", "a.x.y.c", false},
		{"a.*", "a", false},
		{"a.>", "a", false},
		{"a.>", "a.b", true},
		{"a.>", "a.b.c.d", true},
		{">", "a", true},
		{">", "a.b", true},
		{"*", "a", true},
		{"*", "a.b", false},
		{"*.>", "a.b", true},
		{"*.>", "a", false},
		{"ticks.*.BTC-USD", "ticks.coinbase.BTC-USD", true},
		{"ticks.*.BTC-USD", "ticks.coinbase.ETH-USD", false},
		{"ab", "a", false},
		{"a", "ab", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.subject); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.subject, got, tt.want)
		}
	}
}

func TestSubset(t *testing.T) {
	tests := []struct {
		sub, super string
		want       bool
	}{
		{"ticks.coinbase.BTC-USD", "ticks.coinbase.*", true},
		{"ticks.>", "ticks.coinbase.*", false},
		{"ticks.*.BTC-USD", "ticks.coinbase.*", false},
		{">", "ticks.coinbase.*", false},
		{"ticks.coinbase.*", "ticks.coinbase.*", true},
		{"ticks.coinbase.*", "ticks.>", true},
		{"ticks.>", "ticks.>", true},
		{"ticks.>", ">", true},
		{"ticks.>", "ticks.*.*", false},
		{"ticks.*.*", "ticks.>", true},
		{"ticks", "ticks.>", false},
		{"ticks.a.b", "ticks.*", false},
		{"jobs.globex.j1", "jobs.acme.>", false},
		{"*", "*", true},
		{"*", ">", true},
		{">", "*", false},
		{"a.*", "a.b", false},
	}
	for _, tt := range tests {
		if got := Subset(tt.sub, tt.super); got != tt.want {
			t.Errorf("Subset(%q, %q) = %v, want %v", tt.sub, tt.super, got, tt.want)
		}
	}
}

func FuzzValidatePattern(f *testing.F) {
	for _, s := range []string{"a.b", "a.*", "a.>", ">", "", "a..b", "a b", "\xff", "a.\u00a0", "a.\u200b", "a.\u202e", "é.ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidatePattern(s)
		if err != nil {
			return
		}
		// A valid pattern has no empty tokens, no spaces, and fits the limits.
		if len(s) > MaxBytes || strings.Contains(s, "..") || strings.ContainsAny(s, " \t\r\n") || !utf8.ValidString(s) {
			t.Fatalf("accepted %q", s)
		}
		for _, r := range s {
			if !unicode.IsPrint(r) || unicode.IsSpace(r) {
				t.Fatalf("accepted %q with the unprintable or space character %U", s, r)
			}
		}
		if IsLiteral(s) != (Validate(s) == nil) {
			t.Fatalf("IsLiteral and Validate disagree on %q", s)
		}
		if !Subset(s, s) {
			t.Fatalf("%q is not a subset of itself", s)
		}
	})
}

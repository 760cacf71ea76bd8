package auth

import (
	"strings"
	"testing"
)

// Attempts to escape a subscribe scope. Each row: the permitted patterns,
// the requested pattern, whether it must be allowed.
func TestAllowedEscapeTable(t *testing.T) {
	coinbase := []string{"ticks.coinbase.*"}
	acme := []string{"jobs.acme.>"}
	mixed := []string{"ticks.>", "chain.eth.*", "jobs.acme.>"}
	seventeen := strings.Repeat("a.", 16) + "a"
	long := "ticks." + strings.Repeat("x", 251) // 257 bytes
	for _, tc := range []struct {
		name      string
		permitted []string
		requested string
		want      bool
	}{
		{"exact literal in scope", coinbase, "ticks.coinbase.BTC-USD", true},
		{"same wildcard pattern", coinbase, "ticks.coinbase.*", true},
		{"wider tail wildcard", coinbase, "ticks.>", false},
		{"wildcard in venue position", coinbase, "ticks.*.BTC-USD", false},
		{"full wildcard", coinbase, ">", false},
		{"star alone", coinbase, "*", false},
		{"tail wildcard under star", coinbase, "ticks.coinbase.>", false},
		{"extra token", coinbase, "ticks.coinbase.BTC-USD.x", false},
		{"other venue", coinbase, "ticks.binance.BTC-USD", false},
		{"partial-token wildcard", coinbase, "ticks.coin*", false},
		{"partial-token wildcard in last", coinbase, "ticks.coinbase.BTC*", false},
		{"gt inside token", coinbase, "ticks.coinbase.a>", false},
		{"gt not last", acme, "jobs.>.x", false},
		{"trailing dot", coinbase, "ticks.coinbase.", false},
		{"leading dot", coinbase, ".ticks.coinbase.BTC-USD", false},
		{"double dot", coinbase, "ticks..coinbase", false},
		{"empty", coinbase, "", false},
		{"space in token", coinbase, "ticks.coinbase.BTC USD", false},
		{"tab", coinbase, "ticks.coinbase.BTC\tUSD", false},
		{"CR LF injection", coinbase, "ticks.coinbase.BTC\r\nSUB x 1", false},
		{"NUL", coinbase, "ticks.coinbase.BTC\x00", false},
		{"DEL", coinbase, "ticks.coinbase.BTC\x7f", false},
		{"invalid UTF-8", coinbase, "ticks.coinbase.\xff\xfe", false},
		{"257-byte subject", []string{">"}, long, false},
		{"256-byte subject", []string{">"}, long[:256], true},
		{"17 tokens", []string{">"}, seventeen, false},
		{"16 tokens", []string{">"}, seventeen[:31], true},
		{"own tenant's job", acme, "jobs.acme.j_01HF", true},
		{"own tenant's jobs", acme, "jobs.acme.>", true},
		{"another tenant's job", acme, "jobs.globex.j_01HF", false},
		{"another tenant by wildcard", acme, "jobs.*.j_01HF", false},
		{"all jobs", acme, "jobs.>", false},
		{"tenant prefix trick", acme, "jobs.acmex.j_1", false},
		{"tenant name only", acme, "jobs.acme", false},
		{"case differs", acme, "jobs.ACME.j_1", false},
		{"one of several scopes", mixed, "chain.eth.block", true},
		{"beyond every scope", mixed, "chain.btc.block", false},
		{"star covers tail", mixed, "chain.eth.>", false},
		{"no permitted patterns", nil, "ticks.coinbase.BTC-USD", false},
		{"invalid permitted pattern grants nothing", []string{"ticks.>.x"}, "ticks.a.x", false},
		{"empty permitted pattern grants nothing", []string{""}, "ticks", false},
		{"star permitted, one token", []string{"*"}, "ticks", true},
		{"star permitted, two tokens", []string{"*"}, "ticks.a", false},
	} {
		if got := Allowed(tc.permitted, tc.requested); got != tc.want {
			t.Errorf("%s: Allowed(%q, %q) = %v, want %v", tc.name, tc.permitted, tc.requested, got, tc.want)
		}
	}
}

func TestAllowedPublishTable(t *testing.T) {
	scope := []string{"jobs.acme.>", "ingest.prices"}
	for _, tc := range []struct {
		subject string
		want    bool
	}{
		{"jobs.acme.j_1", true},
		{"jobs.acme.j_1.progress", true},
		{"ingest.prices", true},
		{"jobs.acme.>", false}, // publish subjects must be literal
		{"jobs.acme.*", false}, // ditto
		{"jobs.acme", false},   // ">" needs at least one more token
		{"jobs.globex.j_1", false},
		{"ingest.prices.x", false},
		{"ingest.prices ", false},
		{"jobs.acme.j\r\n1", false},
		{"jobs.acme..j", false},
		{"", false},
	} {
		if got := AllowedPublish(scope, tc.subject); got != tc.want {
			t.Errorf("AllowedPublish(%q) = %v, want %v", tc.subject, got, tc.want)
		}
	}
	rec := &KeyRecord{Subscribe: []string{"ticks.>"}, Publish: []string{"jobs.acme.>"}}
	if !rec.CanSubscribe("ticks.x") || rec.CanSubscribe("jobs.acme.x") || !rec.CanPublish("jobs.acme.x") || rec.CanPublish("ticks.x") {
		t.Fatal("KeyRecord scope helpers mix up subscribe and publish")
	}
}

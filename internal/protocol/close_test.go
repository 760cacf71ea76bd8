package protocol

import "testing"

func TestCloseCodesAreTheSpecTable(t *testing.T) {
	want := map[CloseCode]string{
		1000: "normal", 4000: "shutdown", 4001: "slow_consumer", 4002: "write_failed", 4003: "heartbeat_timeout",
		4004: "token_expired", 4005: "internal", 4500: "protocol_error", 4501: "message_too_big",
		4502: "auth_failed", 4503: "auth_timeout", 4504: "key_revoked", 4505: "key_expired",
		4506: "forbidden", 4507: "limit_exceeded",
	}
	codes := CloseCodes()
	if len(codes) != len(want) {
		t.Fatalf("%d close codes, the spec table has %d: update the table and docs", len(codes), len(want))
	}
	for i, c := range codes {
		if i > 0 && codes[i-1] >= c {
			t.Errorf("CloseCodes not ascending at %d", c)
		}
		if c.String() != want[c] {
			t.Errorf("CloseCode(%d).String() = %q, want %q", c, c.String(), want[c])
		}
	}
}

func TestCloseCodeReconnect(t *testing.T) {
	cases := map[CloseCode]bool{
		CloseNormal: false, CloseGoingAway: true, CloseTooBig: false,
		1002: false, 1003: false, 1006: true, 1008: false, 1011: true, 1012: true,
		3000: false, 4000: true, 4001: true, 4005: true, 4499: true,
		4500: false, 4507: false, 4999: false, 5000: false,
	}
	for c, want := range cases {
		if got := c.Reconnect(); got != want {
			t.Errorf("CloseCode(%d).Reconnect() = %v, want %v", c, got, want)
		}
	}
	// The rule must hold for every code of the table.
	for _, c := range CloseCodes() {
		want := c >= 4000 && c < 4500
		if c.Reconnect() != want {
			t.Errorf("%d (%v): Reconnect() = %v, want %v", c, c, c.Reconnect(), want)
		}
	}
}

func TestCloseCodeString(t *testing.T) {
	cases := map[CloseCode]string{
		CloseNormal: "normal", CloseGoingAway: "going_away", CloseTooBig: "too_big",
		CloseSlowConsumer: "slow_consumer", CloseMessageTooBig: "message_too_big", 4242: "CloseCode(4242)",
	}
	for c, want := range cases {
		if got := c.String(); got != want {
			t.Errorf("CloseCode(%d).String() = %q, want %q", c, got, want)
		}
		if len(c.String()) > 123 {
			t.Errorf("CloseCode(%d).String() does not fit a close frame", c)
		}
	}
}

func TestSubprotocols(t *testing.T) {
	for _, enc := range []Encoding{EncodingJSON, EncodingMsgpack} {
		name := Subprotocol(enc)
		got, ok := EncodingForSubprotocol(name)
		if !ok || got != enc {
			t.Errorf("EncodingForSubprotocol(%q) = %v, %v; want %v", name, got, ok, enc)
		}
	}
	if got, ok := EncodingForSubprotocol(""); !ok || got != EncodingJSON {
		t.Errorf(`EncodingForSubprotocol("") = %v, %v; want json`, got, ok)
	}
	if _, ok := EncodingForSubprotocol("streamhub.v2.json"); ok {
		t.Error("an unknown subprotocol was accepted")
	}
	if Subprotocol(NumEncodings) != "" {
		t.Error("Subprotocol of an unknown encoding is not empty")
	}
	if SubprotocolJSON != "streamhub.v1.json" || SubprotocolMsgpack != "streamhub.v1.msgpack" {
		t.Error("subprotocol names differ from the spec")
	}
}

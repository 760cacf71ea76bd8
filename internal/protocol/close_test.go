package protocol

import (
	"testing"

	"github.com/streamhub/streamhub/internal/fanout"
)

func TestCloseCodeForEveryReasonIsDistinctAndDocumented(t *testing.T) {
	want := map[fanout.CloseReason]CloseCode{
		fanout.ReasonNormal: 1000, fanout.ReasonShutdown: 4000, fanout.ReasonSlowConsumer: 4001,
		fanout.ReasonWriteFailed: 4002, fanout.ReasonHeartbeatTimeout: 4003, fanout.ReasonTokenExpired: 4004,
		fanout.ReasonInternal: 4005, fanout.ReasonProtocolError: 4500, fanout.ReasonMessageTooBig: 4501,
		fanout.ReasonAuthFailed: 4502, fanout.ReasonAuthTimeout: 4503, fanout.ReasonKeyRevoked: 4504,
		fanout.ReasonKeyExpired: 4505, fanout.ReasonForbidden: 4506, fanout.ReasonLimitExceeded: 4507,
	}
	seen := map[CloseCode]fanout.CloseReason{}
	for _, r := range fanout.Reasons() {
		c := CloseCodeFor(r)
		if w, ok := want[r]; !ok || c != w {
			t.Errorf("CloseCodeFor(%v) = %d, want %d (in spec table: %v)", r, c, w, ok)
		}
		if prev, dup := seen[c]; dup {
			t.Errorf("reasons %v and %v share close code %d", prev, r, c)
		}
		seen[c] = r
		if back, ok := c.Reason(); !ok || back != r {
			t.Errorf("CloseCode(%d).Reason() = %v, %v; want %v", c, back, ok, r)
		}
		if c.String() != r.String() {
			t.Errorf("CloseCode(%d).String() = %q, want the reason's name %q", c, c.String(), r.String())
		}
	}
	if len(seen) != len(want) {
		t.Errorf("fanout has %d reasons, the spec table %d: update the table and docs", len(seen), len(want))
	}
}

func TestCloseCodeForUnknownReasonIsInternal(t *testing.T) {
	for _, r := range []fanout.CloseReason{0, 200} {
		if c := CloseCodeFor(r); c != CloseInternal {
			t.Errorf("CloseCodeFor(%d) = %d, want %d", r, c, CloseInternal)
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
	for _, r := range fanout.Reasons() {
		c := CloseCodeFor(r)
		want := c >= 4000 && c < 4500
		if c.Reconnect() != want {
			t.Errorf("%v → %d: Reconnect() = %v, want %v", r, c, c.Reconnect(), want)
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
	for _, enc := range []fanout.Encoding{fanout.EncodingJSON, fanout.EncodingMsgpack} {
		name := Subprotocol(enc)
		got, ok := EncodingForSubprotocol(name)
		if !ok || got != enc {
			t.Errorf("EncodingForSubprotocol(%q) = %v, %v; want %v", name, got, ok, enc)
		}
	}
	if got, ok := EncodingForSubprotocol(""); !ok || got != fanout.EncodingJSON {
		t.Errorf(`EncodingForSubprotocol("") = %v, %v; want json`, got, ok)
	}
	if _, ok := EncodingForSubprotocol("streamhub.v2.json"); ok {
		t.Error("an unknown subprotocol was accepted")
	}
	if Subprotocol(fanout.NumEncodings) != "" {
		t.Error("Subprotocol of an unknown encoding is not empty")
	}
	if SubprotocolJSON != "streamhub.v1.json" || SubprotocolMsgpack != "streamhub.v1.msgpack" {
		t.Error("subprotocol names differ from the spec")
	}
}

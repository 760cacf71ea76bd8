package gateway

import (
	"testing"

	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/protocol"
)

// Every close reason of the core has its own close code, named like the
// reason, and every code of the wire's table stands for one reason.
func TestEveryCloseReasonHasItsOwnCode(t *testing.T) {
	seen := map[protocol.CloseCode]fanout.CloseReason{}
	for _, r := range fanout.Reasons() {
		c := CloseCodeFor(r)
		if prev, dup := seen[c]; dup {
			t.Errorf("reasons %v and %v share close code %d", prev, r, c)
		}
		seen[c] = r
		if c.String() != r.String() {
			t.Errorf("%v → %d named %q", r, c, c.String())
		}
	}
	for _, c := range protocol.CloseCodes() {
		if _, ok := seen[c]; !ok {
			t.Errorf("close code %d (%v) stands for no reason of the core", c, c)
		}
	}
	for _, r := range []fanout.CloseReason{0, 200} {
		if c := CloseCodeFor(r); c != protocol.CloseInternal {
			t.Errorf("CloseCodeFor(%d) = %d, want %d", r, c, protocol.CloseInternal)
		}
	}
}

// The wire's policies and encodings name the core's.
func TestWireVocabularyMapsToTheCore(t *testing.T) {
	for _, p := range []protocol.Policy{protocol.PolicyDefault, protocol.KeepLatest, protocol.DropOldest, protocol.Disconnect} {
		if got := corePolicy(p); got.String() != p.String() {
			t.Errorf("policy %v maps to %v", p, got)
		}
	}
	for _, e := range []protocol.Encoding{protocol.EncodingJSON, protocol.EncodingMsgpack} {
		if got := coreEncoding(e); got.String() != e.String() {
			t.Errorf("encoding %v maps to %v", e, got)
		}
	}
}

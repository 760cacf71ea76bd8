package server

import (
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/protocol"
)

// Subjects are printable UTF-8 without spaces, at the wire: look-alike
// characters and invalid bytes are refused, not stored or passed to NATS.
func TestUnprintableSubjectsAreRefusedAtTheWire(t *testing.T) {
	t.Parallel()
	s := startHub(t, nil)
	c := dial(t, s, "")
	expectError := func(frame string, code protocol.ErrorCode) {
		t.Helper()
		c.write([]byte(frame))
		if m := c.next(5 * time.Second); m.Op != protocol.OpError || m.Code != code {
			t.Fatalf("%q: got %s %s %q, want error %s", frame, m.Op, m.Code, m.Message, code)
		}
	}
	for _, subject := range []string{
		"ticks.\u00a0BTC-USD",   // no-break space
		"ticks.BTC-USD\u200b",   // zero-width space
		"ticks.\u202eDSU-CTB",   // right-to-left override
		"ticks.\u2066BTC\u2069", // bidi isolate
	} {
		expectError(`{"op":"subscribe","id":1,"subjects":["`+subject+`"]}`, protocol.CodeInvalidSubject)
	}
	// Invalid UTF-8 in a JSON frame: encoding/json alone would make it
	// "ticks.\ufffd" and subscribe.
	expectError("{\"op\":\"subscribe\",\"id\":2,\"subjects\":[\"ticks.\xff\"]}", protocol.CodeBadRequest)
	if n := s.Hub().NumPatterns(); n != 0 {
		t.Fatalf("%d patterns subscribed after refused subscribes", n)
	}
	c.subscribe(protocol.Command{}, "ticks.日本.>") // letters of any script are fine
}

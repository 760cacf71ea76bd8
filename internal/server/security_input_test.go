package server

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/auth"

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

// The HTTP API refuses bodies that are not valid UTF-8 too, instead of
// publishing on or granting a subject the caller never sent.
func TestHTTPBodiesMustBeValidUTF8(t *testing.T) {
	t.Parallel()
	e := newAuthEnv(t)
	s, _ := e.hub(t, nil)
	secret, _ := e.key(t, s, auth.CreateRequest{Subscribe: []string{"ticks.>"}, Publish: []string{"ticks.>"}})
	for path, body := range map[string]string{
		"/v1/publish": "{\"subject\":\"ticks.\xff\",\"data\":{}}",
		"/v1/tokens":  "{\"subscribe\":[\"ticks.\xff\"]}",
	} {
		if status, raw := postAPI(t, s, path, secret, body); status != http.StatusBadRequest || !strings.Contains(string(raw), "UTF-8") {
			t.Errorf("POST %s with invalid UTF-8: %d %s, want 400 naming UTF-8", path, status, raw)
		}
	}
	if status, raw := postAPI(t, s, "/v1/publish", secret, `{"subject":"ticks.日本","data":{}}`); status != http.StatusOK {
		t.Errorf("POST /v1/publish with valid UTF-8: %d %s", status, raw)
	}
}

package protocol

import (
	"strconv"

	"github.com/streamhub/streamhub/internal/fanout"
)

// CloseCode is a WebSocket close status code sent or understood by the hub.
//
// The rule a client applies without knowing every code: 4000–4499 means
// reconnect (with backoff, then resubscribe or resume), 4500–4999 means do
// not reconnect automatically. See [CloseCode.Reconnect].
type CloseCode uint16

// Close codes. 1000, 1001 and 1009 are RFC 6455 codes; the 4xxx codes are
// StreamHub's, one per [fanout.CloseReason].
const (
	// CloseNormal (1000): closed normally.
	CloseNormal CloseCode = 1000
	// CloseGoingAway (1001): an endpoint or proxy is going away. The hub
	// itself sends CloseShutdown instead, which says the same thing.
	CloseGoingAway CloseCode = 1001
	// CloseTooBig (1009, RFC 6455 "message too big"): sent by the WebSocket
	// library when a client frame exceeds max_frame_bytes.
	CloseTooBig CloseCode = 1009

	CloseShutdown         CloseCode = 4000 // hub going away (restart, deploy)
	CloseSlowConsumer     CloseCode = 4001 // the client could not keep up
	CloseWriteFailed      CloseCode = 4002 // a write failed or timed out
	CloseHeartbeatTimeout CloseCode = 4003 // no frame from the client for 2 × heartbeat
	CloseTokenExpired     CloseCode = 4004 // browser token expired
	CloseInternal         CloseCode = 4005 // hub error

	CloseProtocolError CloseCode = 4500 // frames that break the protocol
	CloseMessageTooBig CloseCode = 4501 // frame over the read limit, detected by the hub
	CloseAuthFailed    CloseCode = 4502 // missing, malformed or unknown credentials
	CloseAuthTimeout   CloseCode = 4503 // no auth message in time
	CloseKeyRevoked    CloseCode = 4504 // API key revoked
	CloseKeyExpired    CloseCode = 4505 // API key expired
	CloseForbidden     CloseCode = 4506 // not allowed
	CloseLimitExceeded CloseCode = 4507 // a per-key limit was exceeded
)

// closeTable is the one mapping from close reasons to close codes.
var closeTable = map[fanout.CloseReason]CloseCode{
	fanout.ReasonNormal:           CloseNormal,
	fanout.ReasonShutdown:         CloseShutdown,
	fanout.ReasonSlowConsumer:     CloseSlowConsumer,
	fanout.ReasonWriteFailed:      CloseWriteFailed,
	fanout.ReasonHeartbeatTimeout: CloseHeartbeatTimeout,
	fanout.ReasonTokenExpired:     CloseTokenExpired,
	fanout.ReasonInternal:         CloseInternal,
	fanout.ReasonProtocolError:    CloseProtocolError,
	fanout.ReasonMessageTooBig:    CloseMessageTooBig,
	fanout.ReasonAuthFailed:       CloseAuthFailed,
	fanout.ReasonAuthTimeout:      CloseAuthTimeout,
	fanout.ReasonKeyRevoked:       CloseKeyRevoked,
	fanout.ReasonKeyExpired:       CloseKeyExpired,
	fanout.ReasonForbidden:        CloseForbidden,
	fanout.ReasonLimitExceeded:    CloseLimitExceeded,
}

// CloseCodeFor returns the close code for a reason. This is the only place
// reasons become codes. A reason it does not know (including the zero
// value) gives CloseInternal.
func CloseCodeFor(r fanout.CloseReason) CloseCode {
	if c, ok := closeTable[r]; ok {
		return c
	}
	return CloseInternal
}

// Reason returns the close reason a StreamHub code stands for, or false for
// a code outside the table (1001, 1009 and any foreign code).
func (c CloseCode) Reason() (fanout.CloseReason, bool) {
	for r, cc := range closeTable {
		if cc == c {
			return r, true
		}
	}
	return 0, false
}

// Reconnect reports whether a client should reconnect by itself after the
// connection was closed with c: true for 4000–4499, 1001 (going away) and
// the RFC codes that mean the connection was lost or the server is
// temporarily unable (1005, 1006, 1011, 1012, 1013, 1014); false for
// 4500–4999, 1000, 1009 and every other code.
func (c CloseCode) Reconnect() bool {
	switch {
	case c >= 4000 && c <= 4499:
		return true
	case c >= 4500 && c <= 4999:
		return false
	}
	switch c {
	case CloseGoingAway, 1005, 1006, 1011, 1012, 1013, 1014:
		return true
	}
	return false
}

// String returns the code's snake_case name: the close reason's name for
// StreamHub codes, "normal", "going_away" and "too_big" for the RFC codes
// above, and "CloseCode(N)" otherwise. It fits a close frame's reason text.
func (c CloseCode) String() string {
	switch c {
	case CloseGoingAway:
		return "going_away"
	case CloseTooBig:
		return "too_big"
	}
	if r, ok := c.Reason(); ok {
		return r.String()
	}
	return "CloseCode(" + strconv.Itoa(int(c)) + ")"
}

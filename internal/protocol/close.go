package protocol

import (
	"slices"
	"strconv"
)

// CloseCode is a WebSocket close status code sent or understood by the hub.
//
// The rule a client applies without knowing every code: 4000–4499 means
// reconnect (with backoff, then resubscribe or resume), 4500–4999 means do
// not reconnect automatically. See [CloseCode.Reconnect].
type CloseCode uint16

// Close codes. 1000, 1001 and 1009 are RFC 6455 codes; the 4xxx codes are
// StreamHub's, one per reason the hub closes a connection for (the
// gateway maps the hub's close reasons to them).
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

// closeNames are the snake_case names of StreamHub's codes, the same as
// the hub's close reasons.
var closeNames = map[CloseCode]string{
	CloseNormal:           "normal",
	CloseShutdown:         "shutdown",
	CloseSlowConsumer:     "slow_consumer",
	CloseWriteFailed:      "write_failed",
	CloseHeartbeatTimeout: "heartbeat_timeout",
	CloseTokenExpired:     "token_expired",
	CloseInternal:         "internal",
	CloseProtocolError:    "protocol_error",
	CloseMessageTooBig:    "message_too_big",
	CloseAuthFailed:       "auth_failed",
	CloseAuthTimeout:      "auth_timeout",
	CloseKeyRevoked:       "key_revoked",
	CloseKeyExpired:       "key_expired",
	CloseForbidden:        "forbidden",
	CloseLimitExceeded:    "limit_exceeded",
}

// CloseCodes returns the codes the hub closes connections with, one per
// reason (1000 and the 4xxx codes), in ascending order.
func CloseCodes() []CloseCode {
	codes := make([]CloseCode, 0, len(closeNames))
	for c := range closeNames {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	return codes
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
	if name, ok := closeNames[c]; ok {
		return name
	}
	return "CloseCode(" + strconv.Itoa(int(c)) + ")"
}

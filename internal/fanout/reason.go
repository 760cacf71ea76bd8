package fanout

import "fmt"

// CloseReason says why a client left the hub. It is the one vocabulary of
// close reasons in StreamHub: the core decides some of them (slow consumer,
// write failed, shutdown) and the adapters the rest; the protocol package maps
// every reason to a wire close code in exactly one table.
//
// The zero value means "not closed".
type CloseReason uint8

const (
	// ReasonNormal: the client went away or asked to close.
	ReasonNormal CloseReason = iota + 1
	// ReasonShutdown: the hub is going away; reconnect elsewhere.
	ReasonShutdown
	// ReasonSlowConsumer: the client's queue overflowed under a policy that
	// does not drop, or a critical message could not be queued.
	ReasonSlowConsumer
	// ReasonWriteFailed: a batch write failed or missed its deadline.
	ReasonWriteFailed
	// ReasonHeartbeatTimeout: the client stopped answering heartbeats.
	ReasonHeartbeatTimeout
	// ReasonProtocolError: the client broke the protocol (a frame that cannot
	// be parsed at all, or the wrong frame type).
	ReasonProtocolError
	// ReasonMessageTooBig: the client sent a frame over the read limit.
	ReasonMessageTooBig
	// ReasonAuthFailed: the credentials were missing, malformed or unknown.
	ReasonAuthFailed
	// ReasonAuthTimeout: the client did not authenticate in time.
	ReasonAuthTimeout
	// ReasonKeyRevoked: the API key was revoked.
	ReasonKeyRevoked
	// ReasonKeyExpired: the API key expired.
	ReasonKeyExpired
	// ReasonTokenExpired: the browser token expired; refresh and reconnect.
	ReasonTokenExpired
	// ReasonForbidden: the client is not allowed what it did.
	ReasonForbidden
	// ReasonLimitExceeded: a per-key limit (connections, commands) was hit.
	ReasonLimitExceeded
	// ReasonInternal: the hub failed; reconnect with backoff.
	ReasonInternal

	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNormal:           "normal",
	ReasonShutdown:         "shutdown",
	ReasonSlowConsumer:     "slow_consumer",
	ReasonWriteFailed:      "write_failed",
	ReasonHeartbeatTimeout: "heartbeat_timeout",
	ReasonProtocolError:    "protocol_error",
	ReasonMessageTooBig:    "message_too_big",
	ReasonAuthFailed:       "auth_failed",
	ReasonAuthTimeout:      "auth_timeout",
	ReasonKeyRevoked:       "key_revoked",
	ReasonKeyExpired:       "key_expired",
	ReasonTokenExpired:     "token_expired",
	ReasonForbidden:        "forbidden",
	ReasonLimitExceeded:    "limit_exceeded",
	ReasonInternal:         "internal",
}

// String returns the reason's stable snake_case name, used in metrics.
func (r CloseReason) String() string {
	if r > 0 && r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("CloseReason(%d)", uint8(r))
}

// Reasons returns every defined close reason, for metrics and tables.
func Reasons() []CloseReason {
	rs := make([]CloseReason, 0, numReasons-1)
	for r := ReasonNormal; r < numReasons; r++ {
		rs = append(rs, r)
	}
	return rs
}

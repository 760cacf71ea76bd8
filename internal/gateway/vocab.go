package gateway

import (
	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/protocol"
)

// The gateway is where the wire's vocabulary (package protocol) meets the
// core's (package fanout): neither package imports the other.

// coreEncoding is the fan-out encoding whose frames a connection speaking
// enc receives.
func coreEncoding(enc protocol.Encoding) fanout.Encoding {
	if enc == protocol.EncodingMsgpack {
		return fanout.EncodingMsgpack
	}
	return fanout.EncodingJSON
}

// corePolicy is the fan-out policy a subscribe's policy names.
func corePolicy(p protocol.Policy) fanout.Policy {
	switch p {
	case protocol.KeepLatest:
		return fanout.KeepLatest
	case protocol.DropOldest:
		return fanout.DropOldest
	case protocol.Disconnect:
		return fanout.Disconnect
	}
	return fanout.PolicyDefault
}

// closeCodes is the one mapping from the hub's close reasons to close
// codes, and so the wire's meaning of each.
var closeCodes = map[fanout.CloseReason]protocol.CloseCode{
	fanout.ReasonNormal:           protocol.CloseNormal,
	fanout.ReasonShutdown:         protocol.CloseShutdown,
	fanout.ReasonSlowConsumer:     protocol.CloseSlowConsumer,
	fanout.ReasonWriteFailed:      protocol.CloseWriteFailed,
	fanout.ReasonHeartbeatTimeout: protocol.CloseHeartbeatTimeout,
	fanout.ReasonTokenExpired:     protocol.CloseTokenExpired,
	fanout.ReasonInternal:         protocol.CloseInternal,
	fanout.ReasonProtocolError:    protocol.CloseProtocolError,
	fanout.ReasonMessageTooBig:    protocol.CloseMessageTooBig,
	fanout.ReasonAuthFailed:       protocol.CloseAuthFailed,
	fanout.ReasonAuthTimeout:      protocol.CloseAuthTimeout,
	fanout.ReasonKeyRevoked:       protocol.CloseKeyRevoked,
	fanout.ReasonKeyExpired:       protocol.CloseKeyExpired,
	fanout.ReasonForbidden:        protocol.CloseForbidden,
	fanout.ReasonLimitExceeded:    protocol.CloseLimitExceeded,
}

// CloseCodeFor returns the close code for a reason. A reason it does not
// know (including the zero value) gives CloseInternal. Safe for concurrent
// use.
func CloseCodeFor(r fanout.CloseReason) protocol.CloseCode {
	if c, ok := closeCodes[r]; ok {
		return c
	}
	return protocol.CloseInternal
}

// wireBatch is a fan-out batch in the wire's terms, for protocol's batch
// encoders: the frames of one encoding and the gap notices. A sink keeps
// one and refills it for each batch, so its slices are reused.
type wireBatch struct {
	gaps   []protocol.Gap
	events [][]byte
}

// fill makes w hold b's gaps and its messages' frames in enc.
func (w *wireBatch) fill(b *fanout.Batch, enc fanout.Encoding) {
	w.gaps, w.events = w.gaps[:0], w.events[:0]
	for _, g := range b.Gaps {
		w.gaps = append(w.gaps, protocol.Gap(g))
	}
	for _, m := range b.Messages {
		if m != nil {
			w.events = append(w.events, m.Frame(enc))
		}
	}
}

// release drops w's references to the frames once they are written.
func (w *wireBatch) release() { clear(w.events) }

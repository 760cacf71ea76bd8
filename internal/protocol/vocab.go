package protocol

import "fmt"

// Encoding names a wire encoding: the subprotocol a connection negotiated.
// Its values index the per-encoding frames of an event (see EncodeEvent).
type Encoding uint8

const (
	// EncodingJSON is protocol v1 in JSON text frames.
	EncodingJSON Encoding = iota
	// EncodingMsgpack is protocol v1 in msgpack binary frames.
	EncodingMsgpack
	// NumEncodings is the number of encodings.
	NumEncodings
)

// String returns the encoding's name, as in the subprotocols.
func (e Encoding) String() string {
	switch e {
	case EncodingJSON:
		return "json"
	case EncodingMsgpack:
		return "msgpack"
	}
	return fmt.Sprintf("Encoding(%d)", uint8(e))
}

// Policy is a subscription's overflow policy, as a subscribe names it: what
// happens to messages when the client's queue is full.
type Policy uint8

const (
	// PolicyDefault (the zero value, or "default") leaves the choice to the
	// hub's default for each message's subject prefix.
	PolicyDefault Policy = iota
	// KeepLatest ("keep-latest") keeps only the newest undelivered message
	// per subject.
	KeepLatest
	// DropOldest ("drop-oldest") drops the oldest messages and announces
	// each loss with a gap.
	DropOldest
	// Disconnect ("disconnect") closes the client as a slow consumer.
	Disconnect
)

// String returns the policy's wire name.
func (p Policy) String() string {
	switch p {
	case PolicyDefault:
		return "default"
	case KeepLatest:
		return "keep-latest"
	case DropOldest:
		return "drop-oldest"
	case Disconnect:
		return "disconnect"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// ParsePolicy parses a wire name as returned by String. The empty string and
// "default" give PolicyDefault.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "", "default":
		return PolicyDefault, nil
	case "keep-latest":
		return KeepLatest, nil
	case "drop-oldest":
		return DropOldest, nil
	case "disconnect":
		return Disconnect, nil
	}
	return 0, fmt.Errorf("protocol: unknown overflow policy %q (want keep-latest, drop-oldest or disconnect)", s)
}

// Gap announces that a client lost messages: every message on Subject in
// Epoch whose sequence number lies in [From, To] was dropped for it.
type Gap struct {
	Subject string
	Epoch   uint64
	From    uint64
	To      uint64
}

package protocol

// Version is the protocol version announced in the hello frame.
const Version = 1

// WebSocket subprotocol names, one per encoding.
const (
	// SubprotocolJSON selects JSON in text frames. It is also the encoding of
	// a connection that negotiated no subprotocol.
	SubprotocolJSON = "streamhub.v1.json"
	// SubprotocolMsgpack selects msgpack in binary frames.
	SubprotocolMsgpack = "streamhub.v1.msgpack"
)

// EncodingForSubprotocol returns the encoding of a negotiated subprotocol.
// The empty string (the client offered none, or none we know) means JSON.
// It reports false for any other name.
func EncodingForSubprotocol(name string) (Encoding, bool) {
	switch name {
	case SubprotocolJSON, "":
		return EncodingJSON, true
	case SubprotocolMsgpack:
		return EncodingMsgpack, true
	}
	return 0, false
}

// Subprotocol returns the subprotocol name of an encoding, or "" for an
// encoding it does not know.
func Subprotocol(enc Encoding) string {
	switch enc {
	case EncodingJSON:
		return SubprotocolJSON
	case EncodingMsgpack:
		return SubprotocolMsgpack
	}
	return ""
}

// Subprotocols lists every subprotocol name, preferred first, for the
// WebSocket accept options.
func Subprotocols() []string { return []string{SubprotocolJSON, SubprotocolMsgpack} }

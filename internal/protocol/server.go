package protocol

// Hello is the first frame the hub sends after the upgrade.
type Hello struct {
	// Version is the protocol version; EncodeHello always writes [Version].
	Version int `json:"version" msgpack:"version"`
	// Session identifies the connection in logs and support requests.
	Session string `json:"session" msgpack:"session"`
	// Encoding is the connection's encoding name ("json" or "msgpack");
	// EncodeHello always writes the name of the encoding it encodes in.
	Encoding string `json:"encoding" msgpack:"encoding"`
	// HeartbeatMS is the server ping interval; a client silent for twice
	// as long is closed with 4003.
	HeartbeatMS int64 `json:"heartbeat_ms" msgpack:"heartbeat_ms"`
	// AuthRequired says the client must send auth before anything else.
	AuthRequired bool   `json:"auth_required" msgpack:"auth_required"`
	Limits       Limits `json:"limits" msgpack:"limits"`
	// ResumeWindowMS is how long the hub can resume a subject after a
	// disconnect; 0 (not sent) means resume is not offered.
	ResumeWindowMS int64 `json:"resume_window_ms,omitempty" msgpack:"resume_window_ms,omitempty"`
}

// Limits are the per-connection limits announced in hello.
type Limits struct {
	MaxSubscriptions int `json:"max_subscriptions" msgpack:"max_subscriptions"`
	MaxFrameBytes    int `json:"max_frame_bytes" msgpack:"max_frame_bytes"`
	MaxQueueMessages int `json:"max_queue_messages" msgpack:"max_queue_messages"`
	MaxQueueBytes    int `json:"max_queue_bytes" msgpack:"max_queue_bytes"`
	MaxBatchMessages int `json:"max_batch_messages" msgpack:"max_batch_messages"`
	// WriteTimeoutMS is how long one write to the client may take: a client
	// that stops reading for longer is disconnected (4002), whatever its
	// subscriptions' policies.
	WriteTimeoutMS int64 `json:"write_timeout_ms" msgpack:"write_timeout_ms"`
}

// Every Encode function below panics on an encoding outside
// [0, NumEncodings), which is a programming error.

func newWriter(enc Encoding, size int) wr {
	if enc >= NumEncodings {
		panic("protocol: unknown encoding " + enc.String())
	}
	return wr{b: make([]byte, 0, size), mp: enc == EncodingMsgpack}
}

// EncodeHello encodes the hello frame.
func EncodeHello(enc Encoding, h Hello) []byte {
	w := newWriter(enc, 256)
	n := 7
	if h.ResumeWindowMS != 0 {
		n++
	}
	w.obj(n)
	w.key("op")
	w.str(string(OpHello))
	w.key("version")
	w.int(Version)
	w.key("session")
	w.str(h.Session)
	w.key("encoding")
	w.str(enc.String())
	w.key("heartbeat_ms")
	w.int(h.HeartbeatMS)
	w.key("auth_required")
	w.boolean(h.AuthRequired)
	w.key("limits")
	w.obj(6)
	w.key("max_subscriptions")
	w.int(int64(h.Limits.MaxSubscriptions))
	w.key("max_frame_bytes")
	w.int(int64(h.Limits.MaxFrameBytes))
	w.key("max_queue_messages")
	w.int(int64(h.Limits.MaxQueueMessages))
	w.key("max_queue_bytes")
	w.int(int64(h.Limits.MaxQueueBytes))
	w.key("max_batch_messages")
	w.int(int64(h.Limits.MaxBatchMessages))
	w.key("write_timeout_ms")
	w.int(h.Limits.WriteTimeoutMS)
	w.endObj()
	if h.ResumeWindowMS != 0 {
		w.key("resume_window_ms")
		w.int(h.ResumeWindowMS)
	}
	w.endObj()
	return w.b
}

// encodeReply encodes {"op":op[,"id":id]} with room for extra keys.
func encodeReply(enc Encoding, op Op, id uint64, hasID bool, extra int) wr {
	w := newWriter(enc, 64)
	n := 1 + extra
	if hasID {
		n++
	}
	w.obj(n)
	w.key("op")
	w.str(string(op))
	if hasID {
		w.key("id")
		w.uint(id)
	}
	return w
}

// EncodeOK encodes the answer to a successful command; the id is written
// when hasID (the command carried one).
func EncodeOK(enc Encoding, id uint64, hasID bool) []byte {
	w := encodeReply(enc, OpOK, id, hasID, 0)
	w.endObj()
	return w.b
}

// EncodeError encodes the answer to a failed command; the id is written
// when hasID. A nil e encodes CodeInternal with an empty message.
func EncodeError(enc Encoding, id uint64, hasID bool, e *Error) []byte {
	if e == nil {
		e = &Error{Code: CodeInternal}
	}
	w := encodeReply(enc, OpError, id, hasID, 2)
	w.key("code")
	w.str(string(e.Code))
	w.key("message")
	w.str(e.Message)
	w.endObj()
	return w.b
}

// SubscribeResult is what the ok answering a subscribe says beyond success.
type SubscribeResult struct {
	// Resumed: the command carried resume positions; Recovered is then
	// written, saying whether everything the client missed was replayed.
	Resumed, Recovered bool
	// Truncated: a snapshot left out the subjects that changed least
	// recently, because more subjects matched than the hub's snapshot cap.
	Truncated bool
}

// EncodeSubscribeOK answers a successful subscribe: a plain ok, with
// "recovered" when it resumed and "truncated":true when its snapshot was cut.
func EncodeSubscribeOK(enc Encoding, id uint64, hasID bool, r SubscribeResult) []byte {
	extra := 0
	if r.Resumed {
		extra++
	}
	if r.Truncated {
		extra++
	}
	w := encodeReply(enc, OpOK, id, hasID, extra)
	if r.Resumed {
		w.key("recovered")
		w.boolean(r.Recovered)
	}
	if r.Truncated {
		w.key("truncated")
		w.boolean(true)
	}
	w.endObj()
	return w.b
}

// EncodeResumeError answers a subscribe whose resume position cannot be
// honoured (CodeInsufficientState): the subscription was not made, and
// "recovered": false tells the client to subscribe again with a snapshot.
func EncodeResumeError(enc Encoding, id uint64, hasID bool, e *Error) []byte {
	w := encodeReply(enc, OpError, id, hasID, 3)
	w.key("code")
	w.str(string(e.Code))
	w.key("message")
	w.str(e.Message)
	w.key("recovered")
	w.boolean(false)
	w.endObj()
	return w.b
}

// EncodeCommandError encodes the answer to a command that DecodeCommand (or
// a later check) rejected, echoing the command's id when it had one.
func EncodeCommandError(enc Encoding, c Command, e *Error) []byte {
	return EncodeError(enc, c.ID, c.HasID, e)
}

// EncodePing encodes the server heartbeat; ts is Unix milliseconds.
func EncodePing(enc Encoding, ts int64) []byte {
	w := newWriter(enc, 32)
	w.obj(2)
	w.key("op")
	w.str(string(OpPing))
	w.key("ts")
	w.int(ts)
	w.endObj()
	return w.b
}

// EncodeNotice encodes a notice frame.
func EncodeNotice(enc Encoding, code ErrorCode, message string, ts int64) []byte {
	w := newWriter(enc, 96+len(message))
	w.obj(4)
	w.key("op")
	w.str(string(OpNotice))
	w.key("code")
	w.str(string(code))
	w.key("message")
	w.str(message)
	w.key("ts")
	w.int(ts)
	w.endObj()
	return w.b
}

// EncodePong encodes the answer to a client ping; the id is written when
// hasID.
func EncodePong(enc Encoding, id uint64, hasID bool) []byte {
	w := encodeReply(enc, OpPong, id, hasID, 0)
	w.endObj()
	return w.b
}

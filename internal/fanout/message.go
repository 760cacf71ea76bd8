package fanout

import (
	"fmt"
	"time"
)

// Encoding names a wire encoding. Its value indexes [Message.Frames].
type Encoding uint8

const (
	// EncodingJSON is protocol v1 in JSON text frames.
	EncodingJSON Encoding = iota
	// EncodingMsgpack is protocol v1 in msgpack binary frames.
	EncodingMsgpack
	// NumEncodings is the number of encodings a Message carries frames for.
	NumEncodings
)

// String returns the encoding's name as used in subprotocol names.
func (e Encoding) String() string {
	switch e {
	case EncodingJSON:
		return "json"
	case EncodingMsgpack:
		return "msgpack"
	}
	return fmt.Sprintf("Encoding(%d)", uint8(e))
}

// Message is one published event, already encoded for the wire.
//
// A Message is immutable once passed to [Hub.Publish]: every client's queue
// holds the same pointer and the same frame bytes, and a writer may read them
// at any time until the sink returns. Nothing may modify a Message, or the
// bytes of its frames, after publishing it.
type Message struct {
	// Subject is the literal subject the message was published on.
	Subject string
	// Epoch and Seq position the message in its subject's sequence. Seq
	// increases strictly per subject within an epoch; a new epoch means the
	// sequence was restarted and a client cannot assume continuity.
	Epoch uint64
	Seq   uint64
	// Critical messages are never conflated or dropped: if one cannot be
	// queued for a client, that client is disconnected as a slow consumer.
	Critical bool
	// Frames holds the encoded event per Encoding, indexed by Encoding. A
	// client whose encoding has no frame (nil) is not sent the message.
	Frames [NumEncodings][]byte
	// Ingested is when the hub received the message from NATS, in Unix
	// nanoseconds by the hub's clock; zero when the message is not live
	// (a snapshot, a replay). Sinks measure delivery latency from it.
	Ingested int64
	// Trace is set on the messages a tracer sampled at ingest and nil on
	// every other, so an unsampled message costs the hot path one nil
	// check. See [Trace].
	Trace Trace
}

// Trace is the tracing hook of one sampled message, implemented outside
// the core (internal/tracing). Its methods are called concurrently (every
// client's writer reports its own write) and must not block.
type Trace interface {
	// FannedOut is called once, by the hub's Publish, after the message
	// was queued for its subscribers (subscribers of them).
	FannedOut(start, end time.Time, subscribers int)
	// Written is called by a sink after a write that carried the message
	// to the client named client; err is the write's error.
	Written(start, end time.Time, client string, err error)
}

// Frame returns the message's encoded event in encoding e.
func (m *Message) Frame(e Encoding) []byte { return m.Frames[e] }

// Gap announces that a client lost messages: every message on Subject in
// Epoch whose sequence number lies in [From, To] was dropped for it.
type Gap struct {
	Subject string
	Epoch   uint64
	From    uint64
	To      uint64
}

// Batch is what a client's writer hands its sink in one call: gap notices
// first, then messages in queue order. Every gap in a batch precedes every
// message of the same subject that follows it, so a sink that writes Gaps
// before Messages keeps the order a client needs.
//
// The writer reuses a Batch; a sink must not keep it, or its slices, after
// WriteBatch returns.
type Batch struct {
	Gaps     []Gap
	Messages []*Message
}

// Len returns the number of items in the batch.
func (b *Batch) Len() int { return len(b.Gaps) + len(b.Messages) }

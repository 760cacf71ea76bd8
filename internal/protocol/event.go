package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/streamhub/streamhub/internal/subject"
)

// ErrInvalidEvent is wrapped by every error of EncodeEvent.
var ErrInvalidEvent = errors.New("protocol: invalid event")

// MaxDataDepth is the deepest nesting of objects and arrays accepted in an
// event's data. Deeper payloads are refused at ingest so that no client
// decoder has to recurse further.
const MaxDataDepth = 64

// Event is one message as the ingest path hands it to the encoder.
type Event struct {
	// Subject is the literal subject the message was published on.
	Subject string
	// Epoch and Seq position the event in its subject's sequence.
	Epoch, Seq uint64
	// TS is the source timestamp and Ingest when the hub received the
	// message, both Unix milliseconds.
	TS, Ingest int64
	// Critical marks messages that are never conflated or dropped.
	Critical bool
	// Snapshot marks the current value delivered first on a subscribe with
	// snapshot: true. Snapshot events are encoded for one subscribe, not
	// shared with live deliveries.
	Snapshot bool
	// Data is the upstream JSON payload, embedded as is in JSON frames and
	// converted once to msgpack for msgpack frames.
	Data []byte
}

// EncodeEvent encodes ev once per encoding, as the object that goes inside a
// batch's "events" array. JSON embeds Data as it is; msgpack converts it to
// the equivalent msgpack value (integer literals that fit in 64 bits stay
// integers, every other number becomes a float64, strings stay strings,
// object key order is kept).
//
// It fails, wrapping [ErrInvalidEvent], when Subject is not a valid literal
// subject, Data is not valid JSON or not valid UTF-8, Data nests deeper
// than MaxDataDepth, or a number in Data is out of float64 range. The frames
// are new slices owned by the caller, indexed by Encoding; once published
// (shared by every client that receives the event) they must not be
// modified.
func EncodeEvent(ev Event) (frames [NumEncodings][]byte, err error) {
	if err := subject.Validate(ev.Subject); err != nil {
		return frames, fmt.Errorf("%w: %w", ErrInvalidEvent, err)
	}
	if !json.Valid(ev.Data) {
		return frames, fmt.Errorf("%w: data of %s is not valid JSON", ErrInvalidEvent, ev.Subject)
	}
	if !utf8.Valid(ev.Data) {
		return frames, fmt.Errorf("%w: data of %s is not valid UTF-8", ErrInvalidEvent, ev.Subject)
	}
	counts, err := jsonContainerCounts(ev.Data, MaxDataDepth)
	if err != nil {
		return frames, fmt.Errorf("%w: data of %s: %w", ErrInvalidEvent, ev.Subject, err)
	}

	j := appendEventHead(wr{b: make([]byte, 0, len(ev.Data)+len(ev.Subject)+112)}, ev)
	j.raw(ev.Data)
	j.endObj()

	m := appendEventHead(wr{b: make([]byte, 0, len(ev.Data)+len(ev.Subject)+64), mp: true}, ev)
	m.b, err = appendMsgpackFromJSON(m.b, ev.Data, counts)
	if err != nil {
		return frames, fmt.Errorf("%w: data of %s: %w", ErrInvalidEvent, ev.Subject, err)
	}

	frames[EncodingJSON] = j.b
	frames[EncodingMsgpack] = m.b
	return frames, nil
}

// appendEventHead writes an event object up to the "data" key.
func appendEventHead(w wr, ev Event) wr {
	n := 6
	if ev.Critical {
		n++
	}
	if ev.Snapshot {
		n++
	}
	w.obj(n)
	w.key("subject")
	w.str(ev.Subject)
	w.key("epoch")
	w.uint(ev.Epoch)
	w.key("seq")
	w.uint(ev.Seq)
	w.key("ts")
	w.int(ev.TS)
	w.key("ingest")
	w.int(ev.Ingest)
	if ev.Critical {
		w.key("critical")
		w.boolean(true)
	}
	if ev.Snapshot {
		w.key("snapshot")
		w.boolean(true)
	}
	w.key("data")
	return w
}

package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// ServerMessage is one decoded server frame. Which fields are set depends on
// Op; the others are zero. Unknown ops decode without error (forward
// compatibility): a client should ignore them.
type ServerMessage struct {
	Op Op
	// ID and HasID: the command id echoed by ok, error and pong.
	ID    uint64
	HasID bool
	// Code and Message: error.
	Code    ErrorCode
	Message string
	// Hello: hello.
	Hello Hello
	// TS: ping, the server time in Unix milliseconds.
	TS int64
	// Sent, Gaps and Events: batch. Every gap applies before the events.
	Sent   int64
	Gaps   []GapNotice
	Events []EventFrame
	// Recovered: an ok or error answering a subscribe with resume positions
	// says whether everything missed was replayed.
	Recovered *bool
	// Truncated: an ok answering a subscribe with a snapshot says the
	// snapshot left out the subjects that changed least recently.
	Truncated bool
}

// GapNotice announces that every message on Subject in Epoch with a
// sequence number in [From, To] was dropped for this client.
type GapNotice struct {
	Subject string `json:"subject" msgpack:"subject"`
	Epoch   uint64 `json:"epoch" msgpack:"epoch"`
	From    uint64 `json:"from" msgpack:"from"`
	To      uint64 `json:"to" msgpack:"to"`
}

// EventFrame is one delivered event.
type EventFrame struct {
	Subject  string `json:"subject" msgpack:"subject"`
	Epoch    uint64 `json:"epoch" msgpack:"epoch"`
	Seq      uint64 `json:"seq" msgpack:"seq"`
	TS       int64  `json:"ts" msgpack:"ts"`
	Ingest   int64  `json:"ingest" msgpack:"ingest"`
	Critical bool   `json:"critical" msgpack:"critical"`
	Snapshot bool   `json:"snapshot" msgpack:"snapshot"`
	// Data is the payload's raw bytes in the frame's encoding: JSON text
	// (like json.RawMessage) or one msgpack value (like msgpack.RawMessage).
	// DataJSON gives the JSON form in either case.
	Data RawValue `json:"data" msgpack:"data"`
}

// DataJSON returns the event's data as JSON, converting it with
// MsgpackToJSON when the frame was msgpack (enc).
func (e *EventFrame) DataJSON(enc Encoding) (json.RawMessage, error) {
	if enc == EncodingMsgpack {
		return MsgpackToJSON(nil, e.Data)
	}
	return json.RawMessage(e.Data), nil
}

// RawValue holds one value still encoded, in the encoding of the frame it
// came from. It decodes from both JSON and msgpack without interpreting the
// value, and copies the bytes, so it does not alias the frame.
type RawValue []byte

// UnmarshalJSON keeps a copy of the JSON value.
func (r *RawValue) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

// DecodeMsgpack keeps the raw bytes of the next msgpack value.
func (r *RawValue) DecodeMsgpack(d *msgpack.Decoder) error {
	raw, err := d.DecodeRaw()
	*r = RawValue(raw)
	return err
}

// wireServer is the union of every server message's keys.
type wireServer struct {
	Op      string  `json:"op" msgpack:"op"`
	ID      *uint64 `json:"id" msgpack:"id"`
	Code    string  `json:"code" msgpack:"code"`
	Message string  `json:"message" msgpack:"message"`
	Hello   `msgpack:",inline"`
	TS      int64        `json:"ts" msgpack:"ts"`
	Sent    int64        `json:"sent" msgpack:"sent"`
	Gaps    []GapNotice  `json:"gaps" msgpack:"gaps"`
	Events  []EventFrame `json:"events" msgpack:"events"`
	// Recovered answers a subscribe that asked to resume.
	Recovered *bool `json:"recovered" msgpack:"recovered"`
	Truncated bool  `json:"truncated" msgpack:"truncated"`
}

// serverMaxDepth bounds the nesting of a server frame the client accepts:
// batch, events, event, then the data.
const serverMaxDepth = MaxDataDepth + 4

// DecodeServer decodes one server frame in encoding enc. Msgpack frames pass
// CheckMsgpack first (depth MaxDataDepth+4, no item limit beyond the frame's
// size). A frame without an op is an error.
func DecodeServer(enc Encoding, frame []byte) (ServerMessage, error) {
	var w wireServer
	switch enc {
	case EncodingJSON:
		if err := json.Unmarshal(frame, &w); err != nil {
			return ServerMessage{}, fmt.Errorf("protocol: decode server frame: %w", err)
		}
	case EncodingMsgpack:
		if err := CheckMsgpack(frame, serverMaxDepth, len(frame)); err != nil {
			return ServerMessage{}, fmt.Errorf("protocol: decode server frame: %w", err)
		}
		d := msgpack.NewDecoder(bytes.NewReader(frame))
		if err := d.Decode(&w); err != nil {
			return ServerMessage{}, fmt.Errorf("protocol: decode server frame: %w", err)
		}
	default:
		return ServerMessage{}, fmt.Errorf("protocol: unknown encoding %v", enc)
	}
	if w.Op == "" {
		return ServerMessage{}, fmt.Errorf("protocol: decode server frame: missing op")
	}
	m := ServerMessage{
		Op:        Op(w.Op),
		Code:      ErrorCode(w.Code),
		Message:   w.Message,
		TS:        w.TS,
		Sent:      w.Sent,
		Gaps:      w.Gaps,
		Events:    w.Events,
		Recovered: w.Recovered,
		Truncated: w.Truncated,
	}
	if w.ID != nil {
		m.ID, m.HasID = *w.ID, true
	}
	if m.Op == OpHello {
		m.Hello = w.Hello
	}
	return m, nil
}

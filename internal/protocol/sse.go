package protocol

import (
	"bytes"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/streamhub/streamhub/internal/subject"
)

// Server-Sent Events (GET /v1/sse) carry the same JSON frames as the
// WebSocket protocol, one frame per SSE event, named after its "op":
//
//	event: hello      the hello frame
//	event: ok         the answer to the stream's subscription
//	event: batch      deliveries; "id:" carries the resume position
//	event: notice     notices (token_expiring)
//	event: error      a subscription that failed after the stream began
//	event: close      {"op":"close","code":4001,"reason":"slow_consumer"}, then the stream ends
//	: ping <ms>       a comment, the heartbeat
//
// The subscription is the request's query, checked by the same rules as a
// subscribe frame (DecodeSSEQuery). See docs/http.md.

// MaxSSEEventIDBytes bounds the Last-Event-ID the hub reads: 16 positions
// of a 256-byte pattern and two 20-digit numbers.
const MaxSSEEventIDBytes = MaxSubjectsPerCommand * (256 + 2*21 + 1)

// DecodeSSEQuery turns the query of GET /v1/sse into a subscribe command,
// checked like a subscribe frame (DecodeCommand):
//
//   - subjects: comma-separated patterns; the parameter may repeat
//   - policy: keep-latest, drop-oldest, disconnect or default
//   - max_rate: a number >= 0
//   - snapshot: true or false (also 1 or 0)
//
// lastEventID, the Last-Event-ID header, becomes the command's resume
// positions (ParseSSEEventID). Other parameters are ignored (ticket is the
// gateway's). Errors are *Error values with the codes a subscribe frame
// would get. It is safe for concurrent use.
func DecodeSSEQuery(q url.Values, lastEventID string) (Command, *Error) {
	op := string(OpSubscribe)
	w := wireCommand{Op: &op}
	for _, v := range q["subjects"] {
		w.Subjects = append(w.Subjects, strings.Split(v, ",")...)
		if len(w.Subjects) > MaxSubjectsPerCommand {
			break // validateSubjects reports the count
		}
	}
	if v, ok := one(q, "policy"); ok {
		w.Policy = &v
	}
	if v, ok := one(q, "max_rate"); ok {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return Command{Op: OpSubscribe}, Errorf(CodeInvalidOption, "max_rate must be a number, got %s", quoteShort(v))
		}
		w.MaxRate = &r
	}
	if v, ok := one(q, "snapshot"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Command{Op: OpSubscribe}, Errorf(CodeInvalidOption, "snapshot must be true or false, got %s", quoteShort(v))
		}
		w.Snapshot = &b
	}
	if lastEventID != "" {
		pos, err := ParseSSEEventID(lastEventID)
		if err != nil {
			return Command{Op: OpSubscribe}, WrapError(CodeBadRequest, "Last-Event-ID", err)
		}
		w.Resume = pos
	}
	return w.validate(Command{Op: OpSubscribe})
}

// one returns the last value of a query parameter that is present and not
// empty.
func one(q url.Values, key string) (string, bool) {
	vs := q[key]
	if len(vs) == 0 || vs[len(vs)-1] == "" {
		return "", false
	}
	return vs[len(vs)-1], true
}

// AppendSSEEventID appends the SSE event id that resumes positions: for
// each, "pattern epoch seq", separated by spaces (patterns contain no
// spaces). The hub writes one position per subscribed pattern: the newest
// message delivered for it.
func AppendSSEEventID(dst []byte, positions []ResumePosition) []byte {
	for i, p := range positions {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, p.Subject...)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, p.Epoch, 10)
		dst = append(dst, ' ')
		dst = strconv.AppendUint(dst, p.Seq, 10)
	}
	return dst
}

// ParseSSEEventID reads an id written by AppendSSEEventID: at most
// MaxSubjectsPerCommand positions, each a valid pattern and two decimal
// integers. An empty id has no positions.
func ParseSSEEventID(s string) ([]ResumePosition, error) {
	if len(s) > MaxSSEEventIDBytes {
		return nil, fmt.Errorf("over %d bytes", MaxSSEEventIDBytes)
	}
	fields := strings.Split(s, " ")
	if s == "" {
		return nil, nil
	}
	if len(fields)%3 != 0 {
		return nil, fmt.Errorf("want \"pattern epoch seq\" triples separated by single spaces")
	}
	if len(fields)/3 > MaxSubjectsPerCommand {
		return nil, fmt.Errorf("%d positions, over the limit of %d", len(fields)/3, MaxSubjectsPerCommand)
	}
	out := make([]ResumePosition, 0, len(fields)/3)
	for i := 0; i < len(fields); i += 3 {
		if err := subject.ValidatePattern(fields[i]); err != nil {
			return nil, fmt.Errorf("position %d: %w", i/3, err)
		}
		epoch, err1 := strconv.ParseUint(fields[i+1], 10, 64)
		seq, err2 := strconv.ParseUint(fields[i+2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("position %d: epoch and seq must be decimal integers", i/3)
		}
		out = append(out, ResumePosition{Subject: fields[i], Epoch: epoch, Seq: seq})
	}
	return out, nil
}

// AppendSSEEvent appends one SSE event: an optional "id:" line, the
// "event:" line and frame as its single "data:" line. frame must hold no
// line break, which is true of every JSON frame the hub encodes (strings
// escape them).
func AppendSSEEvent(dst []byte, event Op, id, frame []byte) []byte {
	dst = appendSSEHead(dst, event, id)
	dst = append(dst, frame...)
	return append(dst, '\n', '\n')
}

// appendSSEHead appends an event's lines up to its data.
func appendSSEHead(dst []byte, event Op, id []byte) []byte {
	if len(id) > 0 {
		dst = append(dst, "id: "...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
	dst = append(dst, "event: "...)
	dst = append(dst, event...)
	return append(dst, "\ndata: "...)
}

// OpClose names the SSE event that ends a stream (WebSocket connections
// end with a close frame instead).
const OpClose Op = "close"

// EncodeSSEClose encodes the data of the SSE close event:
// {"op":"close","code":4001,"reason":"slow_consumer"}. code has the
// WebSocket close code's meaning, reconnect rule included.
func EncodeSSEClose(code CloseCode) []byte {
	w := wr{}
	w.obj(3)
	w.key("op")
	w.str(string(OpClose))
	w.key("code")
	w.int(int64(code))
	w.key("reason")
	w.str(code.String())
	w.endObj()
	return w.b
}

// AppendSSEBatch appends a batch (AppendBatch, JSON frames) as one "batch"
// SSE event with the given id (none when empty).
func AppendSSEBatch(dst, id []byte, sent int64, gaps []Gap, events [][]byte) []byte {
	dst = appendSSEHead(dst, OpBatch, id)
	dst = AppendBatch(dst, EncodingJSON, sent, gaps, events)
	return append(dst, '\n', '\n')
}

// AppendSSEComment appends an SSE comment line (a heartbeat): ": text".
// text must hold no line break.
func AppendSSEComment(dst []byte, text string) []byte {
	dst = append(dst, ": "...)
	dst = append(dst, text...)
	return append(dst, '\n', '\n')
}

// FrameOp returns the op of a JSON frame encoded by this package, whose
// first key is always "op", or "" for anything else.
func FrameOp(frame []byte) Op {
	const prefix = `{"op":"`
	if !bytes.HasPrefix(frame, []byte(prefix)) {
		return ""
	}
	rest := frame[len(prefix):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return ""
	}
	return Op(rest[:end])
}

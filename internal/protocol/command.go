package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/streamhub/streamhub/internal/subject"
)

// Op is the value of a frame's "op" key.
type Op string

// Client commands.
const (
	OpSubscribe   Op = "subscribe"
	OpUnsubscribe Op = "unsubscribe"
	OpPing        Op = "ping" // also sent by the server
	OpPong        Op = "pong" // also sent by the server
	// OpAuth, OpRefresh and OpResume are reserved: they are decoded, but
	// this version of the hub gives them no meaning yet.
	OpAuth    Op = "auth"
	OpRefresh Op = "refresh"
	OpResume  Op = "resume"
)

// Server messages.
const (
	OpHello Op = "hello"
	OpOK    Op = "ok"
	OpError Op = "error"
	OpBatch Op = "batch"
	// OpNotice is an unsolicited notice: Code says which, Message explains
	// and TS carries the moment it is about.
	OpNotice Op = "notice"
)

// NoticeTokenExpiring is the notice sent ahead of a browser token's expiry:
// TS is the expiry (Unix ms); the client should send refresh before then or
// be closed with 4004 token_expired.
const NoticeTokenExpiring ErrorCode = "token_expiring"

// NoticeUpstreamReconnected is the notice sent to every connection with a
// subscription after the hub's connection to NATS was lost and
// re-established: ticks (delivered at most once through core NATS)
// published meanwhile were not received, so tick subscriptions may have
// missed values. TS is the moment of the reconnect (Unix ms). Ticks the hub
// numbers itself continue in a new epoch; take fresh values (subscribe
// again with snapshot). The stored families (chain., jobs.) lose nothing:
// their consumers continue where they were.
const NoticeUpstreamReconnected ErrorCode = "upstream_reconnected"

// MaxSubjectsPerCommand is the most subjects a subscribe or unsubscribe
// command may carry, and the most positions a resume command may carry.
const MaxSubjectsPerCommand = 16

// Command is one decoded and validated client command.
type Command struct {
	Op Op
	// ID is the client's command id, echoed in the answer; HasID says the
	// command carried one (an id of 0 is valid).
	ID    uint64
	HasID bool
	// Subjects holds the 1..MaxSubjectsPerCommand valid patterns of a
	// subscribe or unsubscribe.
	Subjects []string
	// Policy is the subscribe's overflow policy; PolicyDefault means the
	// default of each message's subject prefix. A MaxRate > 0 without a
	// policy decodes as KeepLatest.
	Policy Policy
	// MaxRate is the subscribe's limit in messages per second per subject;
	// 0 means unlimited. It is finite and >= 0.
	MaxRate float64
	// Snapshot is reserved: a later version delivers the last value first.
	Snapshot bool
	// Token is the credential of auth and refresh (reserved). It is a
	// secret: never log it.
	Token string
	// Resume is reserved for the resume command: the positions the client
	// has seen. It is bounds-checked only; no semantics yet.
	Resume []ResumePosition
}

// ResumePosition is the last position a client saw on a subject.
type ResumePosition struct {
	Subject string `json:"subject"`
	Epoch   uint64 `json:"epoch"`
	Seq     uint64 `json:"seq"`
}

// wireCommand is the union of every command's keys, as decoded from the
// wire before validation. A nil pointer means the key was absent or null.
type wireCommand struct {
	Op       *string          `json:"op"`
	ID       commandID        `json:"id"`
	Subjects []string         `json:"subjects"`
	Policy   *string          `json:"policy"`
	MaxRate  *float64         `json:"max_rate"`
	Snapshot *bool            `json:"snapshot"`
	Token    *string          `json:"token"`
	Resume   []ResumePosition `json:"resume"`
}

// DecodeCommand decodes and validates one client frame in encoding enc.
//
// It returns a [*Error] with CodeBadRequest for malformed input or a missing
// or mistyped key, CodeUnknownOp for an op that is not a client command,
// CodeInvalidSubject naming the first invalid pattern, and CodeInvalidOption
// for a bad policy or max_rate. Even with an error, the returned Command
// carries the ID (and HasID) whenever the id could be read, so the answer can
// echo it. Unknown keys are ignored; keys that do not belong to the op (for
// example a policy on an unsubscribe) are ignored too.
//
// Msgpack frames pass [CheckMsgpack] with CommandMaxDepth and
// CommandMaxItems before any decoding. JSON keys are matched as
// encoding/json does (case-insensitively); clients must send them in lower
// case. Frame size is the caller's limit (the WebSocket read limit).
func DecodeCommand(enc Encoding, frame []byte) (Command, *Error) {
	var w wireCommand
	var derr *Error
	switch enc {
	case EncodingJSON:
		derr = decodeCommandJSON(frame, &w)
	case EncodingMsgpack:
		derr = decodeCommandMsgpack(frame, &w)
	default:
		return Command{}, Errorf(CodeInternal, "unknown encoding %v", enc)
	}
	var c Command
	c.ID, c.HasID = w.ID.v, w.ID.set
	if derr == nil && w.ID.bad {
		derr = Errorf(CodeBadRequest, "id must be a non-negative integer")
	}
	if w.Op != nil {
		c.Op = Op(*w.Op)
	}
	if derr != nil {
		return c, derr
	}
	return w.validate(c)
}

// commandID is a command's id as decoded. A malformed id does not stop the
// JSON decoder (it sets bad), so that no half-decoded id is ever reported
// as read.
type commandID struct {
	v        uint64
	set, bad bool
}

// UnmarshalJSON accepts null (no id) or an integer in [0, 2^64).
func (id *commandID) UnmarshalJSON(b []byte) error {
	*id = commandID{}
	if string(b) == "null" {
		return nil
	}
	if err := json.Unmarshal(b, &id.v); err != nil {
		id.v, id.bad = 0, true
		return nil
	}
	id.set = true
	return nil
}

func decodeCommandJSON(frame []byte, w *wireCommand) *Error {
	// encoding/json checks the whole input for syntax first, then goes on
	// past type errors, so the id is filled in whenever it is well-typed.
	err := json.Unmarshal(frame, w)
	if err == nil {
		// encoding/json silently turns invalid UTF-8 into U+FFFD; a
		// subject or token must arrive as sent or not at all.
		if !utf8.Valid(frame) {
			return Errorf(CodeBadRequest, "a JSON frame must be valid UTF-8")
		}
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			return Errorf(CodeBadRequest, "a command must be a JSON object, not %s", te.Value)
		}
		return Errorf(CodeBadRequest, "%s: %s where %s was expected", field, te.Value, jsonTypeName(te.Type.Kind().String()))
	}
	if len(bytes.TrimSpace(frame)) == 0 {
		return Errorf(CodeBadRequest, "empty frame")
	}
	return WrapError(CodeBadRequest, "malformed JSON", err)
}

func jsonTypeName(kind string) string {
	switch kind {
	case "uint64", "int64", "int", "uint":
		return "an integer"
	case "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "struct":
		return "an object"
	case "ptr":
		return "a value"
	}
	return kind
}

// validate turns a decoded wire command into a Command, checking what the
// command's op needs.
func (w *wireCommand) validate(c Command) (Command, *Error) {
	if w.Op == nil {
		return c, Errorf(CodeBadRequest, `missing "op"`)
	}
	switch c.Op {
	case OpSubscribe:
		if err := w.validateSubjects(&c); err != nil {
			return c, err
		}
		if err := w.validateOptions(&c); err != nil {
			return c, err
		}
		if err := w.validateResume(&c); err != nil {
			return c, err
		}
	case OpUnsubscribe:
		if err := w.validateSubjects(&c); err != nil {
			return c, err
		}
	case OpPing, OpPong:
	case OpAuth, OpRefresh:
		if w.Token == nil || *w.Token == "" {
			return c, Errorf(CodeBadRequest, `%s needs a "token"`, c.Op)
		}
		c.Token = *w.Token
	case OpResume:
		if err := w.validateResume(&c); err != nil {
			return c, err
		}
	default:
		return c, Errorf(CodeUnknownOp, "unknown op %s", quoteShort(string(c.Op)))
	}
	return c, nil
}

// validateResume checks the resume positions a subscribe (or the reserved
// resume op) carries: where the client left off, per subject or pattern.
func (w *wireCommand) validateResume(c *Command) *Error {
	if len(w.Resume) > MaxSubjectsPerCommand {
		return Errorf(CodeBadRequest, "resume carries %d positions, over the limit of %d", len(w.Resume), MaxSubjectsPerCommand)
	}
	for i, p := range w.Resume {
		if err := subject.ValidatePattern(p.Subject); err != nil {
			return WrapError(CodeInvalidSubject, fmt.Sprintf("resume[%d] subject %s", i, quoteShort(p.Subject)), err)
		}
	}
	if len(w.Resume) > 0 {
		c.Resume = w.Resume
	}
	return nil
}

func (w *wireCommand) validateSubjects(c *Command) *Error {
	if n := len(w.Subjects); n == 0 || n > MaxSubjectsPerCommand {
		return Errorf(CodeBadRequest, `%s needs 1 to %d "subjects", got %d`, c.Op, MaxSubjectsPerCommand, n)
	}
	for i, s := range w.Subjects {
		if err := subject.ValidatePattern(s); err != nil {
			return WrapError(CodeInvalidSubject, fmt.Sprintf("subjects[%d] %s", i, quoteShort(s)), err)
		}
		if ReservedSubject(s) {
			return Errorf(CodeInvalidSubject, "subjects[%d] %s: subjects starting with $ or _INBOX belong to NATS itself", i, quoteShort(s))
		}
	}
	c.Subjects = w.Subjects
	return nil
}

// ReservedSubject reports whether subject (or pattern) is in NATS's own
// namespace: a first token starting with "$" ($JS, $KV, $SYS: JetStream
// API, key-value records, system events) or "_INBOX" (request replies).
// Clients cannot subscribe there, and the hub never delivers such messages,
// even to a ">" subscription.
func ReservedSubject(subject string) bool {
	return strings.HasPrefix(subject, "$") || subject == "_INBOX" || strings.HasPrefix(subject, "_INBOX.")
}

func (w *wireCommand) validateOptions(c *Command) *Error {
	if w.Policy != nil {
		p, err := ParsePolicy(*w.Policy)
		if err != nil {
			return WrapError(CodeInvalidOption, "", err)
		}
		c.Policy = p
	}
	if w.MaxRate != nil {
		r := *w.MaxRate
		if math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
			return Errorf(CodeInvalidOption, "max_rate must be a finite number >= 0, got %v", r)
		}
		c.MaxRate = r
	}
	if c.MaxRate > 0 {
		switch c.Policy {
		case PolicyDefault:
			c.Policy = KeepLatest
		case KeepLatest:
		default:
			return Errorf(CodeInvalidOption, "max_rate implies keep-latest and cannot be combined with policy %s", c.Policy)
		}
	}
	if w.Snapshot != nil {
		c.Snapshot = *w.Snapshot
	}
	return nil
}

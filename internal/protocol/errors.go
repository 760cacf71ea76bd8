package protocol

import (
	"fmt"
	"unicode/utf8"
)

// ErrorCode is the stable machine-readable code of an "error" frame. Codes
// never change meaning; new ones may be added.
type ErrorCode string

// Error codes of protocol v1.
const (
	// CodeBadRequest: malformed JSON or msgpack, a missing or mistyped
	// field, or a frame the msgpack guard rejected.
	CodeBadRequest ErrorCode = "bad_request"
	// CodeUnknownOp: the "op" is not a client command of this version.
	CodeUnknownOp ErrorCode = "unknown_op"
	// CodeInvalidSubject: a subject pattern failed validation; the message
	// names it.
	CodeInvalidSubject ErrorCode = "invalid_subject"
	// CodeInvalidOption: an unknown policy, a negative or non-finite
	// max_rate, or max_rate with a policy other than keep-latest.
	CodeInvalidOption ErrorCode = "invalid_option"
	// CodeTooManySubscriptions: the client would exceed max_subscriptions.
	CodeTooManySubscriptions ErrorCode = "too_many_subscriptions"
	// CodeNotSubscribed: unsubscribe from a pattern the client does not have.
	CodeNotSubscribed ErrorCode = "not_subscribed"
	// CodeForbidden: the key's scope does not allow the subject.
	CodeForbidden ErrorCode = "forbidden"
	// CodeRateLimited: the client sends commands too fast.
	CodeRateLimited ErrorCode = "rate_limited"
	// CodeUnsupportedFrame: a binary frame on the JSON subprotocol or a text
	// frame on the msgpack one.
	CodeUnsupportedFrame ErrorCode = "unsupported_frame"
	// CodeAuthRequired: the connection must authenticate first.
	CodeAuthRequired ErrorCode = "auth_required"
	// CodeInsufficientState: the hub cannot do what was asked from the
	// state it has (for example a resume position it no longer holds).
	CodeInsufficientState ErrorCode = "insufficient_state"
	// CodeInternal: the hub failed.
	CodeInternal ErrorCode = "internal"
	// CodeNotFound (HTTP only): nothing is stored for the subject asked
	// for (GET /v1/last).
	CodeNotFound ErrorCode = "not_found"
	// CodeSignatureRequired (HTTP only): the key publishes only with
	// signed requests, and this one has no Streamhub-Signature.
	CodeSignatureRequired ErrorCode = "signature_required"
	// CodeSignatureInvalid (HTTP only): the signature is malformed or does
	// not match the request.
	CodeSignatureInvalid ErrorCode = "signature_invalid"
	// CodeSignatureExpired (HTTP only): the signature's timestamp is
	// outside the replay window.
	CodeSignatureExpired ErrorCode = "signature_expired"
)

// ErrorCodes returns every error code of this version, for docs and tests.
func ErrorCodes() []ErrorCode {
	return []ErrorCode{
		CodeBadRequest, CodeUnknownOp, CodeInvalidSubject, CodeInvalidOption,
		CodeTooManySubscriptions, CodeNotSubscribed, CodeForbidden, CodeRateLimited,
		CodeUnsupportedFrame, CodeAuthRequired, CodeInsufficientState, CodeInternal,
		CodeNotFound, CodeSignatureRequired, CodeSignatureInvalid, CodeSignatureExpired,
	}
}

// Error is a protocol error answered to the client in an "error" frame.
// Message is sent to the client as is: it must not contain secrets.
type Error struct {
	Code    ErrorCode
	Message string
	// cause is the underlying error, if any, for errors.Is and errors.As.
	cause error
}

// Errorf returns an Error with code and a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an Error with code whose message is prefix followed by
// cause's text; errors.Is and errors.As see cause through it.
func WrapError(code ErrorCode, prefix string, cause error) *Error {
	msg := cause.Error()
	if prefix != "" {
		msg = prefix + ": " + msg
	}
	return &Error{Code: code, Message: msg, cause: cause}
}

// Error returns "protocol: <code>: <message>".
func (e *Error) Error() string {
	if e.Message == "" {
		return "protocol: " + string(e.Code)
	}
	return "protocol: " + string(e.Code) + ": " + e.Message
}

// Unwrap returns the underlying error, or nil.
func (e *Error) Unwrap() error { return e.cause }

// quoteShort quotes s for an error message, cut to at most 64 bytes so a
// client cannot make the hub echo a whole frame back.
func quoteShort(s string) string {
	const max = 64
	if len(s) <= max {
		return fmt.Sprintf("%q", s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q...", s[:cut])
}

package client

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/streamhub/streamhub/internal/protocol"
)

// ErrorCode is the stable machine-readable code of a hub error answer
// (docs/protocol.md, "Error codes").
type ErrorCode string

// The error codes of protocol v1.
const (
	CodeBadRequest           = ErrorCode(protocol.CodeBadRequest)
	CodeUnknownOp            = ErrorCode(protocol.CodeUnknownOp)
	CodeInvalidSubject       = ErrorCode(protocol.CodeInvalidSubject)
	CodeInvalidOption        = ErrorCode(protocol.CodeInvalidOption)
	CodeTooManySubscriptions = ErrorCode(protocol.CodeTooManySubscriptions)
	CodeNotSubscribed        = ErrorCode(protocol.CodeNotSubscribed)
	CodeForbidden            = ErrorCode(protocol.CodeForbidden)
	CodeRateLimited          = ErrorCode(protocol.CodeRateLimited)
	CodeUnsupportedFrame     = ErrorCode(protocol.CodeUnsupportedFrame)
	CodeAuthRequired         = ErrorCode(protocol.CodeAuthRequired)
	CodeInsufficientState    = ErrorCode(protocol.CodeInsufficientState)
	CodeInternal             = ErrorCode(protocol.CodeInternal)
	// HTTP API only.
	CodeNotFound          = ErrorCode(protocol.CodeNotFound)
	CodeSignatureRequired = ErrorCode(protocol.CodeSignatureRequired)
	CodeSignatureInvalid  = ErrorCode(protocol.CodeSignatureInvalid)
	CodeSignatureExpired  = ErrorCode(protocol.CodeSignatureExpired)
)

// Error is an error answer from the hub to one of this client's commands.
// Message is the hub's text for humans; it never carries a credential.
type Error struct {
	Code    ErrorCode
	Message string
}

// Error returns "client: hub answered <code>: <message>".
func (e *Error) Error() string {
	if e.Message == "" {
		return "client: hub answered " + string(e.Code)
	}
	return "client: hub answered " + string(e.Code) + ": " + e.Message
}

// CloseError says why the hub ended a connection for good: it closed it
// with a code after which the client must not reconnect by itself
// (4500–4999, 1000, 1009 and codes outside the reconnect list).
type CloseError struct {
	// Code is the WebSocket close code.
	Code int
	// Reason is the close frame's reason text, as sent by the hub.
	Reason string
}

// Error returns "client: connection closed with <code> (<name>): <reason>".
func (e *CloseError) Error() string {
	s := "client: connection closed with " + strconv.Itoa(e.Code) + " (" + protocol.CloseCode(e.Code).String() + ")"
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	return s
}

// Sentinel errors.
var (
	// ErrClosed is returned by methods called after Close, and by
	// Client.Err after Close.
	ErrClosed = errors.New("client: closed")
	// ErrAlreadySubscribed: this Client already has a Subscription for
	// the pattern. Unsubscribe it first.
	ErrAlreadySubscribed = errors.New("client: already subscribed to this pattern")
	// ErrAuthRequired: the hub asks for in-band authentication and
	// Options.TokenProvider is nil.
	ErrAuthRequired = errors.New("client: the hub requires authentication and no TokenProvider is set")
	// ErrUnauthorized: the hub refused the upgrade with 401 or 403 (a
	// missing, unknown, revoked or out-of-scope key). Reconnecting does
	// not help.
	ErrUnauthorized = errors.New("client: the hub refused the credentials")
	// ErrConnectionLost: the connection ended before the hub answered a
	// command. Subscribe retries by itself; Unsubscribe does not need to.
	ErrConnectionLost = errors.New("client: connection lost")
)

// hubError turns an error answer into an *Error.
func hubError(m protocol.ServerMessage) *Error {
	return &Error{Code: ErrorCode(m.Code), Message: m.Message}
}

// statusError is an HTTP request (an upgrade, a publish) refused with an
// HTTP status.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string {
	return fmt.Sprintf("client: refused with HTTP %d: %v", e.status, e.err)
}

func (e *statusError) Unwrap() []error {
	if e.status == 401 || e.status == 403 {
		return []error{ErrUnauthorized, e.err}
	}
	return []error{e.err}
}

// redactURL returns raw without user info and query, which may carry
// credentials, for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/protocol"
)

// Identity is who a connection authenticated as, and what it may do.
type Identity struct {
	// KeyID is the API key behind the credentials; revoking it closes
	// every connection with this identity.
	KeyID string
	// Subscribe lists the patterns the connection may subscribe within;
	// nil with Anonymous means anything.
	Subscribe []string
	// Anonymous marks the identity of an unauthenticated hub
	// (--insecure-no-auth): everything is allowed.
	Anonymous bool
	// Expires is when the credentials stop being valid; zero means never.
	// At that moment the connection is closed with ExpireReason.
	Expires time.Time
	// ExpireReason is the close reason at Expires: key_expired for API
	// keys, token_expired (refresh and reconnect) for browser tokens.
	ExpireReason fanout.CloseReason
	// CommandsPerSecond and CommandsBurst override the gateway's default
	// command rate when positive.
	CommandsPerSecond float64
	CommandsBurst     int
	// MaxSubscriptions, when positive, caps this connection's
	// subscriptions below the hub's own limit.
	MaxSubscriptions int
	// MaxConns is the key's connection limit (0: the default), for the
	// Authenticator's own slot accounting.
	MaxConns int
	// Release, if set, is called once when the connection ends (to free a
	// per-key connection slot).
	Release func()
	// Usage, if set, counts the connection's subscriptions and deliveries
	// for its key.
	Usage UsageMeter
}

// UsageMeter counts a connection's use of its key. Its methods are called
// from the connection's goroutines (the writer once per written batch, the
// reader once per subscribe), concurrently with other connections of the
// key: they must be safe for concurrent use and must not block.
type UsageMeter interface {
	Subscribed(n int)
	Delivered(msgs, bytes int)
}

// Authenticator decides who a connection is. Implementations must be safe
// for concurrent use and must never put a credential in an error message.
type Authenticator interface {
	// FromRequest authenticates the upgrade request (the Authorization
	// header). It returns (nil, nil) when the request has no Authorization
	// header, so that the client may authenticate in-band with its first
	// message (browsers cannot set headers). An Authorization header it
	// cannot use (not "Bearer <key>") is an error, never (nil, nil).
	FromRequest(r *http.Request) (*Identity, error)
	// FromToken authenticates a token sent in-band by auth, taking one of
	// its key's connection slots (Identity.Release gives it back). r is
	// the upgrade request, for the remote address.
	FromToken(r *http.Request, token string) (*Identity, error)
	// VerifyToken checks a token like FromToken but takes no slot: a
	// refresh replaces the credentials of a connection that holds one.
	VerifyToken(r *http.Request, token string) (*Identity, error)
	// FromTicket redeems a single-use SSE ticket (see ServeSSE), taking one
	// of its key's connection slots like FromToken. A ticket works once:
	// a second use is refused like an invalid token.
	FromTicket(r *http.Request, ticket string) (*Identity, error)
	// Allowed reports whether id may subscribe to pattern.
	Allowed(id *Identity, pattern string) bool
}

// Upstream is the NATS side of the interest plane (bus.Router implements
// it). Its methods are called concurrently by every connection.
type Upstream interface {
	// Ready waits until messages matching pattern, which the caller has
	// just subscribed in the hub, flow from upstream: everything published
	// after it returns nil reaches the hub. An error means they may not.
	Ready(ctx context.Context, pattern string) error
}

// History serves what a subscription must see before its live messages.
// Errors that are the client's to handle are *protocol.Error values
// (insufficient_state for a resume that cannot be honoured); any other
// error is answered as internal.
type History interface {
	// Snapshot returns the current value of every subject matching
	// pattern, encoded as snapshot events, in stream order; Truncated says
	// the subjects that changed least recently were left out.
	Snapshot(ctx context.Context, pattern string) (Backlog, error)
	// Replay returns, in order, what was published on pattern after the
	// position (epoch, after), with Recovered true. For a pattern whose
	// messages are not stored (ticks are at most once), it returns the
	// snapshot instead, with Recovered false: the current values stand in
	// for what was missed.
	Replay(ctx context.Context, pattern string, epoch, after uint64) (Backlog, error)
}

// Backlog is what a subscription receives before its live messages.
type Backlog struct {
	Msgs []*fanout.Message
	// Recovered: a replay holds everything the client missed.
	Recovered bool
	// Truncated: a snapshot was cut to the hub's cap.
	Truncated bool
}

// AuthError is an authentication failure with the HTTP status to answer
// before an upgrade and the close reason to use after it.
type AuthError struct {
	Status int
	Reason fanout.CloseReason
	Msg    string // safe to show: never contains a credential
}

func (e *AuthError) Error() string { return "gateway: " + e.Msg }

// NewAuthError returns an AuthError.
func NewAuthError(status int, reason fanout.CloseReason, format string, args ...any) *AuthError {
	return &AuthError{Status: status, Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

var anonymous = &Identity{Anonymous: true}

// release calls id's Release, if any: for connections that end before a
// session takes charge of it.
func release(id *Identity) {
	if id != nil && id.Release != nil {
		id.Release()
	}
}

// preAuthenticate runs before the upgrade. A nil identity with a nil error
// means the client must authenticate in-band.
func (g *Gateway) preAuthenticate(r *http.Request) (*Identity, error) {
	if g.cfg.Auth == nil {
		return anonymous, nil
	}
	return g.cfg.Auth.FromRequest(r)
}

func (g *Gateway) allowed(id *Identity, pattern string) bool {
	if id.Anonymous {
		return true
	}
	return g.cfg.Auth != nil && g.cfg.Auth.Allowed(id, pattern)
}

func writeHTTPError(w http.ResponseWriter, err error) {
	var ae *AuthError
	if errors.As(err, &ae) {
		if ae.Status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="streamhub"`)
		}
		protocol.WriteHTTPError(w, ae.Status, protocol.CodeForHTTPStatus(ae.Status), ae.Msg)
		return
	}
	protocol.WriteHTTPError(w, http.StatusServiceUnavailable, protocol.CodeInternal, "authentication unavailable")
}

func closeReasonOf(err error) fanout.CloseReason {
	var ae *AuthError
	if errors.As(err, &ae) && ae.Reason != 0 {
		return ae.Reason
	}
	return fanout.ReasonAuthFailed
}

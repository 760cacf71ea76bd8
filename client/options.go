package client

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/streamhub/streamhub/internal/protocol"
)

// Encoding selects the wire encoding, negotiated as a WebSocket
// subprotocol. The zero value means msgpack.
type Encoding uint8

const (
	// EncodingDefault (the zero value) is msgpack.
	EncodingDefault Encoding = iota
	// EncodingMsgpack is protocol v1 in binary msgpack frames
	// (streamhub.v1.msgpack): compact and fast to decode.
	EncodingMsgpack
	// EncodingJSON is protocol v1 in JSON text frames (streamhub.v1.json).
	EncodingJSON
)

// String returns "msgpack" or "json".
func (e Encoding) String() string {
	if e == EncodingJSON {
		return "json"
	}
	return "msgpack"
}

func (e Encoding) wire() protocol.Encoding {
	if e == EncodingJSON {
		return protocol.EncodingJSON
	}
	return protocol.EncodingMsgpack
}

// Backoff is the reconnect schedule: before reconnect attempt n (0, 1, ...)
// the client waits a random time in [0, min(Cap, Base × 2^n)] ("full
// jitter"), so that many clients that lost the same hub do not all come
// back at once. After a close with 4000 (hub shutdown) the first attempt is
// immediate. The attempt count starts again from 0 once a connection has
// stayed up for Cap.
type Backoff struct {
	// Base is the first attempt's upper bound. Default 250 ms.
	Base time.Duration
	// Cap bounds every wait. Default 10 s.
	Cap time.Duration
}

// Options configure a Client. A nil *Options, and the zero value of each
// field, mean the default documented on the field.
type Options struct {
	// FallbackURLs are other hubs of the same deployment (sharing one NATS
	// cluster), tried after the URL given to Dial: Dial tries them in
	// order until one connects, and every reconnect goes to the hub after
	// the one last tried, rotating, so that a hub that went away is not
	// the first one tried again. Subscriptions resume on any of them: the
	// positions of the stored families are the same on every hub.
	// Default none.
	FallbackURLs []string
	// Encoding is the wire encoding. Default msgpack.
	Encoding Encoding
	// TokenProvider returns a browser-style token (a JWT) for in-band
	// authentication, used when the hub's hello says auth_required (the
	// key was empty or not accepted on the upgrade). The client reads the
	// token's exp claim, without verifying it, and sends a refresh with a
	// new token from the provider about 60 s before it expires. It is
	// called with a context that ends with the attempt or the client.
	// Default nil: a hub that requires auth makes Dial fail with
	// ErrAuthRequired.
	TokenProvider func(ctx context.Context) (string, error)
	// Backoff is the reconnect schedule; zero fields take its defaults.
	Backoff Backoff
	// OnGap is called for every gap: ranges the hub announces it dropped
	// for this connection (drop-oldest subscriptions). Default nil.
	OnGap func(Gap)
	// OnRecovered is called after a reconnect, once per subscription that
	// had seen events, once it is subscribed again. recovered is true when
	// the hub resumed it: it replayed, in order, everything published
	// since the last event this client saw (hubs that offer resume, for
	// the stored families chain.> and jobs.>). Otherwise the client asked
	// for a snapshot instead, and the next events include the latest value
	// of each subject, flagged Event.Snapshot, where the hub keeps last
	// values: anything between is lost, and the application should treat
	// the subscription as starting afresh. subject is the subscription's
	// pattern. It is also called with false, on the connection's read
	// loop, for each subscription reaching beyond the stored families
	// (ticks) when the hub announces that its own connection to NATS was
	// re-established (notice upstream_reconnected): ticks published
	// meanwhile were missed, and the next one on each subject is a fresh
	// value (the hub's own numbering continues in a new epoch). Default nil.
	OnRecovered func(subject string, recovered bool)
	// OnStateChange is called on every state change, in order. Default nil.
	OnStateChange func(State)
	// Logger receives connection-level logs (reconnects, refresh
	// failures), never one line per message and never a key or token.
	// Default: discard.
	Logger *slog.Logger
	// HTTPHeader holds extra headers for the upgrade request. The key
	// given to Dial, when not empty, sets Authorization. Default none.
	HTTPHeader http.Header
	// HTTPClient performs the upgrade request (for TLS settings or a
	// proxy). Default: a private client with http.DefaultTransport's
	// settings, whose idle connections Close releases.
	HTTPClient *http.Client
	// DialTimeout bounds each connection attempt: upgrade, hello and
	// in-band auth. Default 10 s.
	DialTimeout time.Duration
	// ReadLimit is the largest server frame accepted, in bytes; a batch can
	// be as large as the hub's max_queue_bytes. Default 16 MiB.
	ReadLimit int64
	// WriteTimeout bounds writing one command. Default 10 s.
	WriteTimeout time.Duration
	// Compression asks the hub for permessage-deflate (without context
	// takeover); a hub started without --compression declines and the
	// connection is uncompressed. Default off.
	Compression bool
	// SigningSecret signs Publish and PublishBatch requests with the
	// key's publish signing secret (see PublisherOptions). Default none.
	SigningSecret string
}

// Defaults for the zero values of Options and SubscribeOptions.
const (
	DefaultBackoffBase  = 250 * time.Millisecond
	DefaultBackoffCap   = 10 * time.Second
	DefaultDialTimeout  = 10 * time.Second
	DefaultReadLimit    = 16 << 20
	DefaultWriteTimeout = 10 * time.Second
	DefaultBuffer       = 256
)

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Backoff.Base <= 0 {
		r.Backoff.Base = DefaultBackoffBase
	}
	if r.Backoff.Cap <= 0 {
		r.Backoff.Cap = DefaultBackoffCap
	}
	if r.Backoff.Cap < r.Backoff.Base {
		r.Backoff.Cap = r.Backoff.Base
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	if r.DialTimeout <= 0 {
		r.DialTimeout = DefaultDialTimeout
	}
	if r.ReadLimit <= 0 {
		r.ReadLimit = DefaultReadLimit
	}
	if r.WriteTimeout <= 0 {
		r.WriteTimeout = DefaultWriteTimeout
	}
	return r
}

// State is the client's connection state.
type State uint8

const (
	// StateConnected: a connection is up and every subscription has been
	// (re)subscribed on it.
	StateConnected State = iota + 1
	// StateReconnecting: the connection was lost; the client is waiting to
	// reconnect or reconnecting.
	StateReconnecting
	// StateClosed: the client stopped for good (Close, or a close code
	// that forbids reconnecting). It is the last state.
	StateClosed
)

// String returns "connected", "reconnecting" or "closed".
func (s State) String() string {
	switch s {
	case StateConnected:
		return "connected"
	case StateReconnecting:
		return "reconnecting"
	case StateClosed:
		return "closed"
	}
	return "unknown"
}

// Policy says what the hub does with a subscription's messages when this
// client's queue on the hub is full. The zero value uses the hub's default
// for each subject's prefix (ticks. and jobs. keep-latest, chain.
// drop-oldest).
type Policy uint8

const (
	// PolicyDefault uses the hub's per-prefix default.
	PolicyDefault Policy = iota
	// PolicyKeepLatest conflates: per subject only the newest undelivered
	// message is kept. Sequence jumps are conflation, not loss.
	PolicyKeepLatest
	// PolicyDropOldest keeps a bounded FIFO and announces dropped ranges as
	// gaps (Options.OnGap).
	PolicyDropOldest
	// PolicyDisconnect closes the connection as a slow consumer (4001; the
	// client reconnects).
	PolicyDisconnect
)

// String returns the policy's wire name.
func (p Policy) String() string { return p.wire().String() }

func (p Policy) wire() protocol.Policy {
	switch p {
	case PolicyKeepLatest:
		return protocol.KeepLatest
	case PolicyDropOldest:
		return protocol.DropOldest
	case PolicyDisconnect:
		return protocol.Disconnect
	}
	return protocol.PolicyDefault
}

// SubscribeOptions are one subscription's options. They are sent again
// unchanged on every resubscribe.
type SubscribeOptions struct {
	// Policy is the hub-side overflow policy. Default: the hub's default
	// for each subject's prefix.
	Policy Policy
	// MaxRate caps deliveries per subject at this many per second (the hub
	// conflates the rest); it implies keep-latest. 0 means unlimited.
	MaxRate float64
	// Snapshot asks the hub to deliver each subject's last value first,
	// flagged Event.Snapshot, then live events, with nothing lost or
	// duplicated in between (hubs that keep no last values for the
	// pattern deliver live events only).
	Snapshot bool
	// Buffer is the capacity of the subscription's channel. When the
	// application lets it fill up, the client stops reading the
	// connection until there is room (backpressure; nothing is dropped).
	// Default 256.
	Buffer int
	// OnEnd is called once, with the reason (see Subscription.Err), when
	// a subscription made with SubscribeFunc ends other than by
	// Unsubscribe: the client was closed or stopped for good, or the hub
	// refused to resubscribe it after a reconnect (forbidden, for a
	// revoked scope). It runs on the subscription's handler goroutine
	// after the last event. The client never ends a subscription for a
	// transient failure: it retries, on another connection if needed.
	// Subscribe's users read Err once C is closed instead. Default nil.
	OnEnd func(err error)
}

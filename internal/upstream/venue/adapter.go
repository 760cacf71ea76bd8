package venue

import (
	"errors"
	"fmt"
	"time"

	"github.com/streamhub/streamhub/internal/upstream"
)

// Adapter is one venue's protocol: where to connect, what to send after
// connecting, and how to read the venue's frames. A [Connector] calls its
// methods from its Run goroutine only, so an Adapter keeps its
// per-connection state (books, last sequence numbers) without locks.
type Adapter interface {
	// Name is the venue's subject token, e.g. "coinbase".
	Name() string
	// Defaults are the venue's documented endpoint and limits; they fill
	// the zero values of [Config].
	Defaults() Defaults
	// URL returns the WebSocket URL to dial, given the configured base URL
	// (Config.URL or Defaults.URL).
	URL(base string, syms []Symbol) (string, error)
	// Subscribe returns the messages to send, in order, after each
	// connection. The connector sends them within the venue's rate limit.
	Subscribe(syms []Symbol) ([][]byte, error)
	// Reset forgets the state of the previous connection; it is called
	// before each connection's first frame.
	Reset()
	// Handle decodes one frame received at recv and reports its ticks and
	// the venue's sequence gaps to out. Its error decides what happens to
	// the connection: one wrapping [ErrMalformed] is counted and the frame
	// dropped; a [*RefusedError] closes the connection and the next one
	// waits for the backoff; one wrapping [ErrResync] (state that cannot be
	// repaired in place, such as an order book after a gap) reconnects at
	// once; any other error closes the connection and backs off.
	Handle(frame []byte, recv time.Time, out Out) error
}

// Defaults are a venue's documented endpoint and limits.
type Defaults struct {
	// URL is the production WebSocket endpoint.
	URL string
	// HeartbeatWindow is how long the venue may be silent before the feed
	// is stale: a few of its heartbeat intervals.
	HeartbeatWindow time.Duration
	// MaxConnAge is the age at which the connector reconnects by itself,
	// ahead of a disconnection the venue announces (0: none).
	MaxConnAge time.Duration
	// SendRate is the number of messages per second the connector sends at
	// most; SendBurst how many it may send at once.
	SendRate  float64
	SendBurst int
	// ReadLimit is the largest frame the venue sends, in bytes (0: 1 MiB).
	ReadLimit int64
}

// Out receives what an Adapter decoded. Only the Run goroutine calls it.
type Out interface {
	// Tick publishes t for sym; t.TS is the venue's event time in Unix ms.
	// Venue and Symbol are filled in by the connector.
	Tick(sym Symbol, t *upstream.Tick)
	// Gap reports a venue sequence gap that concerns syms, or every symbol
	// of the connection if none is given: it is counted, and the next tick
	// of each of those subjects opens a new epoch.
	Gap(syms ...Symbol)
}

// ErrMalformed is wrapped by Handle errors for frames that cannot be
// decoded: the frame is dropped and counted, the connection stays up.
var ErrMalformed = errors.New("venue: malformed frame")

// ErrResync is wrapped by Handle errors that need a fresh connection (and
// with it fresh snapshots) at once.
var ErrResync = errors.New("venue: resync needed")

// RefusedError is a venue's refusal of a subscription or request, with the
// venue's own words.
type RefusedError struct {
	Venue   string
	Message string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("venue: %s refused the subscription: %s", e.Venue, e.Message)
}

// Malformed returns an error wrapping ErrMalformed with a reason.
func Malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

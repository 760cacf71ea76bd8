package client

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"
	"github.com/streamhub/streamhub/internal/protocol"
)

// Client is a connection to a StreamHub hub that stays up by itself (see
// the package documentation). Create it with Dial; end it with Close. All
// methods are safe for concurrent use.
//
// Goroutines: one manager goroutine reads the current connection and
// reconnects; each connection has one helper goroutine that resubscribes
// and refreshes the token; each SubscribeFunc subscription has one handler
// goroutine. Close waits for all of them.
type Client struct {
	urls []string // the url given to Dial, then Options.FallbackURLs
	// nextURL indexes urls: the hub the next connection attempt goes to.
	// Only the goroutine making attempts (Dial, then the manager) uses it.
	nextURL int
	key     string // a secret: never logged
	opts    Options
	enc     protocol.Encoding
	log     *slog.Logger

	httpClient *http.Client
	ownHTTP    *http.Transport // the private transport, closed by Close; nil when the caller gave one

	// ctx ends when Close is called; every connection's context derives
	// from it.
	ctx    context.Context
	cancel context.CancelFunc

	wg       sync.WaitGroup // the manager goroutine
	handlers sync.WaitGroup // SubscribeFunc goroutines; Add only under mu while !stopped

	nextID atomic.Uint64

	// mu guards the fields below. It is never held across I/O or a
	// callback; channel sends under it never block.
	mu sync.Mutex
	// sess is the current connection once it has said hello and
	// authenticated; nil while reconnecting.
	sess *session
	// sessChanged is closed and replaced whenever sess changes or the
	// client stops, to wake waitSession.
	sessChanged chan struct{}
	// subs maps a pattern to its subscription, from the moment Subscribe
	// is called until Unsubscribe, Close or a refusal ends it.
	subs map[string]*Subscription
	// unsubscribing holds the patterns whose unsubscribe is in flight; a
	// Subscribe to the same pattern waits for it, so the two commands
	// cannot overtake each other.
	unsubscribing map[string]chan struct{}
	state         State
	closing       bool  // Close was called
	stopped       bool  // the client stopped for good; err says why
	err           error // ErrClosed, a *CloseError or a fatal dial error
	done          chan struct{}

	// cbMu serializes state changes with their OnStateChange calls, so
	// callbacks see the states in order. Lock order: cbMu, then mu.
	cbMu      sync.Mutex
	closeOnce sync.Once
}

// Dial connects to the hub at url (for example ws://127.0.0.1:8080/v1/ws)
// and returns a Client once the hub has said hello and, when it asks for
// it, accepted a token from Options.TokenProvider. ctx bounds only this
// first connection; Dial makes one attempt per hub URL (url, then
// Options.FallbackURLs in order) and returns the last one's error if none
// succeeds. After Dial returns, the client reconnects by itself until
// Close, each attempt to the hub after the one it last tried.
//
// key is an API key, sent as "Authorization: Bearer <key>" on the upgrade;
// empty sends none (a hub without auth, or in-band tokens). opts may be nil.
// A hub that refuses the key with 401 or 403 gives an error wrapping
// ErrUnauthorized.
func Dial(ctx context.Context, url, key string, opts *Options) (*Client, error) {
	o := opts.withDefaults()
	c := &Client{
		urls:          append([]string{url}, o.FallbackURLs...),
		key:           key,
		opts:          o,
		enc:           o.Encoding.wire(),
		log:           o.Logger,
		httpClient:    o.HTTPClient,
		sessChanged:   make(chan struct{}),
		subs:          make(map[string]*Subscription),
		unsubscribing: make(map[string]chan struct{}),
		done:          make(chan struct{}),
	}
	if c.httpClient == nil {
		c.ownHTTP = newTransport()
		c.httpClient = &http.Client{Transport: c.ownHTTP}
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	var s *session
	var err error
	for range c.urls {
		if s, err = c.connect(ctx); err == nil || isFatal(err) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		c.cancel()
		c.closeIdle()
		return nil, err
	}
	c.sess = s
	c.setState(nil, StateConnected)
	c.wg.Add(1)
	go c.run(s)
	return c, nil
}

// newTransport returns a transport like http.DefaultTransport's, limited
// to HTTP/1.1 (a WebSocket upgrade cannot go over HTTP/2).
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ForceAttemptHTTP2 = false
	t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	return t
}

func (c *Client) closeIdle() {
	if c.ownHTTP != nil {
		c.ownHTTP.CloseIdleConnections()
	}
}

// Close closes the connection normally (1000), stops reconnecting, ends
// every subscription (their channels are closed and Err returns
// ErrClosed unless they had ended already) and waits for the client's
// goroutines, including SubscribeFunc handlers: a handler must therefore
// not call Close. The close handshake waits for the hub's answer, at most
// about 10 s for a hub that does not answer. Call it also after Done is
// closed, to release the client's idle HTTP connections. It is idempotent
// and always returns nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closing = true
		s := c.sess
		c.mu.Unlock()
		if s != nil {
			// The close handshake completes through the read loop, which
			// receives the hub's answering close frame.
			_ = s.ws.Close(websocket.StatusNormalClosure, "")
		}
		c.cancel()
		c.wg.Wait()
		c.stop(ErrClosed)
		c.handlers.Wait()
		c.closeIdle()
	})
	return nil
}

// State returns the current connection state.
func (c *Client) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Done is closed when the client has stopped for good: after Close, or
// when the hub closed the connection with a code that forbids reconnecting.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err returns nil while the client runs, and once Done is closed why it
// stopped: ErrClosed after Close, a *CloseError when the hub closed the
// connection for good, or the error of a reconnect that cannot succeed
// (wrapping ErrUnauthorized or ErrAuthRequired, or an *Error refusing the
// token).
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Encoding returns the wire encoding in use.
func (c *Client) Encoding() Encoding {
	if c.enc == protocol.EncodingJSON {
		return EncodingJSON
	}
	return EncodingMsgpack
}

// setState moves to st and calls OnStateChange, unless the client is
// closed, st is the current state, or s is not nil and no longer the
// current connection (its news is stale).
func (c *Client) setState(s *session, st State) {
	c.cbMu.Lock()
	defer c.cbMu.Unlock()
	c.mu.Lock()
	if c.state == StateClosed || c.state == st || (s != nil && c.sess != s) {
		c.mu.Unlock()
		return
	}
	c.state = st
	c.mu.Unlock()
	if c.opts.OnStateChange != nil {
		c.opts.OnStateChange(st)
	}
}

// stop ends the client for good with err (the first stop wins): every
// subscription ends, Done is closed and the state becomes closed.
func (c *Client) stop(err error) {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	c.stopped = true
	c.err = err
	for p, sub := range c.subs {
		delete(c.subs, p)
		sub.end(err)
	}
	c.setSessLocked(nil)
	c.mu.Unlock()
	c.setState(nil, StateClosed)
	close(c.done) // only the first stop gets here
}

// setSessLocked changes the current connection and wakes waitSession.
// c.mu must be held.
func (c *Client) setSessLocked(s *session) {
	c.sess = s
	close(c.sessChanged)
	c.sessChanged = make(chan struct{})
}

// waitSession returns the current connection, waiting for a reconnect if
// there is none, until ctx ends or the client stops.
func (c *Client) waitSession(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		if c.stopped || c.closing {
			err := c.err
			c.mu.Unlock()
			if err == nil {
				err = ErrClosed
			}
			return nil, err
		}
		if s := c.sess; s != nil {
			c.mu.Unlock()
			return s, nil
		}
		ch := c.sessChanged
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// isFatal reports whether a failed connection attempt cannot succeed by
// retrying.
func isFatal(err error) bool {
	var he *Error
	return errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrAuthRequired) || errors.As(err, &he)
}

package client

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/streamhub/streamhub/internal/protocol"
)

// Subscribe subscribes to one subject pattern (for example
// "ticks.*.BTC-USD" or "jobs.acme.>") and waits for the hub's answer until
// ctx ends. While the client is reconnecting it waits for the connection;
// if the connection is lost before the answer it tries again on the next
// one.
//
// A refusal is an *Error with the hub's code (CodeInvalidSubject,
// CodeInvalidOption, CodeForbidden, CodeTooManySubscriptions,
// CodeRateLimited, ...); rate_limited and internal answers (transient:
// the hub could not serve it just now) are first asked again a few times,
// within about 5 s. A pattern this Client already has a Subscription for gives
// ErrAlreadySubscribed. Once the client has stopped it returns Client.Err
// (ErrClosed after Close).
//
// The subscription's events flow on its channel (see Subscription.C); the
// client resubscribes it, with the same options and its last positions,
// after every reconnect.
func (c *Client) Subscribe(ctx context.Context, pattern string, opts SubscribeOptions) (*Subscription, error) {
	if r := opts.MaxRate; math.IsNaN(r) || math.IsInf(r, 0) || r < 0 {
		return nil, &Error{Code: CodeInvalidOption, Message: fmt.Sprintf("max_rate must be a finite number >= 0, got %v", r)}
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	sub := &Subscription{c: c, pattern: pattern, opts: opts, ch: make(chan Event, opts.Buffer),
		quit: make(chan struct{}), positions: make(map[string]*position)}
	if err := c.register(ctx, sub); err != nil {
		return nil, err
	}
	if err := c.subscribeFirst(ctx, sub); err != nil {
		c.mu.Lock()
		if c.subs[pattern] == sub {
			delete(c.subs, pattern)
		}
		sub.end(err)
		c.mu.Unlock()
		return nil, err
	}
	return sub, nil
}

// SubscribeFunc is Subscribe with a handler: fn is called for each event,
// one at a time, on a goroutine of the subscription's own, until the
// subscription ends. A slow fn behaves like an application that reads C
// slowly: the client applies backpressure and drops nothing. fn must not call
// Client.Close; it may call Unsubscribe.
func (c *Client) SubscribeFunc(ctx context.Context, pattern string, opts SubscribeOptions, fn func(Event)) (*Subscription, error) {
	sub, err := c.Subscribe(ctx, pattern, opts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return sub, nil // the channel is closed; there is nothing to run
	}
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		for ev := range sub.ch {
			fn(ev)
		}
		if err := sub.Err(); err != nil && opts.OnEnd != nil {
			opts.OnEnd(err)
		}
	}()
	return sub, nil
}

// register adds sub to the client's subscriptions, first waiting for an
// unsubscribe of the same pattern still in flight.
func (c *Client) register(ctx context.Context, sub *Subscription) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.stopped {
			return c.err
		}
		if c.closing {
			return ErrClosed
		}
		if _, ok := c.subs[sub.pattern]; ok {
			return ErrAlreadySubscribed
		}
		wait := c.unsubscribing[sub.pattern]
		if wait == nil {
			break
		}
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			c.mu.Lock()
			return ctx.Err()
		}
		c.mu.Lock()
	}
	c.subs[sub.pattern] = sub
	return nil
}

// subscribeFirst sends sub's first subscribe and waits for the answer,
// trying again on the next connection when one is lost. Events may reach
// sub before the answer: it is registered already.
func (c *Client) subscribeFirst(ctx context.Context, sub *Subscription) error {
	for {
		s, err := c.waitSession(ctx)
		if err != nil {
			return err
		}
		m, err := c.subscribeAsking(ctx, s, sub)
		if errors.Is(err, ErrConnectionLost) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				c.forget(s, sub.pattern) // the hub may have applied it
			}
			return err
		}
		if m.Op == protocol.OpError {
			return hubError(m)
		}
		c.mu.Lock()
		if c.sess == s {
			// From here on, the resubscribe of any later connection
			// includes it.
			sub.confirmed = true
			c.mu.Unlock()
			return nil
		}
		c.mu.Unlock() // the connection changed meanwhile: subscribe on the new one
	}
}

// subscribeOn subscribes sub on connection s and returns the hub's final
// answer (ok or error). A subscription that has seen events asks the hub,
// in this order, to resume from its positions (when hello offers resume
// and the hub has not refused resuming this pattern before), and failing
// that for a snapshot of the latest values, so that the application never
// continues from a stale view after a reconnect. OnRecovered then says
// which it was.
func (c *Client) subscribeOn(ctx context.Context, s *session, sub *Subscription) (protocol.ServerMessage, error) {
	c.mu.Lock()
	plain := sub.command()
	positions := sub.resume()
	noResume := sub.noResume
	c.mu.Unlock()
	seen := len(positions) > 0

	if seen && s.hello.ResumeWindowMS > 0 && !noResume {
		cmd := plain
		cmd.Resume = positions
		m, err := c.requestRetry(ctx, s, cmd)
		if err != nil {
			return m, err
		}
		if transientAnswer(m) {
			// The hub could not read its history just now (a JetStream
			// server lost, a consumer not ready): a snapshot would skip
			// what was missed, so the resume is asked again, on another
			// connection if this one keeps failing.
			return m, nil
		}
		if m.Op == protocol.OpOK && m.Recovered != nil && *m.Recovered {
			c.recovered(sub.pattern, true)
			return m, nil
		}
		if m.Op == protocol.OpError && m.Code != protocol.CodeInsufficientState {
			// The hub cannot resume this pattern at all (not a stored
			// family): do not ask again on later reconnects.
			c.mu.Lock()
			sub.noResume = true
			c.mu.Unlock()
		}
		// Not recovered: fall through to a snapshot. An ok here already
		// subscribed; the snapshot subscribe replaces it.
	}
	cmd := plain
	cmd.Snapshot = cmd.Snapshot || seen
	m, err := c.requestRetry(ctx, s, cmd)
	if err == nil && m.Op == protocol.OpOK {
		c.mu.Lock()
		sub.truncated = m.Truncated
		c.mu.Unlock()
		if seen {
			c.recovered(sub.pattern, false)
		}
	}
	return m, err
}

// upstreamReconnected tells the application, through OnRecovered(pattern,
// false), which subscriptions may have missed ticks while the hub's own
// NATS connection was re-established (the upstream_reconnected notice):
// every one whose pattern reaches beyond the stored families, which lose
// nothing. It runs on the read loop.
func (c *Client) upstreamReconnected() {
	if c.opts.OnRecovered == nil {
		return
	}
	c.mu.Lock()
	var patterns []string
	for p, sub := range c.subs {
		if sub.confirmed && !storedFamily(p) {
			patterns = append(patterns, p)
		}
	}
	c.mu.Unlock()
	slices.Sort(patterns)
	for _, p := range patterns {
		c.recovered(p, false)
	}
}

// storedFamily reports whether every subject pattern matches is in a
// stored family (chain.…, jobs.…), which a hub's NATS reconnect does not
// lose.
func storedFamily(pattern string) bool {
	first, _, _ := strings.Cut(pattern, ".")
	return first == "chain" || first == "jobs"
}

func (c *Client) recovered(pattern string, ok bool) {
	if c.opts.OnRecovered != nil {
		c.opts.OnRecovered(pattern, ok)
	}
}

// transientAnswer reports whether m refuses a command for a reason that
// may pass (internal: the hub's backend failed; rate_limited past
// requestRetry's patience): the client asks again rather than giving the
// subscription up or falling back to a snapshot.
func transientAnswer(m protocol.ServerMessage) bool {
	return m.Op == protocol.OpError && (m.Code == protocol.CodeInternal || m.Code == protocol.CodeRateLimited)
}

// requestRetry sends cmd and waits for the answer, retrying with a
// growing pause (at most 20 times) while the hub answers rate_limited.
func (c *Client) requestRetry(ctx context.Context, s *session, cmd protocol.Command) (protocol.ServerMessage, error) {
	pause := 50 * time.Millisecond
	for attempt := 0; ; attempt++ {
		m, err := s.request(ctx, cmd)
		if err != nil || m.Op != protocol.OpError || m.Code != protocol.CodeRateLimited || attempt >= 20 {
			return m, err
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return m, ctx.Err()
		case <-s.done:
			t.Stop()
			return m, ErrConnectionLost
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// subscribeAsking subscribes sub on s (see subscribeOn), asking again with
// a growing pause, six times in all within about 5 s, while the hub answers
// with a transient error. It returns the last answer.
func (c *Client) subscribeAsking(ctx context.Context, s *session, sub *Subscription) (protocol.ServerMessage, error) {
	pause := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		m, err := c.subscribeOn(ctx, s, sub)
		if err != nil || !transientAnswer(m) || attempt >= 6 {
			return m, err
		}
		t := time.NewTimer(pause)
		select {
		case <-t.C:
		case <-s.done:
			t.Stop()
			return m, ErrConnectionLost
		case <-ctx.Done():
			t.Stop()
			return m, ctx.Err()
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// forget tells the hub, without waiting, to drop a pattern the client has
// no subscription for.
func (c *Client) forget(s *session, pattern string) {
	cmd := protocol.Command{Op: protocol.OpUnsubscribe, Subjects: []string{pattern}, ID: c.nextID.Add(1), HasID: true}
	if frame, err := s.encode(cmd); err == nil {
		_ = s.write(frame)
	}
}

// resubscribe subscribes every confirmed subscription again on a new
// connection (see subscribeOn), then announces StateConnected. It runs on
// the connection's helper goroutine; a refusal ends that subscription with
// the hub's error.
func (c *Client) resubscribe(s *session) {
	c.mu.Lock()
	var subs []*Subscription
	for _, sub := range c.subs {
		if sub.confirmed {
			subs = append(subs, sub)
		}
	}
	c.mu.Unlock()
	for _, sub := range subs {
		m, err := c.subscribeAsking(s.ctx, s, sub)
		if err != nil {
			return // the connection or the client ended
		}
		if transientAnswer(m) {
			// The hub keeps failing this subscription: reconnect (to the
			// next hub when there are several) and resume there.
			c.log.Warn("client: the hub cannot resubscribe now; reconnecting", "pattern", sub.pattern, "code", m.Code)
			s.cancel()
			return
		}
		c.mu.Lock()
		current := c.subs[sub.pattern] == sub
		if m.Op == protocol.OpError && current {
			delete(c.subs, sub.pattern)
			sub.end(hubError(m))
		}
		c.mu.Unlock()
		switch {
		case m.Op == protocol.OpError:
			c.log.Warn("client: the hub refused a resubscribe; the subscription ended", "pattern", sub.pattern, "code", m.Code)
		case !current:
			c.forget(s, sub.pattern) // unsubscribed meanwhile
		}
	}
	c.setState(s, StateConnected)
}

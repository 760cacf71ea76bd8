package gateway

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/subject"
)

// AuthTimeout is how long a client that must authenticate in-band has to
// send its auth message after hello.
const AuthTimeout = 5 * time.Second

// TokenWarning is how long before a browser token expires the connection
// gets a token_expiring notice.
const TokenWarning = 30 * time.Second

// handle answers one decoded command. A non-zero result closes the
// connection with that reason.
func (s *session) handle(ctx context.Context, client *fanout.Client, cmd protocol.Command) fanout.CloseReason {
	switch cmd.Op {
	case protocol.OpSubscribe:
		res, e := s.subscribe(ctx, client, cmd)
		switch {
		case e != nil && client.Reason() != 0:
			// The hub is closing this client (a slow consumer, say): the
			// close code about to follow is the answer, not an internal error.
		case e != nil && e.Code == protocol.CodeInsufficientState:
			s.g.counters.Errors.add(e.Code)
			s.writeControl(ctx, protocol.EncodeResumeError(s.enc, cmd.ID, cmd.HasID, e))
		case e != nil:
			s.answerError(ctx, cmd, e)
		default:
			s.writeControl(ctx, protocol.EncodeSubscribeOK(s.enc, cmd.ID, cmd.HasID, res))
		}
		if e == nil {
			s.track(cmd.Subjects, true)
		}
	case protocol.OpUnsubscribe:
		var first error
		for _, p := range cmd.Subjects {
			if err := client.Unsubscribe(p); err != nil && first == nil {
				first = err
			}
		}
		s.track(cmd.Subjects, false)
		if first != nil {
			s.answerError(ctx, cmd, protocol.WrapError(protocol.CodeNotSubscribed, "gateway", first))
			return 0
		}
		s.answerOK(ctx, cmd)
	case protocol.OpPing:
		s.writeControl(ctx, protocol.EncodePong(s.enc, cmd.ID, cmd.HasID))
	case protocol.OpPong:
		// lastRead is already updated
	case protocol.OpAuth:
		// auth is the first message of a connection whose hello said
		// auth_required, handled by authenticateInBand; once
		// authenticated, an identity is never replaced by another.
		s.answerError(ctx, cmd, protocol.Errorf(protocol.CodeBadRequest,
			"already authenticated: auth is accepted once, as the first message after a hello with auth_required; use refresh to extend a browser token"))
	case protocol.OpRefresh:
		return s.refresh(ctx, client, cmd)
	default:
		s.answerError(ctx, cmd, protocol.Errorf(protocol.CodeUnknownOp, "%q is not supported by this hub", cmd.Op))
	}
	return 0
}

// subscribe applies a subscribe command all or nothing: every pattern must
// be allowed, and if one fails the ones this command added are removed. It
// reports whether the command asked to resume, whether everything missed
// was replayed (recovered) rather than stood in for by a snapshot, and
// whether a snapshot was truncated.
func (s *session) subscribe(ctx context.Context, client *fanout.Client, cmd protocol.Command) (res protocol.SubscribeResult, e *protocol.Error) {
	for _, p := range cmd.Subjects {
		if !s.g.allowed(s.id, p) {
			return res, protocol.Errorf(protocol.CodeForbidden, "subscribing to %q is outside this key's scope", p)
		}
	}
	res.Recovered = true
	if max := s.id.MaxSubscriptions; max > 0 {
		added := 0
		for _, p := range cmd.Subjects {
			if !client.Subscribed(p) {
				added++
			}
		}
		if client.Subscriptions()+added > max {
			return res, protocol.Errorf(protocol.CodeTooManySubscriptions, "this key allows %d subscriptions per connection", max)
		}
	}
	opts := fanout.SubOptions{Policy: corePolicy(cmd.Policy), MaxRate: cmd.MaxRate}
	var added []string
	rollback := func() {
		for _, a := range added {
			_ = client.Unsubscribe(a)
		}
	}
	for _, p := range cmd.Subjects {
		existed := client.Subscribed(p)
		pos, resume := resumePosition(cmd.Resume, p)
		var err error
		if (resume || cmd.Snapshot) && s.g.cfg.History != nil {
			err = client.SubscribeHeld(p, opts)
		} else {
			resume = false
			err = client.Subscribe(p, opts)
		}
		if err != nil {
			rollback()
			return res, subscribeError(p, err)
		}
		if !existed {
			added = append(added, p)
		}
		if err := s.upstreamReady(ctx, p); err != nil {
			if existed {
				_ = client.Unsubscribe(p)
			}
			rollback()
			s.logger().Warn("upstream not ready", "pattern", p, "err", err)
			return res, protocol.Errorf(protocol.CodeInternal, "gateway: %q is not available from upstream now; retry", p)
		}
		if !resume && !cmd.Snapshot || s.g.cfg.History == nil {
			continue
		}
		var first Backlog
		if resume {
			first, err = s.g.cfg.History.Replay(ctx, p, pos.Epoch, pos.Seq)
			res.Resumed, res.Recovered = true, res.Recovered && first.Recovered
		} else {
			first, err = s.g.cfg.History.Snapshot(ctx, p)
		}
		res.Truncated = res.Truncated || first.Truncated
		if err != nil {
			if existed {
				_ = client.Unsubscribe(p)
			}
			rollback()
			var pe *protocol.Error
			if errors.As(err, &pe) {
				return res, pe
			}
			s.logger().Warn("history failed", "pattern", p, "err", err)
			return res, protocol.Errorf(protocol.CodeInternal, "gateway: could not read the history of %q; retry", p)
		}
		if err := s.feed(client, p, first.Msgs); err != nil {
			rollback()
			return res, subscribeError(p, err)
		}
		if err := client.Release(p, nil); err != nil {
			rollback()
			return res, subscribeError(p, err)
		}
	}
	if !res.Resumed {
		res.Recovered = false
	}
	if s.id.Usage != nil && len(added) > 0 {
		s.id.Usage.Subscribed(len(added))
	}
	return res, nil
}

// readyTimeout bounds waiting for upstream to carry a new pattern.
const readyTimeout = 10 * time.Second

// upstreamReady waits until the hub receives what pattern matches.
func (s *session) upstreamReady(ctx context.Context, pattern string) error {
	if s.g.cfg.Upstream == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	return s.g.cfg.Upstream.Ready(ctx, pattern)
}

// feedTimeout bounds how long a replay may wait for the client to drain
// its queue; a client that reads nothing for that long is a slow consumer.
const feedTimeout = 30 * time.Second

// feed hands msgs (a snapshot or a replay) to the held subscription to
// pattern in chunks of at most half the client's queue, waiting between
// chunks for the queue to have room, so that a replay longer than the
// queue arrives whole instead of overflowing it.
func (s *session) feed(client *fanout.Client, pattern string, msgs []*fanout.Message) error {
	cfg := s.g.hub.Config()
	ctx, cancel := context.WithTimeout(context.Background(), feedTimeout)
	defer cancel()
	for len(msgs) > 0 {
		n, size := 0, 0
		for n < len(msgs) && n < max(1, cfg.MaxQueueMessages/2) {
			f := len(msgs[n].Frame(coreEncoding(s.enc)))
			if n > 0 && size+f > cfg.MaxQueueBytes/2 {
				break
			}
			size += f
			n++
		}
		if err := client.WaitRoom(ctx, n, size); err != nil {
			if ctx.Err() != nil {
				client.Close(fanout.ReasonSlowConsumer)
			}
			return fanout.ErrClientClosed
		}
		if err := client.Feed(pattern, msgs[:n]); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// resumePosition finds where the client left off on pattern: the newest
// position it sent for the pattern itself or for a subject the pattern
// matches. Stream sequences are global to a stream, so the newest position
// on any subject is where the whole pattern resumes.
func resumePosition(positions []protocol.ResumePosition, pattern string) (protocol.ResumePosition, bool) {
	var best protocol.ResumePosition
	found := false
	for _, p := range positions {
		if p.Subject != pattern && (subject.Validate(p.Subject) != nil || !subject.Match(pattern, p.Subject)) {
			continue
		}
		if !found || p.Seq > best.Seq {
			best, found = p, true
		}
	}
	return best, found
}

func subscribeError(pattern string, err error) *protocol.Error {
	switch {
	case errors.Is(err, subject.ErrInvalid):
		return protocol.WrapError(protocol.CodeInvalidSubject, "gateway", err)
	case errors.Is(err, fanout.ErrInvalidOption):
		return protocol.WrapError(protocol.CodeInvalidOption, "gateway", err)
	case errors.Is(err, fanout.ErrTooManySubscriptions):
		return protocol.WrapError(protocol.CodeTooManySubscriptions, "gateway", err)
	}
	return protocol.Errorf(protocol.CodeInternal, "gateway: subscribe %q failed; retry later", pattern)
}

// authenticateInBand waits for the first message to be an auth command
// with a valid token. It answers and returns true on success; otherwise it
// closes the connection and returns false.
func (s *session) authenticateInBand(ctx context.Context) bool {
	timer := time.AfterFunc(AuthTimeout, func() { s.closeConn(fanout.ReasonAuthTimeout) })
	defer timer.Stop()
	for {
		typ, frame, err := s.conn.Read(ctx)
		if err != nil {
			s.closeConn(s.readErrorReason(err))
			return false
		}
		s.lastRead.Store(time.Now())
		if typ != s.msgType {
			s.answerError(ctx, protocol.Command{}, protocol.Errorf(protocol.CodeUnsupportedFrame, "send %s frames", msgTypeName(s.msgType)))
			continue
		}
		cmd, perr := protocol.DecodeCommand(s.enc, frame)
		if perr != nil {
			s.answerError(ctx, cmd, perr)
			continue
		}
		switch cmd.Op {
		case protocol.OpAuth:
		case protocol.OpPing:
			s.writeControl(ctx, protocol.EncodePong(s.enc, cmd.ID, cmd.HasID))
			continue
		case protocol.OpPong:
			continue
		default:
			s.answerError(ctx, cmd, protocol.Errorf(protocol.CodeAuthRequired, "send auth with a token first"))
			continue
		}
		id, err := s.g.cfg.Auth.FromToken(s.req, cmd.Token)
		if err != nil {
			s.answerError(ctx, cmd, protocol.Errorf(protocol.CodeAuthRequired, "%s", authErrorText(err)))
			s.closeConn(closeReasonOf(err))
			return false
		}
		if !timer.Stop() {
			return false // the timeout closed the connection meanwhile
		}
		s.id, s.inBand = id, true
		if reason := s.g.sessions.setKey(s, id.KeyID); reason != 0 {
			s.closeConn(reason) // serve releases s.id
			return false
		}
		s.answerOK(ctx, cmd)
		return true
	}
}

// refresh replaces the browser token of a connection that authenticated
// in-band with a fresh token of the same key, extending its life. The new
// token's scope applies to the subscriptions the connection already has:
// those it no longer allows are removed, and the answer is a forbidden
// error naming them (the new token is in effect all the same).
func (s *session) refresh(ctx context.Context, client *fanout.Client, cmd protocol.Command) fanout.CloseReason {
	if s.g.cfg.Auth == nil || s.id.Anonymous {
		s.answerOK(ctx, cmd) // nothing to refresh on an unauthenticated hub
		return 0
	}
	if !s.inBand {
		s.answerError(ctx, cmd, protocol.Errorf(protocol.CodeBadRequest,
			"refresh replaces a browser token; this connection authenticated with an API key, which a token cannot replace"))
		return 0
	}
	id, err := s.g.cfg.Auth.VerifyToken(s.req, cmd.Token)
	if err != nil {
		s.answerError(ctx, cmd, protocol.Errorf(protocol.CodeAuthRequired, "%s", authErrorText(err)))
		return 0
	}
	if id.KeyID != s.id.KeyID {
		s.answerError(ctx, cmd, protocol.Errorf(protocol.CodeForbidden, "a refresh token must belong to the same key"))
		return 0
	}
	id.Release = s.id.Release // the connection keeps the slot it holds
	s.id = id
	s.armExpiry()
	if dropped := s.dropOutOfScope(client); len(dropped) > 0 {
		s.answerError(ctx, cmd, protocol.Errorf(protocol.CodeForbidden,
			"token refreshed, but its scope does not allow %q: unsubscribed", dropped))
		return 0
	}
	s.answerOK(ctx, cmd)
	return 0
}

// track records the patterns a subscribe added (on) or an unsubscribe
// removed, so that a refresh can check them against the new scope. It may
// keep a pattern the client no longer has (a rolled-back subscribe);
// dropOutOfScope asks the client.
func (s *session) track(patterns []string, on bool) {
	if s.subs == nil {
		s.subs = make(map[string]struct{})
	}
	for _, p := range patterns {
		if on {
			s.subs[p] = struct{}{}
		} else {
			delete(s.subs, p)
		}
	}
}

// dropOutOfScope unsubscribes every pattern the connection's identity no
// longer allows and returns them, sorted.
func (s *session) dropOutOfScope(client *fanout.Client) []string {
	var dropped []string
	for p := range s.subs {
		if !client.Subscribed(p) {
			delete(s.subs, p)
			continue
		}
		if s.g.allowed(s.id, p) {
			continue
		}
		_ = client.Unsubscribe(p) // ErrNotSubscribed only if it raced away
		delete(s.subs, p)
		dropped = append(dropped, p)
	}
	slices.Sort(dropped)
	return dropped
}

func authErrorText(err error) string {
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae.Msg
	}
	return "authentication failed"
}

package client

import (
	"context"
	"time"

	"github.com/streamhub/streamhub/internal/protocol"
)

// refreshRetry is the pause after a failed token refresh.
const refreshRetry = 5 * time.Second

// refreshLoop keeps an in-band token fresh: refreshAhead before the
// token's exp (read from the JWT without verifying it), or as soon as the
// hub sends a token_expiring notice, it asks TokenProvider for a new token
// and sends refresh. It returns when the connection ends, or at once when
// the connection did not authenticate in-band. A failed refresh is retried
// every refreshRetry until the token expires; then the hub closes the
// connection (4004) and the reconnect fetches a new token.
func (c *Client) refreshLoop(s *session) {
	if s.token == "" || c.opts.TokenProvider == nil {
		return
	}
	exp, hasExp := tokenExpiry(s.token)
	delay := refreshDelay(exp, time.Now(), time.Second)
	for {
		var timer *time.Timer
		var fire <-chan time.Time
		if hasExp {
			timer = time.NewTimer(delay)
			fire = timer.C
		}
		select {
		case <-s.ctx.Done():
		case <-fire:
		case <-s.refreshNow:
		}
		if timer != nil {
			timer.Stop()
		}
		if s.ctx.Err() != nil {
			return
		}
		next, err := c.refresh(s)
		if err == nil {
			exp, hasExp = tokenExpiry(next)
			delay = refreshDelay(exp, time.Now(), time.Second)
			continue
		}
		if s.ctx.Err() != nil {
			return
		}
		c.log.Warn("client: token refresh failed", "err", err)
		if hasExp && time.Now().After(exp) {
			hasExp = false // too late: wait for the hub to close the connection
		}
		delay = refreshRetry
	}
}

// refresh fetches a token and sends it; it returns the new token.
func (c *Client) refresh(s *session) (string, error) {
	ctx, cancel := context.WithTimeout(s.ctx, c.opts.DialTimeout)
	defer cancel()
	token, err := c.opts.TokenProvider(ctx)
	if err != nil {
		return "", err
	}
	m, err := s.request(ctx, protocol.Command{Op: protocol.OpRefresh, Token: token})
	if err != nil {
		return "", err
	}
	if m.Op == protocol.OpError {
		return "", hubError(m)
	}
	return token, nil
}

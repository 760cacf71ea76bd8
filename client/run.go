package client

import (
	"errors"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/internal/protocol"
)

// run is the manager goroutine: it serves the current connection and, when
// the connection ends with a code that allows it, reconnects with backoff.
// It returns when the client is closed or stops for good.
func (c *Client) run(s *session) {
	defer c.wg.Done()
	attempt := 0
	first := true
	for {
		err := c.serve(s, first)
		first = false
		if c.isClosing() {
			return
		}
		code := closeCode(err)
		if !code.Reconnect() {
			c.log.Info("client: the hub closed the connection for good", "code", int(code), "reason", code.String())
			c.stop(&CloseError{Code: int(code), Reason: closeReason(err)})
			return
		}
		if time.Since(s.upAt) >= c.opts.Backoff.Cap {
			attempt = 0
		}
		c.setState(nil, StateReconnecting)
		c.log.Info("client: connection lost; reconnecting", "code", int(code), "reason", code.String())
		immediate := code == protocol.CloseShutdown && attempt == 0
		s = nil
		for s == nil {
			if !immediate && !c.sleep(c.opts.Backoff.wait(attempt)) {
				return
			}
			immediate = false
			attempt++
			ns, err := c.connect(c.ctx)
			if err != nil {
				if c.isClosing() {
					return
				}
				if isFatal(err) {
					c.log.Warn("client: reconnecting cannot succeed; stopping", "err", err)
					c.stop(err)
					return
				}
				c.log.Debug("client: reconnect attempt failed", "attempt", attempt, "err", err)
				continue
			}
			s = ns
		}
		c.mu.Lock()
		if c.closing {
			c.mu.Unlock()
			s.cancel()
			_ = s.ws.CloseNow()
			return
		}
		c.setSessLocked(s)
		c.mu.Unlock()
	}
}

// serve runs one connection until it ends: the read loop here, the
// resubscribe and token refresh on a helper goroutine that it waits for.
// first is the connection Dial made, which has nothing to resubscribe.
func (c *Client) serve(s *session, first bool) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if !first {
			c.resubscribe(s)
		}
		c.refreshLoop(s)
	}()
	err := s.readLoop()
	c.mu.Lock()
	if c.sess == s {
		c.setSessLocked(nil)
	}
	c.mu.Unlock()
	s.end()
	wg.Wait()
	return err
}

func (c *Client) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing || c.stopped
}

// sleep waits for d or until the client is closed; it reports whether the
// whole wait passed.
func (c *Client) sleep(d time.Duration) bool {
	if d <= 0 {
		return c.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// closeCode is the close code a connection ended with; an end without a
// close frame (a network error, a heartbeat timeout) counts as 1006.
func closeCode(err error) protocol.CloseCode {
	if code := websocket.CloseStatus(err); code >= 0 {
		return protocol.CloseCode(code)
	}
	return protocol.CloseCode(websocket.StatusAbnormalClosure)
}

func closeReason(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}

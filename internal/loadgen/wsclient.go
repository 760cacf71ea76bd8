package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// wsClient is what the coder/websocket clients (hubClient, peerClient)
// share: the connection, its read loop and the client's tally. Once
// startLoop has been called, its goroutine is the only one that touches
// rec, buf and err, until wg is done.
type wsClient struct {
	conn     *websocket.Conn
	rec      *recorder
	base     time.Time // the run's clock origin
	stopping atomic.Bool
	buf      bytes.Buffer
	err      string // why the read loop ended early; set before wg.Done
}

// startLoop reads frames on a goroutine counted by wg and hands each,
// with its arrival time since base, to handle, until ctx ends or the
// connection closes. A close that stop did not ask for is recorded in err,
// through closed for a close frame's status.
func (c *wsClient) startLoop(ctx context.Context, wg *sync.WaitGroup, handle func(context.Context, []byte, int64),
	closed func(websocket.StatusCode) string) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			frame, err := c.readFrame(ctx)
			if err != nil {
				if c.stopping.Load() || ctx.Err() != nil {
					return
				}
				c.err = err.Error()
				if code := websocket.CloseStatus(err); code != -1 {
					c.err = closed(code)
				}
				return
			}
			handle(ctx, frame, time.Since(c.base).Nanoseconds())
		}
	}()
}

// readFrame reads one message into c.buf, reusing its memory.
func (c *wsClient) readFrame(ctx context.Context) ([]byte, error) {
	_, r, err := c.conn.Reader(ctx)
	if err != nil {
		return nil, fmt.Errorf("loadgen: read: %w", err)
	}
	c.buf.Reset()
	if _, err := c.buf.ReadFrom(r); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("loadgen: read: %w", err)
	}
	return c.buf.Bytes(), nil
}

// stop closes the connection normally; the read loop then ends without
// recording an error.
func (c *wsClient) stop() {
	c.stopping.Store(true)
	_ = c.conn.Close(websocket.StatusNormalClosure, "bench done")
}

// abort closes the connection at once.
func (c *wsClient) abort() { _ = c.conn.CloseNow() }

// tally is called after the read loop has returned.
func (c *wsClient) tally() (*recorder, string, uint64) { return c.rec, c.err, 0 }

// readRaw reads one whole message within controlTimeout, during setup.
func (c *wsClient) readRaw(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	_, frame, err := c.conn.Read(ctx)
	if err != nil {
		return nil, fmt.Errorf("loadgen: read: %w", err)
	}
	return frame, nil
}

// writeFrame writes one message within controlTimeout.
func (c *wsClient) writeFrame(ctx context.Context, typ websocket.MessageType, frame []byte) error {
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	if err := c.conn.Write(ctx, typ, frame); err != nil {
		return fmt.Errorf("loadgen: write: %w", err)
	}
	return nil
}

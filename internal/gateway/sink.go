package gateway

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/protocol"
)

// wsSink adapts a WebSocket connection to fanout.Sink: each batch becomes
// one WebSocket message built by splicing the shared, pre-encoded event
// frames into a per-connection buffer.
type wsSink struct {
	conn    *websocket.Conn
	enc     protocol.Encoding
	msgType websocket.MessageType
	buf     []byte    // reused across batches; only the writer touches it
	wire    wireBatch // the batch in the wire's terms; reused like buf
	latency *LatencyHistogram
	// progress counts what the kernel took from the connection; nil when
	// the connection was not hijacked through a progressWriter.
	progress *progressConn
	// abortArmed: the writer's context, once done, expires the
	// connection's write deadline if a batch is being written (armed once,
	// at the first batch).
	abortArmed bool
	writing    atomic.Bool
	// meter counts deliveries for the connection's key; nil counts none.
	meter UsageMeter
	// sid names the connection in the spans of traced messages.
	sid string
}

var (
	_ fanout.Sink             = (*wsSink)(nil)
	_ fanout.ProgressReporter = (*wsSink)(nil)
)

// Written reports the bytes the kernel has taken from the connection, so
// that a close lets a write in flight finish while the client still reads.
func (s *wsSink) Written() uint64 {
	if s.progress == nil {
		return 0
	}
	return s.progress.Written()
}

// metered is a sink that counts deliveries for the connection's key.
type metered interface {
	// setMeter sets the meter before the sink's first batch.
	setMeter(UsageMeter)
}

func (s *wsSink) setMeter(m UsageMeter) { s.meter = m }

// maxKeptBuffer is the largest batch buffer kept for reuse; a larger one is
// dropped after its write so an idle connection does not pin it.
const maxKeptBuffer = 1 << 20

// WriteBatch writes b as one message. ctx is the client's: fanout cancels
// it when a write must be abandoned (its deadline passed, or the close
// grace ended). On a hijacked connection that cancellation expires the
// socket's write deadline through one callback armed for the connection's
// lifetime, so a batch costs no timer of its own (coder/websocket arms one
// per write for a context that can be cancelled).
func (s *wsSink) WriteBatch(ctx context.Context, b *fanout.Batch) error {
	start := time.Now()
	s.wire.fill(b, coreEncoding(s.enc))
	s.buf = protocol.AppendBatch(s.buf[:0], s.enc, start.UnixMilli(), s.wire.gaps, s.wire.events)
	s.wire.release()
	wctx := ctx
	if s.progress != nil {
		if !s.abortArmed {
			s.abortArmed = true
			nc := s.progress.Conn
			context.AfterFunc(ctx, func() {
				if s.writing.Load() { // not after the last batch: the close frame follows
					_ = nc.SetWriteDeadline(time.Unix(1, 0))
				}
			})
		}
		wctx = context.Background()
	}
	s.writing.Store(true)
	err := s.conn.Write(wctx, s.msgType, s.buf)
	s.writing.Store(false)
	traceWrites(b, start, s.sid, err)
	if err == nil && s.meter != nil {
		s.meter.Delivered(len(b.Messages), len(s.buf))
	}
	if cap(s.buf) > maxKeptBuffer {
		s.buf = nil
	}
	if err == nil && s.latency != nil {
		s.latency.observeBatch(b, time.Now().UnixNano())
	}
	return err
}

func (s *wsSink) Close(reason fanout.CloseReason) error {
	code := CloseCodeFor(reason)
	return s.conn.Close(websocket.StatusCode(code), code.String())
}

// traceWrites reports a write that started at start to the trace of every
// traced message in b (most batches have none: one nil check each).
func traceWrites(b *fanout.Batch, start time.Time, client string, err error) {
	var end time.Time
	for _, m := range b.Messages {
		if m.Trace != nil {
			if end.IsZero() {
				end = time.Now()
			}
			m.Trace.Written(start, end, client, err)
		}
	}
}

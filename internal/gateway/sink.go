package gateway

import (
	"context"
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
	enc     fanout.Encoding
	msgType websocket.MessageType
	buf     []byte // reused across batches; only the writer touches it
	latency *LatencyHistogram
	// progress counts what the kernel took from the connection; nil when
	// the connection was not hijacked through a progressWriter.
	progress *progressConn
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

// maxKeptBuffer is the largest batch buffer kept for reuse; a larger one is
// dropped after its write so an idle connection does not pin it.
const maxKeptBuffer = 1 << 20

func (s *wsSink) WriteBatch(ctx context.Context, b *fanout.Batch) error {
	start := time.Now()
	s.buf = protocol.AppendBatch(s.buf[:0], s.enc, start.UnixMilli(), b)
	err := s.conn.Write(ctx, s.msgType, s.buf)
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
	code := protocol.CloseCodeFor(reason)
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

package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StoredMsg is a message of a stored family, positioned in its stream.
type StoredMsg struct {
	Subject string
	Header  nats.Header
	Data    []byte
	// Epoch identifies the stream's incarnation (its creation time in Unix
	// ms): a recreated stream restarts its sequence, so a client's position
	// from the old one cannot be resumed.
	Epoch uint64
	// Seq is the message's stream sequence.
	Seq uint64
}

// StoredHandler receives the messages of the stored families, in stream
// order per stream, on the goroutine of that stream's consumer; it should
// hand the message on and return quickly.
type StoredHandler func(m StoredMsg)

// storedFamilies are the streams a Router consumes, with their subjects.
var storedFamilies = []struct{ stream, subjects string }{
	{StreamChain, StreamChainSubjects},
	{StreamJobs, StreamJobsSubjects},
}

// consumeTimeout bounds creating a stream's consumer.
const consumeTimeout = 5 * time.Second

// ErrNotConnected is returned for a stored family while the connection to
// NATS is down: its consumer cannot be created. The Router retries, and a
// client's subscribe that waited for it fails with a retryable error.
var ErrNotConnected = errors.New("bus: not connected to NATS")

// consume delivers stream's messages through an ordered consumer that
// starts with the messages stored from now on. Creating it is a request to
// the server, done before this returns.
func (r *Router) consume(stream, subjects string) (*route, error) {
	if !r.conn.nc.IsConnected() {
		return nil, ErrNotConnected
	}
	ctx, cancel := context.WithTimeout(context.Background(), consumeTimeout)
	defer cancel()
	epoch, err := r.Epoch(ctx, stream)
	if err != nil {
		return nil, err
	}
	s, err := r.js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", stream, err)
	}
	// From the next sequence rather than "new": the same start a
	// replacement consumer takes (see resumeStored).
	rt := &route{pattern: subjects, stream: stream, pos: &storedPos{epoch: epoch, next: info.State.LastSeq + 1}}
	if err := r.startConsumer(ctx, rt); err != nil {
		return nil, err
	}
	return rt, nil
}

// storedPos is where a stream's delivery stands. mu serialises the
// hand-over of messages, so that a consumer that replaced another (see
// resumeStored) and the one it replaced never hand a message on twice or
// out of order.
type storedPos struct {
	epoch uint64
	mu    sync.Mutex
	next  uint64 // the stream sequence to hand on next; guarded by mu
}

// startConsumer starts an ordered consumer for rt from rt.pos.next,
// replacing (and stopping) rt's consumer if it has one. Only the
// reconciler goroutine calls it.
func (r *Router) startConsumer(ctx context.Context, rt *route) error {
	pos := rt.pos
	pos.mu.Lock()
	start := pos.next
	pos.mu.Unlock()
	cons, err := r.js.OrderedConsumer(ctx, rt.stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
		// The router deletes the consumer when interest ends; should the
		// hub die first, the server forgets it after this.
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("ordered consumer on %s: %w", rt.stream, err)
	}
	h := r.stored
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if rt.off.Load() {
			return
		}
		md, err := m.Metadata()
		if err != nil {
			return
		}
		seq := md.Sequence.Stream
		pos.mu.Lock()
		defer pos.mu.Unlock()
		if seq < pos.next {
			return // handed on already, by the consumer this one replaced
		}
		pos.next = seq + 1
		h(StoredMsg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data(), Epoch: pos.epoch, Seq: seq})
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		// The ordered consumer recreates itself after these (a lost
		// server, missed heartbeats); a sample says it is happening.
		if ok, suppressed := r.consumeLog.allow(time.Now()); ok {
			r.log.Warn("bus: stored consumer interrupted; it resumes from its last message", "stream", rt.stream, "err", err, "suppressed", suppressed)
		}
	}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", rt.stream, err)
	}
	if rt.consumer != nil {
		rt.consumer.Stop() // the server forgets it after InactiveThreshold
	}
	rt.consumer, rt.cons = cc, cons
	return nil
}

// ResumeStored asks the reconciler to replace the consumer of every stored
// stream with a new one that starts after the last message handed on, so
// that delivery goes on from exactly there. Call it after the connection
// to NATS was re-established: a consumer that lived on a server that is
// gone may otherwise never deliver again (nats.go's ordered consumer does
// not always recover on its own), and a fresh one costs a request per
// stream. A message the old consumer still delivers is not handed on
// twice. It returns at once. Safe for concurrent use.
func (r *Router) ResumeStored() {
	select {
	case r.resume <- struct{}{}:
	default: // one is pending already
	}
}

// resumeStored replaces the stored consumers (see ResumeStored), retrying
// transient failures for up to 30 s per stream, and logs a stream it could
// not resume. It runs on the reconciler goroutine, which owns the routes.
func (r *Router) resumeStored() {
	for stream, rt := range r.consumers {
		err := Retry(context.Background(), RetryPolicy{Within: 30 * time.Second}, func(ctx context.Context) error { return r.startConsumer(ctx, rt) })
		if err != nil {
			r.log.Error("bus: stored stream not resumed after a reconnect", "stream", stream, "err", err)
		}
	}
}

// stopConsumer stops rt's consumer and deletes it on the server at once, so
// that no server-side state outlives the interest.
func (r *Router) stopConsumer(rt *route) {
	rt.off.Store(true)
	rt.consumer.Stop()
	if !r.conn.nc.IsConnected() {
		return // the server forgets it after InactiveThreshold
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	err := r.js.DeleteConsumer(ctx, rt.stream, rt.cons.CachedInfo().Name)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		r.log.Warn("bus: delete consumer", "stream", rt.stream, "err", err)
	}
}

// Epoch returns the epoch of stream: its creation time in Unix ms.
// It is cached after the first read. Safe for concurrent use.
func (r *Router) Epoch(ctx context.Context, stream string) (uint64, error) {
	r.epochMu.Lock()
	defer r.epochMu.Unlock()
	if e, ok := r.epochs[stream]; ok {
		return e, nil
	}
	s, err := r.js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", stream, err)
	}
	e := uint64(s.CachedInfo().Created.UnixMilli())
	r.epochs[stream] = e
	return e, nil
}

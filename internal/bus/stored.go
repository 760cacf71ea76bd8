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

// StoredHandler receives the messages of stored patterns, with the pattern
// whose consumer delivered them. Calls for one pattern are sequential and in
// stream order; it should hand the message on and return quickly.
type StoredHandler func(pattern string, m StoredMsg)

// consumeTimeout bounds creating a pattern's consumer. The fan-out core
// holds its interest lock meanwhile, so this is kept short.
const consumeTimeout = 5 * time.Second

// ErrNotConnected is returned for a stored pattern while the connection to
// NATS is down: its consumer cannot be created, and waiting would stall
// every other subscription change. The client retries.
var ErrNotConnected = errors.New("bus: not connected to NATS")

// consume routes pattern through an ordered consumer on stream that starts
// with the messages stored from now on. Creating it is a request to the
// server, done before this returns: every message stored after SetInterest
// returns reaches the handler. r.mu must be held.
func (r *Router) consume(stream, pattern string) (*route, error) {
	if !r.conn.nc.IsConnected() {
		return nil, ErrNotConnected
	}
	ctx, cancel := context.WithTimeout(context.Background(), consumeTimeout)
	defer cancel()
	epoch, err := r.epochLocked(ctx, stream)
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
	rt := &route{stream: stream, pos: &storedPos{pattern: pattern, epoch: epoch, next: info.State.LastSeq + 1}}
	if err := r.startConsumer(ctx, rt); err != nil {
		return nil, err
	}
	return rt, nil
}

// storedPos is where a stored pattern's delivery stands. mu serialises
// the hand-over of messages, so that the consumer that replaced another
// (see ResumeStored) and the one it replaced never hand a message on twice
// or out of order.
type storedPos struct {
	pattern string
	epoch   uint64
	mu      sync.Mutex
	next    uint64 // the stream sequence to hand on next; guarded by mu
}

// startConsumer starts an ordered consumer for rt from rt.pos.next,
// replacing rt's consumer if it has one. r.mu must be held.
func (r *Router) startConsumer(ctx context.Context, rt *route) error {
	pos := rt.pos
	pos.mu.Lock()
	start := pos.next
	pos.mu.Unlock()
	cons, err := r.js.OrderedConsumer(ctx, rt.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{pos.pattern},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
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
		h(pos.pattern, StoredMsg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data(), Epoch: pos.epoch, Seq: seq})
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		// The ordered consumer recreates itself after these (a lost
		// server, missed heartbeats); a sample says it is happening.
		if ok, suppressed := r.consumeLog.allow(time.Now()); ok {
			r.log.Warn("bus: stored consumer interrupted; it resumes from its last message", "stream", rt.stream, "pattern", pos.pattern, "err", err, "suppressed", suppressed)
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

// ResumeStored replaces the consumer of every stored pattern with a new
// one that starts after the last message handed on, so that delivery goes
// on from exactly there. Call it after the connection to NATS was
// re-established: a consumer that lived on a server that is gone may
// otherwise never deliver again (nats.go's ordered consumer does not
// always recover on its own), and a fresh one costs a request per pattern.
// A message the old consumer still delivers is not handed on twice. It
// retries transient failures for up to 30 s per pattern and logs a pattern
// it could not resume. Safe for concurrent use; it holds the Router's lock
// while it works, like SetInterest.
func (r *Router) ResumeStored() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for pattern, rt := range r.subs {
		if rt.pos == nil || r.closed {
			continue
		}
		err := Retry(context.Background(), RetryPolicy{Within: 30 * time.Second}, func(ctx context.Context) error { return r.startConsumer(ctx, rt) })
		if err != nil {
			r.log.Error("bus: stored pattern not resumed after a reconnect", "pattern", pattern, "err", err)
		}
	}
}

// stopConsumer stops rt's consumer and deletes it on the server at once, so
// that no server-side state outlives the interest. r.mu must be held.
func (r *Router) stopConsumer(rt *route) error {
	rt.consumer.Stop()
	if !r.conn.nc.IsConnected() {
		return nil // the server forgets it after InactiveThreshold
	}
	ctx, cancel := context.WithTimeout(context.Background(), flushTimeout)
	defer cancel()
	err := r.js.DeleteConsumer(ctx, rt.stream, rt.cons.CachedInfo().Name)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("delete consumer: %w", err)
	}
	return nil
}

// Epoch returns the epoch of stream: its creation time in Unix ms.
func (r *Router) Epoch(ctx context.Context, stream string) (uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.epochLocked(ctx, stream)
}

func (r *Router) epochLocked(ctx context.Context, stream string) (uint64, error) {
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

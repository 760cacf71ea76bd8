package bus

import (
	"context"
	"errors"
	"fmt"
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
	cons, err := r.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverNewPolicy,
		// The router deletes the consumer when interest ends; should the
		// hub die first, the server forgets it after this.
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("ordered consumer on %s: %w", stream, err)
	}
	rt := &route{pattern: subjects, stream: stream}
	h := r.stored
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if rt.off.Load() {
			return
		}
		md, err := m.Metadata()
		if err != nil {
			return
		}
		h(StoredMsg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data(), Epoch: epoch, Seq: md.Sequence.Stream})
	})
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", stream, err)
	}
	rt.consumer, rt.cons = cc, cons
	return rt, nil
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

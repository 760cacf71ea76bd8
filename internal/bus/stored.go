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
	cons, err := r.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{pattern},
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		// The router deletes the consumer when interest ends; should the
		// hub die first, the server forgets it after this.
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return nil, fmt.Errorf("ordered consumer on %s: %w", stream, err)
	}
	rt := &route{}
	h := r.stored
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if rt.off.Load() {
			return
		}
		md, err := m.Metadata()
		if err != nil {
			return
		}
		h(pattern, StoredMsg{Subject: m.Subject(), Header: m.Headers(), Data: m.Data(), Epoch: epoch, Seq: md.Sequence.Stream})
	})
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", stream, err)
	}
	rt.consumer, rt.stream, rt.cons = cc, stream, cons
	return rt, nil
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

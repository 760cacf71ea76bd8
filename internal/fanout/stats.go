package fanout

import "sync/atomic"

// clientCounters are a client's delivery counters. They are atomics so the
// hub can read them while the client runs; each is written by few
// goroutines (the client's publishers and its writer).
type clientCounters struct {
	delivered atomic.Uint64
	conflated atomic.Uint64
	dropped   atomic.Uint64
	gapsSent  atomic.Uint64
	batches   atomic.Uint64
}

func (cc *clientCounters) add(o *clientCounters) {
	cc.delivered.Add(o.delivered.Load())
	cc.conflated.Add(o.conflated.Load())
	cc.dropped.Add(o.dropped.Load())
	cc.gapsSent.Add(o.gapsSent.Load())
	cc.batches.Add(o.batches.Load())
}

func (cc *clientCounters) snapshot() ClientStats {
	return ClientStats{
		Delivered: cc.delivered.Load(),
		Conflated: cc.conflated.Load(),
		Dropped:   cc.dropped.Load(),
		GapsSent:  cc.gapsSent.Load(),
		Batches:   cc.batches.Load(),
	}
}

// ClientStats are one client's counters.
type ClientStats struct {
	Delivered      uint64 // messages handed to the sink successfully
	Conflated      uint64 // messages superseded by a newer one of their subject
	Dropped        uint64 // messages lost to overflow (each announced in a gap)
	GapsSent       uint64 // gap notices handed to the sink
	Batches        uint64 // successful WriteBatch calls
	QueuedMessages int    // messages pending now
	QueuedBytes    int    // frame bytes pending now
}

// Stats are the hub's counters: totals over every client, past and present.
type Stats struct {
	Clients     int
	Patterns    int
	Published   uint64 // messages passed to Publish or PublishPattern
	ClientStats        // summed over all clients; queue depth over live ones
	Disconnects map[CloseReason]uint64
}

// Stats returns the hub's counters. It walks the live clients, so call it
// at scrape frequency, not per message.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	clients := make([]*Client, 0, len(h.clients))
	for c := range h.clients {
		clients = append(clients, c)
	}
	h.mu.Unlock()
	s := Stats{
		Clients:     len(clients),
		Patterns:    h.reg.numPatterns(),
		Published:   h.published.Load(),
		ClientStats: h.retired.snapshot(),
		Disconnects: make(map[CloseReason]uint64),
	}
	for _, c := range clients {
		cs := c.Stats()
		s.Delivered += cs.Delivered
		s.Conflated += cs.Conflated
		s.Dropped += cs.Dropped
		s.GapsSent += cs.GapsSent
		s.Batches += cs.Batches
		s.QueuedMessages += cs.QueuedMessages
		s.QueuedBytes += cs.QueuedBytes
	}
	for r := ReasonNormal; r < numReasons; r++ {
		if n := h.disconnects[r].Load(); n > 0 {
			s.Disconnects[r] = n
		}
	}
	return s
}

package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/streamhub/streamhub/internal/fanout"
)

// heartbeatBuckets is how many slices the heartbeat interval is cut into:
// each tick visits one bucket of sessions, so pings are spread over the
// interval instead of going out all at once.
const heartbeatBuckets = 8

// heartbeats pings every attached session once per heartbeat interval and
// closes those silent for two intervals, from one goroutine for the whole
// gateway instead of one per connection (a timer and a goroutine stack per
// idle connection). The goroutine runs while some session is attached and
// exits with the last one. A ping is written on a short-lived goroutine of
// its own, so a client whose socket is full delays nobody else's ping.
// Methods are safe for concurrent use.
type heartbeats struct {
	interval time.Duration

	mu       sync.Mutex
	sessions map[*session]int // session → bucket
	next     int              // the bucket the next session joins
	running  bool
	idle     chan struct{} // signals the goroutine that the last session left
}

// add starts pinging s, whose client is attached.
func (h *heartbeats) add(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions == nil {
		h.sessions = make(map[*session]int)
	}
	h.sessions[s] = h.next
	h.next = (h.next + 1) % heartbeatBuckets
	if !h.running {
		h.running = true
		h.idle = make(chan struct{}, 1)
		go h.run(h.idle)
	}
}

// remove stops pinging s; the goroutine ends with the last session.
func (h *heartbeats) remove(s *session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.sessions, s)
	if len(h.sessions) == 0 && h.running {
		select {
		case h.idle <- struct{}{}:
		default:
		}
	}
}

func (h *heartbeats) run(idle <-chan struct{}) {
	tick := max(h.interval/heartbeatBuckets, time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	var due []*session
	bucket := 0
	for {
		var now time.Time
		select {
		case now = <-t.C:
		case <-idle:
		}
		h.mu.Lock()
		if len(h.sessions) == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		if now.IsZero() { // woken as idle, but a session came back meanwhile
			h.mu.Unlock()
			continue
		}
		due = due[:0]
		for s, b := range h.sessions {
			if b == bucket {
				due = append(due, s)
			}
		}
		h.mu.Unlock()
		for _, s := range due {
			s.beat(now, h.interval)
		}
		clear(due)
		bucket = (bucket + 1) % heartbeatBuckets
	}
}

// beat closes a WebSocket session that has been silent for two intervals,
// or pings it (a ping frame; an SSE comment), unless its previous ping is
// still being written. An SSE stream has no way back, so it is never
// silent: a client that is gone shows as a failed write.
func (s *session) beat(now time.Time, interval time.Duration) {
	client := s.client
	if s.conn != nil && now.Sub(s.lastRead.Load()) > 2*interval {
		client.Close(fanout.ReasonHeartbeatTimeout)
		return
	}
	if !s.pinging.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer s.pinging.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), s.g.cfg.ControlWriteTimeout)
		defer cancel()
		if s.tr.ping(ctx, now.UnixMilli()) != nil {
			client.Close(fanout.ReasonWriteFailed)
		}
	}()
}

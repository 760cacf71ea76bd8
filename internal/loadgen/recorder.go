package loadgen

import (
	"sync/atomic"
)

// recorder is one client's tally. Only the client's read goroutine writes
// it; Run reads it after that goroutine has returned. progress (shared by
// every client) is the only field touched concurrently.
type recorder struct {
	lat histogram

	batches    uint64 // StreamHub batch frames with a measured message
	delivered  uint64 // measured messages received
	warmups    uint64 // warm-up messages received
	gapped     uint64 // messages announced dropped by gap notices
	skipped    uint64 // sequence jumps: messages neither received nor announced, plus announced ones
	duplicates uint64 // a sequence not above the last one seen
	bad        uint64 // frames or payloads that could not be read

	// last is the last sequence seen per subject index (StreamHub: the
	// hub's seq; nats-ws: the payload's n), epoch the StreamHub epoch.
	last  []uint64
	epoch []uint64
	// warm says which of the client's subjects have delivered a warm-up
	// message; warmLeft counts those still missing.
	warm     []bool
	warmLeft int

	progress *atomic.Uint64 // deliveries of all clients, for the drain
	ready    *atomic.Int64  // clients whose warm-up is complete
}

func newRecorder(subjects []int, nSubjects int, progress *atomic.Uint64, ready *atomic.Int64) *recorder {
	r := &recorder{
		last:     make([]uint64, nSubjects),
		epoch:    make([]uint64, nSubjects),
		warm:     make([]bool, nSubjects),
		warmLeft: len(subjects),
		progress: progress,
		ready:    ready,
	}
	// Subjects the client does not subscribe to are never warm-up
	// candidates: mark them done.
	mine := make([]bool, nSubjects)
	for _, s := range subjects {
		mine[s] = true
	}
	for i := range r.warm {
		r.warm[i] = !mine[i]
	}
	return r
}

// event records one message on subject index s with sequence seq (and
// epoch; nats-ws passes epoch 0 and the payload's n as seq), payload
// number n and latency lat in ns. A seq of 0 is not tracked.
func (r *recorder) event(s int, epoch, seq, n uint64, lat int64) {
	if epoch != r.epoch[s] {
		r.epoch[s], r.last[s] = epoch, 0
	}
	switch last := r.last[s]; {
	case seq == 0:
	case seq <= last:
		r.duplicates++
	default:
		// Before the first warm-up message on a subject, numbering is not
		// known yet: a jump then is not loss.
		if last > 0 || n > 0 {
			r.skipped += seq - last - 1
		}
		r.last[s] = seq
	}
	if n == 0 {
		r.warmups++
		if !r.warm[s] {
			r.warm[s] = true
			r.warmLeft--
			if r.warmLeft == 0 {
				r.ready.Add(1)
			}
		}
		return
	}
	r.delivered++
	r.lat.record(lat)
}

// gap records a gap notice of count messages on subject index s.
func (r *recorder) gap(count uint64) { r.gapped += count }

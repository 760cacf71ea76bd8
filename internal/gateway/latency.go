package gateway

import (
	"sync/atomic"
	"time"

	"github.com/streamhub/streamhub/internal/fanout"
)

// latencyBounds are the upper bounds, in seconds, of the delivery latency
// histogram's buckets (from 100 µs to 10 s).
var latencyBounds = [...]float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// latencyBoundsNanos is latencyBounds in nanoseconds, for Observe.
var latencyBoundsNanos = func() [len(latencyBounds)]int64 {
	var out [len(latencyBounds)]int64
	for i, b := range latencyBounds {
		out[i] = int64(b * float64(time.Second))
	}
	return out
}()

// LatencyHistogram counts delivery latencies in the fixed buckets of
// latencyBounds (100 µs to 10 s). Observe is lock-free (two atomic adds
// after a scan of 16 bounds) and safe for concurrent use, so every
// connection's writer shares one; the metrics read it at scrape time with
// Snapshot.
//
// What it measures, per written batch: the time from the hub receiving the
// batch's oldest live message from NATS (fanout.Message.Ingested) to the
// batch's WebSocket write returning, that is, the wait in the client's
// queue plus the write. One observation per batch, not per message, keeps
// the cost off the per-message path; the oldest message is the one that
// waited longest, so the histogram shows the worst delivery of each batch.
// Batches of snapshots or replays only (no live message) are not observed.
type LatencyHistogram struct {
	counts   [len(latencyBounds) + 1]atomic.Uint64 // per bucket, not cumulative; the last is above every bound
	sumNanos atomic.Uint64
}

// Observe records one latency; a negative one (the wall clock stepped
// back) counts as zero.
func (h *LatencyHistogram) Observe(d time.Duration) {
	n := max(int64(d), 0)
	i := 0
	for i < len(latencyBoundsNanos) && n > latencyBoundsNanos[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNanos.Add(uint64(n))
}

// observeBatch records the latency of the oldest live message of b,
// written at now (Unix nanoseconds).
func (h *LatencyHistogram) observeBatch(b *fanout.Batch, now int64) {
	var oldest int64
	for _, m := range b.Messages {
		if m.Ingested != 0 && (oldest == 0 || m.Ingested < oldest) {
			oldest = m.Ingested
		}
	}
	if oldest != 0 {
		h.Observe(time.Duration(now - oldest))
	}
}

// Snapshot returns the number of observations, their sum in seconds and the
// cumulative count per upper bound of latencyBounds, as Prometheus
// histograms report them.
func (h *LatencyHistogram) Snapshot() (count uint64, sum float64, buckets map[float64]uint64) {
	buckets = make(map[float64]uint64, len(latencyBounds))
	for i, b := range latencyBounds {
		count += h.counts[i].Load()
		buckets[b] = count
	}
	count += h.counts[len(latencyBounds)].Load()
	return count, time.Duration(h.sumNanos.Load()).Seconds(), buckets
}

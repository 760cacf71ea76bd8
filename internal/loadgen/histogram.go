package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// histogram records durations in nanoseconds into log-linear buckets:
// exact below 128 ns, then 64 buckets per power of two (about 1.6 %
// relative precision), up to 2^40 ns (18 minutes; longer values are
// clamped). Its size is fixed, so recording never allocates. The maximum
// is kept exactly. Not safe for concurrent use: each client owns one and
// they are merged after the clients have stopped.
type histogram struct {
	counts [histBuckets]uint32
	n      uint64
	max    int64
}

const (
	histExact   = 128
	histSub     = 64
	histMaxExp  = 40
	histBuckets = histExact + (histMaxExp-7)*histSub
)

func bucketOf(v int64) int {
	if v < histExact {
		return int(max(v, 0))
	}
	if v >= 1<<histMaxExp {
		v = 1<<histMaxExp - 1
	}
	e := bits.Len64(uint64(v)) - 7
	return histExact + (e-1)*histSub + int(v>>e) - histSub
}

// bucketMid returns the middle of bucket i.
func bucketMid(i int) int64 {
	if i < histExact {
		return int64(i)
	}
	k := i - histExact
	e := k/histSub + 1
	lower := int64(k%histSub+histSub) << e
	return lower + int64(1)<<e/2
}

func (h *histogram) record(d int64) {
	h.counts[bucketOf(d)]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// quantile returns the value at quantile q (0 < q <= 1), at most the
// maximum; 0 when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			return time.Duration(min(bucketMid(i), h.max))
		}
	}
	return time.Duration(h.max)
}

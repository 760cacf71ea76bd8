package loadgen

import (
	"encoding/json"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/ingest"
	"github.com/streamhub/streamhub/internal/protocol"
)

func TestPayloadRoundTrip(t *testing.T) {
	for _, size := range []int{MinPayload, 120, 1000} {
		p := appendPayload(nil, 123456789012, 42, size)
		if len(p) != size {
			t.Errorf("payload of %d bytes, want %d", len(p), size)
		}
		if !json.Valid(p) {
			t.Errorf("payload is not JSON: %s", p)
		}
		tt, n, err := parseJSONPayload(p)
		if err != nil || tt != 123456789012 || n != 42 {
			t.Errorf("parseJSONPayload = %d, %d, %v", tt, n, err)
		}
		// The hub converts the payload to msgpack for msgpack clients;
		// use its converter, through the event encoder.
		m, err := ingest.NewMessage(protocol.Event{Subject: "ticks.bench.S0", Epoch: 1, Seq: 1, Data: p})
		if err != nil {
			t.Fatal(err)
		}
		frame := protocol.AppendBatch(nil, protocol.EncodingMsgpack, 1, nil, [][]byte{m.Frame(fanout.EncodingMsgpack)})
		ev, err := protocol.DecodeServer(protocol.EncodingMsgpack, frame)
		if err != nil || len(ev.Events) != 1 {
			t.Fatalf("decode msgpack batch: %v", err)
		}
		tt, n, err = parseMsgpackPayload(ev.Events[0].Data)
		if err != nil || tt != 123456789012 || n != 42 {
			t.Errorf("parseMsgpackPayload = %d, %d, %v", tt, n, err)
		}
	}
	for _, bad := range []string{``, `{}`, `{"n":1,"t":2}`, `{"t":-5,"n":1}`, `{"t":1,"x":1}`} {
		if _, _, err := parseJSONPayload([]byte(bad)); err == nil {
			t.Errorf("parseJSONPayload(%s) succeeded", bad)
		}
	}
}

func TestMsgpackUintWidths(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want uint64
		ok   bool
	}{
		{[]byte{0x05}, 5, true},
		{[]byte{0xcc, 0xff}, 255, true},
		{[]byte{0xcd, 0x01, 0x00}, 256, true},
		{[]byte{0xce, 0, 1, 0, 0}, 65536, true},
		{[]byte{0xcf, 0, 0, 0, 1, 0, 0, 0, 0}, 1 << 32, true},
		{[]byte{0xd3, 0, 0, 0, 1, 0, 0, 0, 0}, 1 << 32, true},
		{[]byte{0xd0, 0x7f}, 127, true},
		{[]byte{0xd0, 0x80}, 0, false}, // -128
		{[]byte{0xff}, 0, false},       // negative fixint
		{[]byte{0xcf, 0, 0}, 0, false}, // truncated
		{nil, 0, false},
	} {
		v, _, ok := mpUint(c.in)
		if ok != c.ok || v != c.want {
			t.Errorf("mpUint(% x) = %d, %v; want %d, %v", c.in, v, ok, c.want, c.ok)
		}
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	for i := 1; i <= 10_000; i++ {
		h.record(int64(i) * int64(time.Microsecond))
	}
	near := func(got time.Duration, want float64) bool {
		return math.Abs(float64(got)-want)/want < 0.02
	}
	if q := h.quantile(0.5); !near(q, 5000e3) {
		t.Errorf("p50 = %v, want 5ms ± 2%%", q)
	}
	if q := h.quantile(0.99); !near(q, 9900e3) {
		t.Errorf("p99 = %v, want 9.9ms ± 2%%", q)
	}
	if q := h.quantile(1); q != 10*time.Millisecond || h.max != int64(10*time.Millisecond) {
		t.Errorf("p100 = %v, max %v, want exactly 10ms", q, h.max)
	}
	var empty histogram
	if empty.quantile(0.5) != 0 {
		t.Error("empty histogram has a p50")
	}
	// Buckets are monotonic and each value's bucket middle is within 1/64.
	prev := -1
	for v := int64(0); v < 1<<36; v = v*9/8 + 1 {
		b := bucketOf(v)
		if b < prev || b >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d after %d", v, b, prev)
		}
		prev = b
		if mid := bucketMid(b); math.Abs(float64(mid-v)) > float64(v)/64+1 {
			t.Fatalf("bucketMid(bucketOf(%d)) = %d", v, mid)
		}
	}
	if b := bucketOf(math.MaxInt64); b != histBuckets-1 {
		t.Errorf("huge values go to bucket %d, want the last", b)
	}
	var m histogram
	m.merge(&h)
	m.merge(&h)
	if m.n != 2*h.n || m.quantile(0.5) != h.quantile(0.5) {
		t.Errorf("merge: n %d, p50 %v", m.n, m.quantile(0.5))
	}
}

func TestRecorderCountsJumpsAndGaps(t *testing.T) {
	var progress atomic.Uint64
	var ready atomic.Int64
	r := newRecorder([]int{0}, 2, &progress, &ready)
	r.event(0, 7, 3, 0, 1) // warm-up, seq 3: the first one seen, no loss
	if r.warmLeft != 0 || ready.Load() != 1 || r.warmups != 1 {
		t.Fatalf("warm-up not recorded: left %d ready %d", r.warmLeft, ready.Load())
	}
	r.event(0, 7, 4, 1, 10)
	r.event(0, 7, 9, 2, 10) // 4 skipped
	r.gap(3)                // of which 3 announced
	r.event(0, 7, 9, 3, 10) // duplicate
	r.event(0, 8, 1, 4, 10) // new epoch: restart, no loss
	if r.delivered != 4 || r.skipped != 4 || r.gapped != 3 || r.duplicates != 1 {
		t.Errorf("delivered %d skipped %d gapped %d duplicates %d; want 4 4 3 1", r.delivered, r.skipped, r.gapped, r.duplicates)
	}
	if r.last[0] != 1 || r.epoch[0] != 8 {
		t.Errorf("last %d epoch %d", r.last[0], r.epoch[0])
	}
}

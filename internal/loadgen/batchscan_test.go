package loadgen

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/ingest"
	"github.com/streamhub/streamhub/internal/protocol"
)

// testBatch builds a batch frame with the hub's own encoder: gaps, and
// events whose data has nesting, escapes and every JSON value kind.
func testBatch(t testing.TB, enc protocol.Encoding) []byte {
	t.Helper()
	gaps := []protocol.Gap{{Subject: "ticks.bench.S1", Epoch: 9, From: 3, To: 7}, {Subject: "chain.x", Epoch: 1, From: 1 << 40, To: 1<<40 + 2}}
	var events [][]byte
	datas := []string{
		string(appendPayload(nil, 1<<50, 77, 200)),
		`{"t":5,"n":6,"nested":{"a":[1,-2.5e3,true,false,null,{"b":"x\"]}"}]},"s":"\\u00e9\\\\"}`,
		`[]`,
		`"just a string with , and ]"`,
		`-12`,
	}
	for i, d := range datas {
		m, err := ingest.NewMessage(protocol.Event{Subject: fmt.Sprintf("ticks.bench.S%d", i), Epoch: uint64(1 << (10 * i)), Seq: uint64(i*1000 + 1), TS: 5, Ingest: 6, Critical: i == 2, Data: []byte(d)})
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		events = append(events, m.Frame(fanout.Encoding(enc)))
	}
	return protocol.AppendBatch(nil, enc, 1732712345678, gaps, events)
}

func TestScannersAgreeWithTheCodec(t *testing.T) {
	for _, enc := range []protocol.Encoding{protocol.EncodingJSON, protocol.EncodingMsgpack} {
		t.Run(enc.String(), func(t *testing.T) {
			scan := scanJSON
			if enc == protocol.EncodingMsgpack {
				scan = scanMsgpack
			}
			frame := testBatch(t, enc)
			m, err := protocol.DecodeServer(enc, frame)
			if err != nil {
				t.Fatal(err)
			}
			var v batchView
			if err := scan(frame, &v); err != nil {
				t.Fatalf("scan: %v", err)
			}
			if string(v.op) != "batch" || len(v.events) != 5 || len(v.gaps) != 2 || !sameBatch(&v, &m) {
				t.Fatalf("scanner read %q, %d events, %d gaps; differs from the codec", v.op, len(v.events), len(v.gaps))
			}
			if v.events[0].seq != 1 || v.events[4].epoch != 1<<40 || v.gaps[1].to != 1<<40+2 {
				t.Errorf("values: %+v %+v", v.events[0], v.gaps[1])
			}
			// Reusing the view does not keep the previous frame's items.
			ping := protocol.EncodePing(enc, 42)
			if err := scan(ping, &v); err != nil || string(v.op) != "ping" || len(v.events)+len(v.gaps) != 0 {
				t.Errorf("ping: %v, op %q, %d events", err, v.op, len(v.events))
			}
			// Every truncation fails cleanly, none panics.
			for i := range len(frame) {
				if err := scan(frame[:i], &v); err == nil {
					t.Fatalf("a frame truncated to %d of %d bytes was accepted", i, len(frame))
				}
			}
			// Trailing bytes are refused.
			if err := scan(append(frame[:len(frame):len(frame)], '1'), &v); err == nil {
				t.Error("trailing byte accepted")
			}
		})
	}
}

// TestScannersNeverPanic feeds both scanners random bytes and random
// mutations of a valid frame (a bounded number of each).
func TestScannersNeverPanic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var v batchView
	frames := [][]byte{testBatch(t, protocol.EncodingJSON), testBatch(t, protocol.EncodingMsgpack)}
	for i := range 20_000 {
		var b []byte
		if i%2 == 0 {
			b = make([]byte, rng.IntN(64))
			for j := range b {
				b[j] = byte(rng.IntN(256))
			}
		} else {
			b = append([]byte(nil), frames[i/2%2]...)
			for range 1 + rng.IntN(4) {
				b[rng.IntN(len(b))] = byte(rng.IntN(256))
			}
		}
		_ = scanJSON(b, &v)
		_ = scanMsgpack(b, &v)
	}
	// Every msgpack header byte, truncated right after it.
	for c := range 256 {
		_ = scanMsgpack([]byte{0x81, 0xa2, 'o', 'p', byte(c)}, &v)
	}
}

func BenchmarkScanJSON(b *testing.B) {
	frame := testBatch(b, protocol.EncodingJSON)
	var v batchView
	b.ReportAllocs()
	for b.Loop() {
		if err := scanJSON(frame, &v); err != nil {
			b.Fatal(err)
		}
	}
}

package protocol

import "testing"

// BenchmarkAppendBatch measures writing one batch frame of 64 pre-encoded
// events and one gap notice into a reused buffer: the per-write cost of a
// client's writer. It should report 0 allocs/op.
func BenchmarkAppendBatch(b *testing.B) {
	ms := testMessages(b, 64)
	gaps := []Gap{{Subject: "chain.eth.transfer", Epoch: 1, From: 41, To: 57}}
	for _, enc := range encodings {
		b.Run(enc.String(), func(b *testing.B) {
			events := eventsOf(enc, ms...)
			buf := make([]byte, 0, BatchSize(gaps, events))
			b.ReportAllocs()
			for b.Loop() {
				buf = AppendBatch(buf[:0], enc, 1732712345678, gaps, events)
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

// BenchmarkEncodeEvent measures encoding one tick-sized event in both
// encodings: the per-message cost at the ingest path, paid once per
// published message whatever the number of subscribers.
func BenchmarkEncodeEvent(b *testing.B) {
	ev := Event{Subject: "ticks.coinbase.BTC-USD", Epoch: 1732712000, Seq: 42, TS: 1732712345600, Ingest: 1732712345610,
		Data: []byte(`{"venue":"coinbase","symbol":"BTC-USD","price":"97000.50","size":"0.0125","bid":97000.25,"ask":97000.75,"ts":1732712345600}`)}
	b.ReportAllocs()
	b.SetBytes(int64(len(ev.Data)))
	for b.Loop() {
		if _, err := EncodeEvent(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeCommand measures decoding a typical subscribe command.
func BenchmarkDecodeCommand(b *testing.B) {
	c := Command{Op: OpSubscribe, ID: 7, HasID: true, Subjects: []string{"ticks.>", "chain.eth.block"}, Policy: KeepLatest, MaxRate: 10}
	for _, enc := range encodings {
		frame, err := EncodeCommand(enc, c)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(enc.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeCommand(enc, frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package protocol

import "github.com/streamhub/streamhub/internal/fanout"

// AppendBatch appends one "batch" frame in encoding enc to dst and returns
// the extended slice:
//
//	{"op":"batch","sent":<sent>,"gaps":[{"subject":…,"epoch":…,"from":…,"to":…}],"events":[<frame>,…]}
//
// gaps is left out when b has none; events is always present (empty when the
// batch holds only gap notices). Each message's pre-encoded frame for enc is
// copied in as it is, never re-encoded; a message without a frame for enc
// (nil Frames[enc]) is skipped, as fanout.Message documents. sent is Unix
// milliseconds. For msgpack the frame is a map with the same keys whose
// events array holds the pre-encoded msgpack event maps.
//
// It allocates nothing when dst has room for the frame, so a writer can
// reuse one buffer per connection. It reads b and the frames only; it panics
// on an encoding outside [0, fanout.NumEncodings).
func AppendBatch(dst []byte, enc fanout.Encoding, sent int64, b *fanout.Batch) []byte {
	if enc >= fanout.NumEncodings {
		panic("protocol: unknown encoding " + enc.String())
	}
	var gaps []fanout.Gap
	var msgs []*fanout.Message
	if b != nil {
		gaps, msgs = b.Gaps, b.Messages
	}
	events := 0
	for _, m := range msgs {
		if m != nil && m.Frames[enc] != nil {
			events++
		}
	}
	w := wr{b: dst, mp: enc == fanout.EncodingMsgpack}
	n := 3
	if len(gaps) > 0 {
		n++
	}
	w.obj(n)
	w.key("op")
	w.str(string(OpBatch))
	w.key("sent")
	w.int(sent)
	if len(gaps) > 0 {
		w.key("gaps")
		w.arr(len(gaps))
		for i := range gaps {
			g := &gaps[i]
			w.obj(4)
			w.key("subject")
			w.str(g.Subject)
			w.key("epoch")
			w.uint(g.Epoch)
			w.key("from")
			w.uint(g.From)
			w.key("to")
			w.uint(g.To)
			w.endObj()
		}
		w.endArr()
	}
	w.key("events")
	w.arr(events)
	for _, m := range msgs {
		if m != nil && m.Frames[enc] != nil {
			w.raw(m.Frames[enc])
		}
	}
	w.endArr()
	w.endObj()
	return w.b
}

// BatchSize returns an upper bound of the bytes AppendBatch writes for b, so
// a writer can size its buffer once. It is exact up to integer and header
// widths, which it takes at their largest.
func BatchSize(enc fanout.Encoding, b *fanout.Batch) int {
	n := 64
	if b == nil {
		return n
	}
	for i := range b.Gaps {
		// keys and punctuation, three uint64s, and a subject that JSON may
		// escape to six bytes per input byte.
		n += 96 + 6*len(b.Gaps[i].Subject)
	}
	for _, m := range b.Messages {
		if m != nil && int(enc) < len(m.Frames) {
			n += len(m.Frames[enc]) + 1
		}
	}
	return n
}

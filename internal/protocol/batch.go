package protocol

// AppendBatch appends one "batch" frame in encoding enc to dst and returns
// the extended slice:
//
//	{"op":"batch","sent":<sent>,"gaps":[{"subject":…,"epoch":…,"from":…,"to":…}],"events":[<frame>,…]}
//
// gaps is left out when there are none; events is always present (empty
// when the batch holds only gap notices). Each event is a frame that
// EncodeEvent made for enc, copied in as it is, never re-encoded; nil
// frames are skipped. sent is Unix milliseconds. For msgpack the frame is a
// map with the same keys whose events array holds the pre-encoded msgpack
// event maps.
//
// It allocates nothing when dst has room for the frame, so a writer can
// reuse one buffer per connection. It reads gaps and events only; it
// panics on an encoding outside [0, NumEncodings).
func AppendBatch(dst []byte, enc Encoding, sent int64, gaps []Gap, events [][]byte) []byte {
	if enc >= NumEncodings {
		panic("protocol: unknown encoding " + enc.String())
	}
	n := 0
	for _, e := range events {
		if e != nil {
			n++
		}
	}
	w := wr{b: dst, mp: enc == EncodingMsgpack}
	keys := 3
	if len(gaps) > 0 {
		keys++
	}
	w.obj(keys)
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
	w.arr(n)
	for _, e := range events {
		if e != nil {
			w.raw(e)
		}
	}
	w.endArr()
	w.endObj()
	return w.b
}

// BatchSize returns an upper bound of the bytes AppendBatch writes for gaps
// and events, so a writer can size its buffer once. It is exact up to
// integer and header widths, which it takes at their largest.
func BatchSize(gaps []Gap, events [][]byte) int {
	n := 64
	for i := range gaps {
		// keys and punctuation, three uint64s, and a subject that JSON may
		// escape to six bytes per input byte.
		n += 96 + 6*len(gaps[i].Subject)
	}
	for _, e := range events {
		n += len(e) + 1
	}
	return n
}

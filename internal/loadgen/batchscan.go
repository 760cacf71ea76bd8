package loadgen

import "errors"

// The load tool reads hundreds of thousands of events per second on the
// same two cores as the broker it measures. Decoding every batch with
// protocol.DecodeServer (encoding/json or msgpack reflection) made the
// StreamHub clients, not the hub, the bottleneck: several times the CPU per
// event of nats.go's parser on the peer's side. So batch frames are walked
// by the small scanners below, which allocate nothing and keep only what a
// benchmark needs; every other frame, and the first frames of each client
// as a cross-check (see hubClient.handle), go through protocol.DecodeServer.

// batchView is what the load tool needs from a frame. Its slices alias the
// frame.
type batchView struct {
	op     []byte
	gaps   []gapView
	events []eventView
}

type gapView struct{ from, to uint64 }

type eventView struct {
	subject    []byte
	epoch, seq uint64
	data       []byte // the raw value, in the frame's encoding
}

func (v *batchView) reset() {
	v.op, v.gaps, v.events = nil, v.gaps[:0], v.events[:0]
}

var errScan = errors.New("loadgen: malformed frame")

// maxScanDepth bounds nesting while skipping values.
const maxScanDepth = 80

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

// frameScanner is what scanBatch needs from the JSON and msgpack scanners.
type frameScanner interface {
	fields(field func(key []byte) error) error
	array(elem func() error) error
	str() ([]byte, error)
	uint() (uint64, error)
	skip() ([]byte, error)
	done() bool
}

// scanBatch fills v from one server frame read by s: the op, the gap
// ranges and each event's position and raw data.
func scanBatch(s frameScanner, v *batchView) error {
	v.reset()
	gap := func() error {
		var g gapView
		err := s.fields(func(key []byte) (err error) {
			switch string(key) {
			case "from":
				g.from, err = s.uint()
			case "to":
				g.to, err = s.uint()
			default:
				_, err = s.skip()
			}
			return err
		})
		v.gaps = append(v.gaps, g)
		return err
	}
	event := func() error {
		var e eventView
		err := s.fields(func(key []byte) (err error) {
			switch string(key) {
			case "subject":
				e.subject, err = s.str()
			case "epoch":
				e.epoch, err = s.uint()
			case "seq":
				e.seq, err = s.uint()
			case "data":
				e.data, err = s.skip()
			default:
				_, err = s.skip()
			}
			return err
		})
		v.events = append(v.events, e)
		return err
	}
	err := s.fields(func(key []byte) (err error) {
		switch string(key) {
		case "op":
			v.op, err = s.str()
		case "gaps":
			err = s.array(gap)
		case "events":
			err = s.array(event)
		default:
			_, err = s.skip()
		}
		return err
	})
	if err != nil {
		return err
	}
	if !s.done() {
		return errScan
	}
	return nil
}

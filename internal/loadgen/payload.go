package loadgen

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// A payload is a price tick padded to the configured size:
//
//	{"t":812345678,"n":42,"p":"97000.50","x":"xxxx…"}
//
// t is the publish time in nanoseconds since the run's start (a monotonic
// clock shared by the publisher and the clients), n the message's number on
// its subject, starting at 1; n = 0 marks a warm-up message, which is not
// counted. t and n come first, so a client finds them without decoding the
// whole payload: in the JSON text, or in the msgpack map the hub converts
// it to (the hub keeps key order).

var errPayload = errors.New("loadgen: payload does not start with t and n")

// appendPayload appends a payload of exactly size bytes (or the shortest
// possible, if size is smaller) to dst.
func appendPayload(dst []byte, t int64, n uint64, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"t":`...)
	dst = strconv.AppendInt(dst, t, 10)
	dst = append(dst, `,"n":`...)
	dst = strconv.AppendUint(dst, n, 10)
	dst = append(dst, `,"p":"97000.50","x":"`...)
	const tail = len(`"}`)
	for len(dst)-start+tail < size {
		dst = append(dst, 'x')
	}
	return append(dst, `"}`...)
}

// parseJSONPayload reads t and n from a payload in JSON.
func parseJSONPayload(p []byte) (t int64, n uint64, err error) {
	rest, ok := cutPrefix(p, `{"t":`)
	if !ok {
		return 0, 0, errPayload
	}
	tu, rest, ok := jsonUint(rest)
	if !ok {
		return 0, 0, errPayload
	}
	if rest, ok = cutPrefix(rest, `,"n":`); !ok {
		return 0, 0, errPayload
	}
	n, _, ok = jsonUint(rest)
	if !ok || tu > 1<<62 {
		return 0, 0, errPayload
	}
	return int64(tu), n, nil
}

func cutPrefix(p []byte, prefix string) ([]byte, bool) {
	if len(p) < len(prefix) || string(p[:len(prefix)]) != prefix {
		return p, false
	}
	return p[len(prefix):], true
}

// jsonUint reads a non-negative integer of at most 19 digits.
func jsonUint(p []byte) (uint64, []byte, bool) {
	var v uint64
	i := 0
	for ; i < len(p) && i < 19 && p[i] >= '0' && p[i] <= '9'; i++ {
		v = v*10 + uint64(p[i]-'0')
	}
	return v, p[i:], i > 0
}

// parseMsgpackPayload reads t and n from the msgpack map the hub converted
// the JSON payload to.
func parseMsgpackPayload(p []byte) (t int64, n uint64, err error) {
	switch {
	case len(p) > 0 && p[0]&0xf0 == 0x80: // fixmap
		p = p[1:]
	case len(p) > 2 && p[0] == 0xde: // map16
		p = p[3:]
	case len(p) > 4 && p[0] == 0xdf: // map32
		p = p[5:]
	default:
		return 0, 0, errPayload
	}
	var ok bool
	if p, ok = cutPrefix(p, "\xa1t"); !ok {
		return 0, 0, errPayload
	}
	tu, p, ok := mpUint(p)
	if !ok {
		return 0, 0, errPayload
	}
	if p, ok = cutPrefix(p, "\xa1n"); !ok {
		return 0, 0, errPayload
	}
	n, _, ok = mpUint(p)
	if !ok || tu > 1<<62 {
		return 0, 0, errPayload
	}
	return int64(tu), n, nil
}

// mpUint reads a non-negative msgpack integer of any width.
func mpUint(p []byte) (uint64, []byte, bool) {
	if len(p) == 0 {
		return 0, p, false
	}
	b := p[0]
	if b <= 0x7f {
		return uint64(b), p[1:], true
	}
	var width int
	signed := false
	switch b {
	case 0xcc, 0xcd, 0xce, 0xcf:
		width = 1 << (b - 0xcc)
	case 0xd0, 0xd1, 0xd2, 0xd3:
		width, signed = 1<<(b-0xd0), true
	default:
		return 0, p, false
	}
	if len(p) < 1+width {
		return 0, p, false
	}
	var v uint64
	switch width {
	case 1:
		v = uint64(p[1])
	case 2:
		v = uint64(binary.BigEndian.Uint16(p[1:]))
	case 4:
		v = uint64(binary.BigEndian.Uint32(p[1:]))
	case 8:
		v = binary.BigEndian.Uint64(p[1:])
	}
	if signed && v>>(uint(width)*8-1) == 1 {
		return 0, p, false // negative
	}
	return v, p[1+width:], true
}

package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrMsgpack is wrapped by every error about malformed or rejected msgpack.
var ErrMsgpack = errors.New("protocol: msgpack rejected")

// mpKind classifies a msgpack object by its header.
type mpKind uint8

const (
	mpNil mpKind = iota + 1
	mpBool
	mpUint // positive fixint, uint8..uint64
	mpInt  // negative fixint, int8..int64 (the value may still be >= 0)
	mpFloat32
	mpFloat64
	mpStr
	mpBin
	mpExt
	mpArray
	mpMap
)

var mpKindNames = [...]string{
	mpNil: "nil", mpBool: "bool", mpUint: "integer", mpInt: "integer",
	mpFloat32: "float", mpFloat64: "float", mpStr: "string", mpBin: "binary",
	mpExt: "extension", mpArray: "array", mpMap: "map",
}

func (k mpKind) String() string {
	if int(k) < len(mpKindNames) && mpKindNames[k] != "" {
		return mpKindNames[k]
	}
	return "invalid"
}

// mpHead is one decoded msgpack header.
type mpHead struct {
	kind mpKind
	// hdr is the number of bytes before the payload: the type byte, any
	// length bytes and, for extensions, the extension type byte.
	hdr int
	// payload is the number of bytes after the header that belong to this
	// object itself (string, binary and extension data, number bytes). It is
	// 0 for arrays and maps, whose elements follow as separate objects.
	payload int
	// count is the number of elements of an array or entries of a map.
	count int
	// val is the value of a bool (0 or 1) or an integer: an mpInt stores
	// its int64 bit pattern.
	val uint64
}

// children returns how many objects follow h as its elements.
func (h mpHead) children() int {
	if h.kind == mpMap {
		return 2 * h.count
	}
	return h.count
}

// next returns the offset just after h's header and payload, for an h read
// at off.
func (h mpHead) next(off int) int { return off + h.hdr + h.payload }

func mpErr(off int, format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrMsgpack, off, fmt.Sprintf(format, args...))
}

// readHead decodes the header of the object at b[off]. It checks that the
// header is complete and that every declared length fits in the bytes that
// remain: a payload needs that many bytes, and an array or map needs at least
// one byte per element (two per map entry). It does not allocate unless it
// fails.
func readHead(b []byte, off int) (mpHead, error) {
	if off >= len(b) {
		return mpHead{}, mpErr(off, "truncated: object expected")
	}
	c := b[off]
	switch {
	case c <= 0x7f:
		return mpHead{kind: mpUint, hdr: 1, val: uint64(c)}, nil
	case c >= 0xe0:
		return mpHead{kind: mpInt, hdr: 1, val: uint64(int64(int8(c)))}, nil
	case c <= 0x8f:
		return checkHead(b, off, mpHead{kind: mpMap, hdr: 1, count: int(c & 0x0f)}, 0)
	case c <= 0x9f:
		return checkHead(b, off, mpHead{kind: mpArray, hdr: 1, count: int(c & 0x0f)}, 0)
	case c <= 0xbf:
		return checkHead(b, off, mpHead{kind: mpStr, hdr: 1, payload: int(c & 0x1f)}, 0)
	}
	switch c {
	case 0xc0:
		return mpHead{kind: mpNil, hdr: 1}, nil
	case 0xc1:
		return mpHead{}, mpErr(off, "reserved type byte 0xc1")
	case 0xc2, 0xc3:
		return mpHead{kind: mpBool, hdr: 1, val: uint64(c - 0xc2)}, nil
	case 0xc4, 0xc5, 0xc6:
		return lenHead(b, off, mpBin, 1<<(c-0xc4), false)
	case 0xc7, 0xc8, 0xc9:
		return lenHead(b, off, mpExt, 1<<(c-0xc7), true)
	case 0xca:
		return numHead(b, off, mpFloat32, 4)
	case 0xcb:
		return numHead(b, off, mpFloat64, 8)
	case 0xcc, 0xcd, 0xce, 0xcf:
		return numHead(b, off, mpUint, 1<<(c-0xcc))
	case 0xd0, 0xd1, 0xd2, 0xd3:
		return numHead(b, off, mpInt, 1<<(c-0xd0))
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return checkHead(b, off, mpHead{kind: mpExt, hdr: 2, payload: 1 << (c - 0xd4)}, 0)
	case 0xd9, 0xda, 0xdb:
		return lenHead(b, off, mpStr, 1<<(c-0xd9), false)
	case 0xdc, 0xdd:
		return lenHead(b, off, mpArray, 2<<(c-0xdc), false)
	}
	// 0xde, 0xdf: the only bytes left.
	return lenHead(b, off, mpMap, 2<<(c-0xde), false)
}

// lenHead reads a header whose length field of width bytes follows the type
// byte; ext says an extension type byte follows the length.
func lenHead(b []byte, off int, kind mpKind, width int, ext bool) (mpHead, error) {
	if len(b)-off-1 < width {
		return mpHead{}, mpErr(off, "truncated %s header", kind)
	}
	n := beUint(b[off+1 : off+1+width])
	h := mpHead{kind: kind, hdr: 1 + width}
	if ext {
		h.hdr++
	}
	return checkHead(b, off, h, n)
}

// checkHead checks h (read at off) against the bytes that remain. n is the
// declared length from a length field, added to h's payload or count; it is
// a uint64 so that no 32-bit declared length can overflow an int.
func checkHead(b []byte, off int, h mpHead, n uint64) (mpHead, error) {
	if len(b)-off < h.hdr {
		return mpHead{}, mpErr(off, "truncated %s header", h.kind)
	}
	rem := uint64(len(b) - off - h.hdr)
	switch h.kind {
	case mpArray, mpMap:
		n += uint64(h.count)
		need := n
		if h.kind == mpMap {
			need = 2 * n
		}
		if need > rem {
			return mpHead{}, mpErr(off, "%s declares %d elements but only %d bytes remain", h.kind, n, rem)
		}
		h.count = int(n)
	default:
		n += uint64(h.payload)
		if n > rem {
			return mpHead{}, mpErr(off, "%s declares %d bytes but only %d remain", h.kind, n, rem)
		}
		h.payload = int(n)
	}
	return h, nil
}

// numHead reads an integer or float header with a payload of width bytes.
func numHead(b []byte, off int, kind mpKind, width int) (mpHead, error) {
	if len(b)-off-1 < width {
		return mpHead{}, mpErr(off, "truncated %s", kind)
	}
	p := b[off+1 : off+1+width]
	h := mpHead{kind: kind, hdr: 1, payload: width, val: beUint(p)}
	if kind == mpInt {
		switch width { // sign-extend
		case 1:
			h.val = uint64(int64(int8(p[0])))
		case 2:
			h.val = uint64(int64(int16(binary.BigEndian.Uint16(p))))
		case 4:
			h.val = uint64(int64(int32(binary.BigEndian.Uint32(p))))
		}
	}
	return h, nil
}

// beUint reads a big-endian unsigned integer of 1, 2, 4 or 8 bytes.
func beUint(p []byte) uint64 {
	switch len(p) {
	case 1:
		return uint64(p[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(p))
	case 4:
		return uint64(binary.BigEndian.Uint32(p))
	}
	return binary.BigEndian.Uint64(p)
}

// mpSkip returns the offset just after the object at b[off], with all its
// elements. It needs no stack: msgpack is prefix-encoded, so a count of the
// objects still owed is enough. Every object consumes at least one byte, so
// it runs in O(len(b)).
func mpSkip(b []byte, off int) (int, error) {
	for pending := 1; pending > 0; pending-- {
		h, err := readHead(b, off)
		if err != nil {
			return 0, err
		}
		pending += h.children()
		off = h.next(off)
	}
	return off, nil
}

// mpReader reads typed values from msgpack bytes. A failed read leaves off
// where it was; callers that want to go on skip the value with mpSkip.
type mpReader struct {
	b   []byte
	off int
}

func (r *mpReader) head(want string, kinds ...mpKind) (mpHead, error) {
	h, err := readHead(r.b, r.off)
	if err != nil {
		return h, err
	}
	for _, k := range kinds {
		if h.kind == k {
			return h, nil
		}
	}
	return h, fmt.Errorf("%s where %s was expected (byte %d)", h.kind, want, r.off)
}

// isNil consumes a nil and reports whether there was one.
func (r *mpReader) isNil() bool {
	if r.off < len(r.b) && r.b[r.off] == 0xc0 {
		r.off++
		return true
	}
	return false
}

func (r *mpReader) mapLen() (int, error) {
	h, err := r.head("a map", mpMap)
	if err != nil {
		return 0, err
	}
	r.off += h.hdr
	return h.count, nil
}

func (r *mpReader) arrayLen() (int, error) {
	h, err := r.head("an array", mpArray)
	if err != nil {
		return 0, err
	}
	r.off += h.hdr
	return h.count, nil
}

// strBytes returns a string's bytes, aliasing r.b.
func (r *mpReader) strBytes() ([]byte, error) {
	h, err := r.head("a string", mpStr)
	if err != nil {
		return nil, err
	}
	p := r.b[r.off+h.hdr : h.next(r.off)]
	r.off = h.next(r.off)
	return p, nil
}

func (r *mpReader) str() (string, error) {
	p, err := r.strBytes()
	return string(p), err
}

func (r *mpReader) boolean() (bool, error) {
	h, err := r.head("a bool", mpBool)
	if err != nil {
		return false, err
	}
	r.off++
	return h.val == 1, nil
}

// uint reads a non-negative integer in any integer encoding.
func (r *mpReader) uint() (uint64, error) {
	h, err := r.head("a non-negative integer", mpUint, mpInt)
	if err != nil {
		return 0, err
	}
	if h.kind == mpInt && int64(h.val) < 0 {
		return 0, fmt.Errorf("negative integer where a non-negative integer was expected (byte %d)", r.off)
	}
	r.off = h.next(r.off)
	return h.val, nil
}

// float reads a float or an integer as a float64.
func (r *mpReader) float() (float64, error) {
	h, err := r.head("a number", mpFloat32, mpFloat64, mpUint, mpInt)
	if err != nil {
		return 0, err
	}
	r.off = h.next(r.off)
	switch h.kind {
	case mpFloat32:
		return float64(math.Float32frombits(uint32(h.val))), nil
	case mpFloat64:
		return math.Float64frombits(h.val), nil
	case mpInt:
		return float64(int64(h.val)), nil
	}
	return float64(h.val), nil
}

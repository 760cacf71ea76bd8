package protocol

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// jsonContainerCounts returns the element count of every object (keys) and
// array in valid JSON data, in document order, and fails if containers nest
// deeper than maxDepth (at most MaxDataDepth). msgpack needs each count
// before the elements, so the conversion makes this pass first; it runs in
// O(len(data)).
func jsonContainerCounts(data []byte, maxDepth int) ([]int, error) {
	var stack [MaxDataDepth]int // indexes into counts of the open containers
	maxDepth = min(maxDepth, MaxDataDepth)
	var counts []int
	depth := 0
	justOpened := false // the innermost container has no element yet
	for i := 0; i < len(data); {
		c := data[i]
		switch c {
		case ' ', '\t', '\r', '\n', ':':
			i++
			continue
		case ',':
			counts[stack[depth-1]]++
			i++
			continue
		case '}', ']':
			depth--
			justOpened = false
			i++
			continue
		}
		if justOpened {
			counts[stack[depth-1]] = 1
			justOpened = false
		}
		switch c {
		case '{', '[':
			if depth == maxDepth {
				return nil, fmt.Errorf("nested deeper than %d", maxDepth)
			}
			stack[depth] = len(counts)
			counts = append(counts, 0)
			depth++
			justOpened = true
			i++
		case '"':
			i = jsonStringEnd(data, i)
		default:
			i = jsonScalarEnd(data, i)
		}
	}
	return counts, nil
}

// jsonStringEnd returns the offset after the string starting at data[i]
// (a '"'); data is valid JSON.
func jsonStringEnd(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// jsonScalarEnd returns the offset after the number or literal at data[i].
func jsonScalarEnd(data []byte, i int) int {
	for ; i < len(data); i++ {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return i
}

// appendMsgpackFromJSON appends the msgpack form of valid JSON data, using
// the container counts from jsonContainerCounts. JSON's token order is
// msgpack's object order, so one flat pass writes it.
func appendMsgpackFromJSON(b, data []byte, counts []int) ([]byte, error) {
	ci := 0
	for i := 0; i < len(data); {
		c := data[i]
		switch c {
		case ' ', '\t', '\r', '\n', ':', ',', '}', ']':
			i++
		case '{':
			b = mpAppendMapHeader(b, counts[ci])
			ci++
			i++
		case '[':
			b = mpAppendArrayHeader(b, counts[ci])
			ci++
			i++
		case '"':
			end := jsonStringEnd(data, i)
			tok := data[i:end]
			if !hasBackslash(tok) {
				b = mpAppendStrHeader(b, len(tok)-2)
				b = append(b, tok[1:len(tok)-1]...)
			} else {
				var s string
				if err := json.Unmarshal(tok, &s); err != nil {
					return nil, fmt.Errorf("string at byte %d: %w", i, err)
				}
				b = mpAppendStr(b, s)
			}
			i = end
		case 't':
			b = mpAppendBool(b, true)
			i += len("true")
		case 'f':
			b = mpAppendBool(b, false)
			i += len("false")
		case 'n':
			b = mpAppendNil(b)
			i += len("null")
		default:
			end := jsonScalarEnd(data, i)
			var err error
			if b, err = mpAppendJSONNumber(b, data[i:end]); err != nil {
				return nil, fmt.Errorf("number at byte %d: %w", i, err)
			}
			i = end
		}
	}
	return b, nil
}

func hasBackslash(p []byte) bool {
	for _, c := range p {
		if c == '\\' {
			return true
		}
	}
	return false
}

// mpAppendJSONNumber appends a valid JSON number: an integer literal that
// fits in int64 (or uint64) as an integer, anything else as a float64.
func mpAppendJSONNumber(b, num []byte) ([]byte, error) {
	if u, neg, ok := parseJSONInt(num); ok {
		if !neg {
			return mpAppendUint(b, u), nil
		}
		if u <= 1<<63 {
			return mpAppendInt(b, int64(-u)), nil // -u wraps to the right bits, including -2^63
		}
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, errors.New("out of float64 range")
	}
	return mpAppendFloat64(b, f), nil
}

// parseJSONInt parses an integer literal (no fraction, no exponent) into
// its magnitude and sign; ok is false for other numbers or on uint64
// overflow.
func parseJSONInt(num []byte) (u uint64, neg bool, ok bool) {
	if len(num) > 0 && num[0] == '-' {
		neg, num = true, num[1:]
	}
	if len(num) == 0 {
		return 0, false, false
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, false, false
		}
		d := uint64(c - '0')
		if u > (math.MaxUint64-d)/10 {
			return 0, false, false
		}
		u = u*10 + d
	}
	return u, neg, true
}

// MsgpackToJSON appends the JSON form of one msgpack value to dst: maps
// (with string keys only) become objects, arrays arrays, strings strings,
// binary base64 strings (as encoding/json writes []byte), integers and
// finite floats numbers. Extensions, non-string map keys and NaN or
// infinite floats have no JSON form and fail. It is meant for the Go client
// and tests, to read an event's msgpack data like its JSON data.
func MsgpackToJSON(dst, src []byte) ([]byte, error) {
	if err := CheckMsgpack(src, MaxDataDepth+1, len(src)); err != nil {
		return dst, err
	}
	out, _, err := mpToJSON(dst, src, 0)
	return out, err
}

// mpToJSON converts the object at src[off], already checked by the guard.
func mpToJSON(b, src []byte, off int) ([]byte, int, error) {
	h, err := readHead(src, off)
	if err != nil {
		return b, 0, err
	}
	body := src[off+h.hdr : h.next(off)]
	next := h.next(off)
	switch h.kind {
	case mpNil:
		b = append(b, "null"...)
	case mpBool:
		b = strconv.AppendBool(b, h.val == 1)
	case mpUint:
		b = strconv.AppendUint(b, h.val, 10)
	case mpInt:
		b = strconv.AppendInt(b, int64(h.val), 10)
	case mpFloat32, mpFloat64:
		f, bits := math.Float64frombits(h.val), 64
		if h.kind == mpFloat32 {
			f, bits = float64(math.Float32frombits(uint32(h.val))), 32
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, 0, fmt.Errorf("protocol: msgpack float %v at byte %d has no JSON form", f, off)
		}
		b = strconv.AppendFloat(b, f, 'g', -1, bits)
	case mpStr:
		b = jsonAppendString(b, string(body))
	case mpBin:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, body)
		b = append(b, '"')
	case mpExt:
		return b, 0, fmt.Errorf("protocol: msgpack extension at byte %d has no JSON form", off)
	case mpArray:
		b = append(b, '[')
		for i := 0; i < h.count; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			if b, next, err = mpToJSON(b, src, next); err != nil {
				return b, 0, err
			}
		}
		b = append(b, ']')
	case mpMap:
		b = append(b, '{')
		for i := 0; i < h.count; i++ {
			if i > 0 {
				b = append(b, ',')
			}
			kh, err := readHead(src, next)
			if err != nil {
				return b, 0, err
			}
			if kh.kind != mpStr {
				return b, 0, fmt.Errorf("protocol: msgpack map key at byte %d is a %s, not a string", next, kh.kind)
			}
			if b, next, err = mpToJSON(b, src, next); err != nil {
				return b, 0, err
			}
			b = append(b, ':')
			if b, next, err = mpToJSON(b, src, next); err != nil {
				return b, 0, err
			}
		}
		b = append(b, '}')
	}
	return b, next, nil
}

package protocol

import (
	"strconv"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// jsonAppendString appends s as a JSON string. It escapes '"', '\\' and
// control characters, escapes U+2028 and U+2029 (as encoding/json does, for
// JavaScript's sake), and replaces invalid UTF-8 with U+FFFD, so the result
// is always valid JSON and valid UTF-8. It does not allocate when b has room.
func jsonAppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// wr writes one JSON or msgpack object tree. For JSON it inserts the commas;
// for msgpack the caller gives every container's element count up front, and
// the end calls write nothing. A wr lives on its caller's stack.
type wr struct {
	b  []byte
	mp bool
	// comma says a ',' is due before the next key or array element (JSON).
	comma bool
}

func (w *wr) sep() {
	if w.comma {
		w.b = append(w.b, ',')
	}
	w.comma = true
}

// obj starts an object with n keys.
func (w *wr) obj(n int) {
	if w.mp {
		w.b = mpAppendMapHeader(w.b, n)
		return
	}
	w.sep()
	w.b = append(w.b, '{')
	w.comma = false
}

func (w *wr) endObj() {
	if !w.mp {
		w.b = append(w.b, '}')
		w.comma = true
	}
}

// arr starts an array of n elements.
func (w *wr) arr(n int) {
	if w.mp {
		w.b = mpAppendArrayHeader(w.b, n)
		return
	}
	w.sep()
	w.b = append(w.b, '[')
	w.comma = false
}

func (w *wr) endArr() {
	if !w.mp {
		w.b = append(w.b, ']')
		w.comma = true
	}
}

// key writes an object key; k must need no JSON escaping.
func (w *wr) key(k string) {
	if w.mp {
		w.b = mpAppendStr(w.b, k)
		return
	}
	w.sep()
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
	w.comma = false
}

func (w *wr) str(s string) {
	if w.mp {
		w.b = mpAppendStr(w.b, s)
		return
	}
	w.sep()
	w.b = jsonAppendString(w.b, s)
}

func (w *wr) uint(u uint64) {
	if w.mp {
		w.b = mpAppendUint(w.b, u)
		return
	}
	w.sep()
	w.b = strconv.AppendUint(w.b, u, 10)
}

func (w *wr) int(i int64) {
	if w.mp {
		w.b = mpAppendInt(w.b, i)
		return
	}
	w.sep()
	w.b = strconv.AppendInt(w.b, i, 10)
}

// float writes a finite float.
func (w *wr) float(f float64) {
	if w.mp {
		w.b = mpAppendFloat64(w.b, f)
		return
	}
	w.sep()
	w.b = strconv.AppendFloat(w.b, f, 'g', -1, 64)
}

func (w *wr) boolean(v bool) {
	if w.mp {
		w.b = mpAppendBool(w.b, v)
		return
	}
	w.sep()
	w.b = strconv.AppendBool(w.b, v)
}

// raw writes a value that is already encoded in w's encoding.
func (w *wr) raw(p []byte) {
	if !w.mp {
		w.sep()
	}
	w.b = append(w.b, p...)
}

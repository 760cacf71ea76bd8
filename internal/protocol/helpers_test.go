package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

var encodings = []Encoding{EncodingJSON, EncodingMsgpack}

// object builds the same ordered object in JSON and in msgpack from
// alternating keys and values (values encoded by encoding/json and
// msgpack/v5, so the tests do not rely on our own encoders). js is nil when
// a value has no JSON form (NaN).
func object(t testing.TB, kv ...any) (js, mp []byte) {
	t.Helper()
	if len(kv)%2 != 0 {
		t.Fatal("object: odd kv")
	}
	var jb bytes.Buffer
	jsonOK := true
	jb.WriteByte('{')
	mb := mpAppendMapHeader(nil, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		if i > 0 {
			jb.WriteByte(',')
		}
		for j, v := range kv[i : i+2] {
			b, err := json.Marshal(v)
			if err != nil {
				jsonOK = false
			}
			jb.Write(b)
			if j == 0 {
				jb.WriteByte(':')
			}
			b, err = msgpack.Marshal(v)
			if err != nil {
				t.Fatalf("object: msgpack %v: %v", v, err)
			}
			mb = append(mb, b...)
		}
	}
	jb.WriteByte('}')
	if !jsonOK {
		return nil, mb
	}
	return jb.Bytes(), mb
}

// frameFor returns js or mp by encoding.
func frameFor(enc Encoding, js, mp []byte) []byte {
	if enc == EncodingMsgpack {
		return mp
	}
	return js
}

// normalize turns a value decoded by encoding/json (with UseNumber) or by
// msgpack/v5 into a canonical form: integers int64 or uint64 (only above
// MaxInt64), other numbers float64, maps map[string]any, arrays []any.
func normalize(t testing.TB, v any) any {
	t.Helper()
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if u, ok := parseUintString(string(x)); ok {
			return u
		}
		f, err := x.Float64()
		if err != nil {
			t.Fatalf("normalize %q: %v", x, err)
		}
		return f
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x)
		}
		return x
	case float32:
		return float64(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(t, e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(t, e)
		}
		return out
	}
	return v
}

func parseUintString(s string) (uint64, bool) {
	u, neg, ok := parseJSONInt([]byte(s))
	return u, ok && !neg
}

// decodeAny decodes one JSON or msgpack value into its normalized form with
// the reference libraries.
func decodeAny(t testing.TB, enc Encoding, b []byte) any {
	t.Helper()
	var v any
	if enc == EncodingMsgpack {
		d := msgpack.NewDecoder(bytes.NewReader(b))
		if err := d.Decode(&v); err != nil {
			t.Fatalf("msgpack decode %x: %v", b, err)
		}
		if _, err := d.PeekCode(); err == nil {
			t.Fatalf("msgpack decode %x: trailing bytes", b)
		}
	} else {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			t.Fatalf("json decode %s: %v", b, err)
		}
		if d.More() {
			t.Fatalf("json decode %s: trailing data", b)
		}
	}
	return normalize(t, v)
}

func deepEqual(a, b any) bool { return reflect.DeepEqual(a, b) }

func isMsgpackErr(err error) bool { return errors.Is(err, ErrMsgpack) }

func msgpackTime() any { return time.Unix(1, 0) }

package protocol

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func TestCheckMsgpackAcceptsWellFormed(t *testing.T) {
	big := strings.Repeat("x", 70000)
	values := []any{
		nil, true, false, 0, 127, 128, -1, -32, -33, 1 << 20, -(1 << 40), uint64(1 << 63), 1.5, float32(2.5),
		"", "short", strings.Repeat("s", 40), strings.Repeat("m", 300), big, []byte{1, 2, 3}, make([]byte, 300),
		[]any{}, []any{1, "a", nil}, make([]int, 20), map[string]any{}, map[string]any{"a": map[string]any{"b": []any{1}}},
		time.Unix(1, 2), // extension -1 (timestamp)
	}
	for _, v := range values {
		b, err := msgpack.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckMsgpack(b, 8, 1<<20); err != nil {
			t.Errorf("CheckMsgpack(%T %.20v) = %v", v, v, err)
		}
	}
	// Every str, bin, ext, array and map width, built by hand.
	cases := map[string][]byte{
		"fixext1":  {0xd4, 0x01, 0xaa},
		"fixext16": append([]byte{0xd8, 0x01}, make([]byte, 16)...),
		"ext8":     {0xc7, 0x02, 0x05, 0xaa, 0xbb},
		"ext16":    {0xc8, 0x00, 0x01, 0x05, 0xaa},
		"ext32":    {0xc9, 0x00, 0x00, 0x00, 0x00, 0x05},
		"str32":    {0xdb, 0x00, 0x00, 0x00, 0x01, 'a'},
		"bin8":     {0xc4, 0x01, 0xff},
		"bin32":    {0xc6, 0x00, 0x00, 0x00, 0x00},
		"array16":  {0xdc, 0x00, 0x02, 0xc0, 0xc0},
		"array32":  {0xdd, 0x00, 0x00, 0x00, 0x01, 0xc0},
		"map16":    {0xde, 0x00, 0x01, 0xa1, 'k', 0x01},
		"map32":    {0xdf, 0x00, 0x00, 0x00, 0x01, 0xa1, 'k', 0x01},
		"int64":    {0xd3, 0, 0, 0, 0, 0, 0, 0, 1},
		"float32":  {0xca, 0, 0, 0, 0},
	}
	for name, b := range cases {
		if err := CheckMsgpack(b, 8, 16); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if end, err := mpSkip(b, 0); err != nil || end != len(b) {
			t.Errorf("%s: mpSkip = %d, %v; want %d", name, end, err, len(b))
		}
	}
}

func TestCheckMsgpackLimits(t *testing.T) {
	nested := func(depth int) []byte { // depth arrays, innermost holds nil
		return append(bytes.Repeat([]byte{0x91}, depth), 0xc0)
	}
	if err := CheckMsgpack(nested(8), 8, 256); err != nil {
		t.Errorf("depth 8 with limit 8: %v", err)
	}
	if err := CheckMsgpack(nested(9), 8, 256); !isMsgpackErr(err) || !strings.Contains(err.Error(), "deeper") {
		t.Errorf("depth 9 with limit 8: %v", err)
	}
	if err := CheckMsgpack([]byte{0x01}, 0, 1); err != nil {
		t.Errorf("scalar with depth 0: %v", err)
	}
	// Items: the top-level object plus every element.
	arr := append([]byte{0xdc, 0x00, 0xff}, bytes.Repeat([]byte{0xc0}, 255)...)
	if err := CheckMsgpack(arr, 8, 256); err != nil {
		t.Errorf("1+255 items with limit 256: %v", err)
	}
	arr = append([]byte{0xdc, 0x01, 0x00}, bytes.Repeat([]byte{0xc0}, 256)...)
	if err := CheckMsgpack(arr, 8, 256); !isMsgpackErr(err) || !strings.Contains(err.Error(), "more than 256") {
		t.Errorf("1+256 items with limit 256: %v", err)
	}
	m := []byte{0x81, 0xa1, 'k', 0xc0} // map: 1 + key + value
	if err := CheckMsgpack(m, 8, 3); err != nil {
		t.Errorf("map with 3 items: %v", err)
	}
	if err := CheckMsgpack(m, 8, 2); err == nil {
		t.Error("map with 3 items accepted with limit 2")
	}
	if err := CheckMsgpack([]byte{0xc0}, 8, 0); err == nil {
		t.Error("maxItems 0 accepted an object")
	}
}

func TestCheckMsgpackDoesNotAllocate(t *testing.T) {
	frame, err := EncodeCommand(EncodingMsgpack, Command{Op: OpSubscribe, ID: 7, HasID: true,
		Subjects: nSubjects(16), Policy: KeepLatest, MaxRate: 3})
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := CheckMsgpack(frame, CommandMaxDepth, CommandMaxItems); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("CheckMsgpack allocates %v times per call on valid input", allocs)
	}
}

// bombs is the corpus of hostile msgpack frames. Each is small; what it
// declares is not.
func bombs() map[string][]byte {
	u32 := func(code byte) []byte { return binary.BigEndian.AppendUint32([]byte{code}, 0xffffffff) }
	inMap := func(v []byte) []byte {
		return append([]byte{0x82, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g', 0xa1, 'x'}, v...)
	}
	deep := append(bytes.Repeat([]byte{0x91}, 100000), 0xc0)
	deepMaps := bytes.Repeat([]byte{0x81, 0xa1, 'k'}, 100000)
	deepMaps = append(deepMaps, 0xc0)
	valid := []byte{0x81, 0xa2, 'o', 'p', 0xa4, 'p', 'i', 'n', 'g'}
	return map[string][]byte{
		"array32 2^32-1":           u32(0xdd),
		"map32 2^32-1":             u32(0xdf),
		"bin32 2^32-1":             u32(0xc6),
		"str32 2^32-1":             u32(0xdb),
		"ext32 2^32-1":             append(u32(0xc9), 0x01),
		"array16 65535":            {0xdc, 0xff, 0xff, 0xc0},
		"map16 65535":              {0xde, 0xff, 0xff},
		"bin16 65535":              {0xc5, 0xff, 0xff, 0x00},
		"str16 65535":              {0xda, 0xff, 0xff},
		"ext16 65535":              {0xc8, 0xff, 0xff, 0x01},
		"str8 255":                 {0xd9, 0xff, 'a'},
		"bin8 255":                 {0xc4, 0xff},
		"ext8 255":                 {0xc7, 0xff, 0x01},
		"fixstr 31":                {0xbf, 'a'},
		"fixarray 15":              {0x9f, 0xc0},
		"fixmap 15":                {0x8f},
		"array32 in a command":     inMap(u32(0xdd)),
		"str32 in a command":       inMap(u32(0xdb)),
		"deep arrays 100000":       deep,
		"deep maps 100000":         deepMaps,
		"deep in a command":        inMap(deep),
		"truncated uint64":         {0xcf, 0x00, 0x01},
		"truncated float64":        {0xcb, 0x00},
		"truncated str32 header":   {0xdb, 0x00, 0x00},
		"truncated map":            valid[:len(valid)-1],
		"truncated fixext16":       {0xd8, 0x01, 0x00},
		"empty":                    {},
		"trailing byte":            append(append([]byte{}, valid...), 0x00),
		"two objects":              append(append([]byte{}, valid...), valid...),
		"reserved 0xc1":            {0xc1},
		"reserved 0xc1 in a value": {0x81, 0xa2, 'o', 'p', 0xc1},
	}
}

// TestGuardRejectsBombsCheaply runs every bomb through CheckMsgpack and
// DecodeCommand and checks it is rejected quickly with bounded allocation.
// The time bound is deliberately loose (the machine is shared and runs with
// -race); a decoder that honoured a 2^32 declaration would take seconds and
// gigabytes, not microseconds and bytes.
func TestGuardRejectsBombsCheaply(t *testing.T) {
	const maxBytes = 64 << 10
	for name, b := range bombs() {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := CheckMsgpack(b, CommandMaxDepth, CommandMaxItems)
			elapsed := time.Since(start)
			if elapsed > 250*time.Millisecond {
				t.Errorf("took %v", elapsed)
			}
			if !isMsgpackErr(err) {
				t.Fatalf("CheckMsgpack = %v, want a rejection", err)
			}
			allocated := allocatedBy(func() { _ = CheckMsgpack(b, CommandMaxDepth, CommandMaxItems) })
			if allocated >= maxBytes {
				t.Errorf("CheckMsgpack allocated %d bytes", allocated)
			}
			var derr *Error
			allocated = allocatedBy(func() { _, derr = DecodeCommand(EncodingMsgpack, b) })
			if derr == nil || derr.Code != CodeBadRequest {
				t.Errorf("DecodeCommand = %v, want bad_request", derr)
			}
			if allocated >= maxBytes {
				t.Errorf("DecodeCommand allocated %d bytes", allocated)
			}
			t.Logf("rejected in %v, DecodeCommand allocated %d bytes: %v", elapsed, allocated, err)
		})
	}
}

// allocatedBy returns the bytes allocated while f runs (an upper bound: the
// test runner itself is idle meanwhile).
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestGuardIsNeeded is the honesty test: it shows what msgpack/v5 v5.4.1
// does with the array bomb when nothing guards it. Decoding a 15-byte frame
// whose "Subjects" array declares 50,000,000 entries into Command makes the
// library preallocate its slice before it notices the bytes are missing: it
// caps the preallocation at 1e6 elements (sliceAllocLimit), which for a
// []string is 16 MB, and then fails with an unexpected EOF. The guard
// rejects the same frame with nothing allocated.
func TestGuardIsNeeded(t *testing.T) {
	frame := []byte{0x81, 0xa8}
	frame = append(frame, "Subjects"...)
	frame = binary.BigEndian.AppendUint32(append(frame, 0xdd), 50_000_000)

	var c Command
	var uerr error
	unguarded := allocatedBy(func() { uerr = msgpack.Unmarshal(frame, &c) })
	if uerr == nil {
		t.Fatal("msgpack/v5 decoded the bomb without error")
	}
	// 1e6 string headers of 16 bytes each; the exact figure depends on the
	// library, the order of magnitude is the point: 15 bytes buy 16 MB.
	if unguarded < 15<<20 {
		t.Errorf("unguarded decode allocated only %d bytes; the library changed, revisit this test", unguarded)
	}
	t.Logf("unguarded msgpack/v5 decode of a %d-byte frame: %d bytes allocated, error %v", len(frame), unguarded, uerr)

	var gerr error
	guarded := allocatedBy(func() { gerr = CheckMsgpack(frame, CommandMaxDepth, CommandMaxItems) })
	if !isMsgpackErr(gerr) {
		t.Fatalf("guard accepted the bomb: %v", gerr)
	}
	if guarded >= 64<<10 {
		t.Errorf("guard allocated %d bytes", guarded)
	}
	t.Logf("guard: %d bytes allocated, %v", guarded, gerr)
}

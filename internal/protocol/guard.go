package protocol

// Limits of the guard that every client msgpack frame passes before it is
// decoded as a command.
const (
	// CommandMaxDepth is the deepest nesting of containers accepted in a
	// msgpack command (the command map itself is depth 1).
	CommandMaxDepth = 8
	// CommandMaxItems is the most msgpack objects accepted in one command,
	// counting the top-level object, every element and every map key and
	// value.
	CommandMaxItems = 256
)

// CheckMsgpack checks that b holds exactly one well-formed msgpack object
// whose containers nest at most maxDepth deep (a top-level map or array is
// depth 1, a scalar depth 0) and that holds at most maxItems objects in all
// (the top-level object, every array element, every map key and every map
// value). It rejects truncated input, trailing bytes after the first object,
// the reserved type byte 0xc1, and any declared length of a string, binary,
// extension, array or map (8, 16 and 32-bit forms alike) that is longer than
// the bytes that remain, counting at least one byte per array element and
// two per map entry.
//
// The walk reads b only and allocates nothing unless it fails; it recurses
// at most maxDepth+1 levels and runs in O(len(b)). Errors wrap [ErrMsgpack]
// and name the offending byte offset. It is safe for concurrent use.
func CheckMsgpack(b []byte, maxDepth, maxItems int) error {
	if maxItems < 1 {
		return mpErr(0, "more than %d objects", maxItems)
	}
	g := guard{b: b, maxDepth: maxDepth, maxItems: maxItems, items: 1}
	end, err := g.walk(0, 0)
	if err != nil {
		return err
	}
	if end != len(b) {
		return mpErr(end, "%d trailing bytes after the object", len(b)-end)
	}
	return nil
}

type guard struct {
	b                  []byte
	maxDepth, maxItems int
	items              int // objects seen or declared so far
}

// walk checks the object at off, found at nesting depth depth, and returns
// the offset just after it.
func (g *guard) walk(off, depth int) (int, error) {
	h, err := readHead(g.b, off)
	if err != nil {
		return 0, err
	}
	next := h.next(off)
	if h.kind != mpArray && h.kind != mpMap {
		return next, nil
	}
	depth++
	if depth > g.maxDepth {
		return 0, mpErr(off, "nested deeper than %d", g.maxDepth)
	}
	n := h.children() // at most len(b): readHead checked it against the bytes left
	g.items += n
	if g.items > g.maxItems {
		return 0, mpErr(off, "more than %d objects", g.maxItems)
	}
	for i := 0; i < n; i++ {
		if next, err = g.walk(next, depth); err != nil {
			return 0, err
		}
	}
	return next, nil
}

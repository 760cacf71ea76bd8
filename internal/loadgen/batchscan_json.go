package loadgen

import "strconv"

// jsonScanner walks a JSON server frame; see batchView.
type jsonScanner struct {
	b []byte
	i int
}

func (s *jsonScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next skips white space and consumes c.
func (s *jsonScanner) next(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str reads a string and returns its raw contents (escapes not decoded).
func (s *jsonScanner) str() ([]byte, error) {
	if !s.next('"') {
		return nil, errScan
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return s.b[start : s.i-1], nil
		default:
			s.i++
		}
	}
	return nil, errScan
}

func (s *jsonScanner) uint() (uint64, error) {
	s.ws()
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	v, err := strconv.ParseUint(string(s.b[start:s.i]), 10, 64)
	if err != nil {
		return 0, errScan
	}
	return v, nil
}

// skip passes over one value of any kind and returns its bytes. It
// checks only what it needs to find the value's end.
func (s *jsonScanner) skip() ([]byte, error) {
	s.ws()
	start := s.i
	if s.i >= len(s.b) {
		return nil, errScan
	}
	switch s.b[s.i] {
	case '"':
		if _, err := s.str(); err != nil {
			return nil, err
		}
		return s.b[start:s.i], nil
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if _, err := s.str(); err != nil {
					return nil, err
				}
				continue
			case '{', '[':
				if depth++; depth > maxScanDepth {
					return nil, errScan
				}
			case '}', ']':
				if depth--; depth == 0 {
					s.i++
					return s.b[start:s.i], nil
				}
			}
			s.i++
		}
		return nil, errScan
	}
	// A number, true, false or null.
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if s.i == start {
				return nil, errScan
			}
			return s.b[start:s.i], nil
		}
		s.i++
	}
	if s.i == start {
		return nil, errScan
	}
	return s.b[start:s.i], nil
}

// object calls field for each key of an object; field must consume the
// value.
func (s *jsonScanner) object(field func(key []byte) error) error {
	if !s.next('{') {
		return errScan
	}
	if s.next('}') {
		return nil
	}
	for {
		key, err := s.str()
		if err != nil || !s.next(':') {
			return errScan
		}
		if err := field(key); err != nil {
			return err
		}
		if s.next('}') {
			return nil
		}
		if !s.next(',') {
			return errScan
		}
	}
}

// array calls elem for each element; elem must consume it.
func (s *jsonScanner) array(elem func() error) error {
	if !s.next('[') {
		return errScan
	}
	if s.next(']') {
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		if s.next(']') {
			return nil
		}
		if !s.next(',') {
			return errScan
		}
	}
}

// scanJSON fills v from a JSON server frame.
func scanJSON(frame []byte, v *batchView) error {
	return scanBatch(&jsonScanner{b: frame}, v)
}

// fields calls field for each key of the JSON object at the cursor.
func (s *jsonScanner) fields(field func(key []byte) error) error { return s.object(field) }

// done reports whether only white space is left.
func (s *jsonScanner) done() bool {
	s.ws()
	return s.i == len(s.b)
}

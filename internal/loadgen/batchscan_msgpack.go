package loadgen

import "encoding/binary"

// mpScanner walks a msgpack server frame; see batchView.
type mpScanner struct {
	b []byte
	i int
}

// head reads a msgpack header: its kind, the length of a container or of
// a string/binary/extension payload, or an integer value.
func (s *mpScanner) head() (kind byte, n uint64, err error) {
	if s.i >= len(s.b) {
		return 0, 0, errScan
	}
	c := s.b[s.i]
	s.i++
	be := func(w int) (uint64, error) {
		if s.i+w > len(s.b) {
			return 0, errScan
		}
		var v uint64
		switch w {
		case 1:
			v = uint64(s.b[s.i])
		case 2:
			v = uint64(binary.BigEndian.Uint16(s.b[s.i:]))
		case 4:
			v = uint64(binary.BigEndian.Uint32(s.b[s.i:]))
		case 8:
			v = binary.BigEndian.Uint64(s.b[s.i:])
		}
		s.i += w
		return v, nil
	}
	switch {
	case c <= 0x7f:
		return 'u', uint64(c), nil
	case c >= 0xe0:
		return 'i', 0, nil
	case c&0xf0 == 0x80:
		return 'm', uint64(c & 0x0f), nil
	case c&0xf0 == 0x90:
		return 'a', uint64(c & 0x0f), nil
	case c&0xe0 == 0xa0:
		return 's', uint64(c & 0x1f), nil
	}
	switch c {
	case 0xc0, 0xc2, 0xc3:
		return 'n', 0, nil // nil, false, true
	case 0xcc, 0xcd, 0xce, 0xcf:
		n, err = be(1 << (c - 0xcc))
		return 'u', n, err
	case 0xd0, 0xd1, 0xd2, 0xd3:
		_, err = be(1 << (c - 0xd0))
		return 'i', 0, err
	case 0xca:
		_, err = be(4)
		return 'f', 0, err
	case 0xcb:
		_, err = be(8)
		return 'f', 0, err
	case 0xd9, 0xda, 0xdb:
		n, err = be(1 << (c - 0xd9))
		return 's', n, err
	case 0xc4, 0xc5, 0xc6:
		n, err = be(1 << (c - 0xc4))
		return 'b', n, err
	case 0xdc, 0xdd:
		n, err = be(2 << (c - 0xdc))
		return 'a', n, err
	case 0xde, 0xdf:
		n, err = be(2 << (c - 0xde))
		return 'm', n, err
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext: a type byte, then 1..16 bytes
		_, err = be(1)
		return 'b', 1 << (c - 0xd4), err
	case 0xc7, 0xc8, 0xc9: // ext: a length, a type byte, the bytes
		if n, err = be(1 << (c - 0xc7)); err == nil {
			_, err = be(1)
		}
		return 'b', n, err
	}
	return 0, 0, errScan
}

// payload consumes n bytes after a string or binary header.
func (s *mpScanner) payload(n uint64) ([]byte, error) {
	if n > uint64(len(s.b)-s.i) {
		return nil, errScan
	}
	p := s.b[s.i : s.i+int(n)]
	s.i += int(n)
	return p, nil
}

func (s *mpScanner) str() ([]byte, error) {
	k, n, err := s.head()
	if err != nil || k != 's' {
		return nil, errScan
	}
	return s.payload(n)
}

func (s *mpScanner) uint() (uint64, error) {
	k, n, err := s.head()
	if err != nil || k != 'u' {
		return 0, errScan
	}
	return n, nil
}

// skip passes over one value and returns its bytes.
func (s *mpScanner) skip() ([]byte, error) {
	start := s.i
	if err := s.skipDepth(0); err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

func (s *mpScanner) skipDepth(depth int) error {
	if depth > maxScanDepth {
		return errScan
	}
	k, n, err := s.head()
	if err != nil {
		return err
	}
	switch k {
	case 's', 'b':
		_, err = s.payload(n)
		return err
	case 'a', 'm':
		if k == 'm' {
			n *= 2
		}
		if n > uint64(len(s.b)-s.i) {
			return errScan // every element takes at least one byte
		}
		for range n {
			if err := s.skipDepth(depth + 1); err != nil {
				return err
			}
		}
	}
	return nil
}

// fields reads a map header and calls field for each key.
func (s *mpScanner) fields(field func(key []byte) error) error {
	k, n, err := s.head()
	if err != nil || k != 'm' {
		return errScan
	}
	for range n {
		key, err := s.str()
		if err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
	}
	return nil
}

func (s *mpScanner) array(elem func() error) error {
	k, n, err := s.head()
	if err != nil || k != 'a' || n > uint64(len(s.b)-s.i) {
		return errScan
	}
	for range n {
		if err := elem(); err != nil {
			return err
		}
	}
	return nil
}

// scanMsgpack fills v from a msgpack server frame.
func scanMsgpack(frame []byte, v *batchView) error {
	return scanBatch(&mpScanner{b: frame}, v)
}

// done reports whether the whole frame was read.
func (s *mpScanner) done() bool { return s.i == len(s.b) }

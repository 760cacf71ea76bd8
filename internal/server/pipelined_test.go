package server

import (
	"bufio"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/protocol"
)

// A client may send its first frame in the same write as its upgrade
// request, before it has seen the 101 answer: the hub must read that frame
// as the first message, not lose it (a desynchronised stream shows as
// "unexpected rsv bits").
func TestFrameRightBehindTheUpgradeRequestIsRead(t *testing.T) {
	s := startHub(t, nil)
	for round := range 5 {
		conn, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
		req := "GET /v1/ws HTTP/1.1\r\nHost: " + s.Addr() + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
			"Sec-WebSocket-Protocol: " + protocol.SubprotocolJSON + "\r\n\r\n"
		payload := []byte(`{"op":"ping","id":7}`)
		frame := []byte{0x81, 0x80 | byte(len(payload)), 1, 2, 3, 4} // final text frame, masked
		for i, b := range payload {
			frame = append(frame, b^[]byte{1, 2, 3, 4}[i%4])
		}
		if _, err := conn.Write(append([]byte(req), frame...)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("round %d: upgrade answered %v, %v", round, resp, err)
		}
		var got []string
		for len(got) < 2 {
			msg := readServerFrame(t, br)
			got = append(got, msg)
		}
		if !strings.Contains(got[0], `"op":"hello"`) || !strings.Contains(got[1], `"op":"pong"`) || !strings.Contains(got[1], `"id":7`) {
			t.Fatalf("round %d: the hub answered %q, want hello then the pong of the pipelined ping", round, got)
		}
		_ = conn.Close()
	}
}

// readServerFrame reads one unmasked, unfragmented server frame and
// returns its payload.
func readServerFrame(t *testing.T, br *bufio.Reader) string {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("frame header: %v", err)
	}
	if h[0]&0x70 != 0 || h[1]&0x80 != 0 {
		t.Fatalf("frame header %x: rsv bits or mask set", h)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, _ = io.ReadFull(br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, _ = io.ReadFull(br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatalf("frame payload: %v", err)
	}
	return string(p)
}

package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
)

// A client may write its first frames right behind its upgrade request.
// Whatever the HTTP server had read of them must reach the WebSocket
// reader, after coder/websocket takes the reader over the way its Accept
// does (it keeps only what the reader has buffered).
func TestSmallReaderKeepsWhatTheServerReadAhead(t *testing.T) {
	for _, early := range []string{"", "x", "first frame bytes", strings.Repeat("e", 3*readBufferSize)} {
		server, client := net.Pipe()
		rest := "and what came later"
		go func() {
			_, _ = client.Write([]byte(rest))
			_ = client.Close()
		}()
		// The HTTP server's reader, holding the early bytes.
		httpReader := bufio.NewReaderSize(io.MultiReader(strings.NewReader(early), strings.NewReader("")), 4096)
		if early != "" {
			if _, err := httpReader.Peek(len(early)); err != nil {
				t.Fatal(err)
			}
		}
		br := smallReader(httpReader, server)
		// What coder/websocket's Accept does with it.
		b, _ := br.Peek(br.Buffered())
		br.Reset(io.MultiReader(bytes.NewReader(b), server))
		got, err := io.ReadAll(br)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != early+rest {
			t.Fatalf("read %q, want %q", got, early+rest)
		}
		_ = server.Close()
	}
}

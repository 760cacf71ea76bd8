package gateway

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// progressChunk is the most a progressConn hands the kernel in one write,
// so that progress shows within a large batch.
const progressChunk = 64 << 10

// progressConn counts the bytes the kernel has taken from a hijacked
// connection. Once the socket's buffers are full, that count moves only as
// fast as the client reads, which lets a close tell a client that is still
// reading, however slowly, from one that has stopped (see
// fanout.ProgressReporter). Written is safe for concurrent use.
type progressConn struct {
	net.Conn
	written atomic.Uint64
}

func (c *progressConn) Write(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		n, err := c.Conn.Write(p[:min(len(p), progressChunk)])
		total += n
		c.written.Add(uint64(n))
		if err != nil {
			return total, err
		}
		p = p[n:]
	}
	return total, nil
}

// Written returns the bytes written so far.
func (c *progressConn) Written() uint64 { return c.written.Load() }

// progressWriter makes the connection that coder/websocket hijacks a
// progressConn. Its conn is set by Hijack, on the handler's goroutine.
type progressWriter struct {
	http.ResponseWriter
	sendBuffer int // SO_SNDBUF to set, when positive (Config.SendBuffer)
	conn       *progressConn
}

// Hijack hijacks the connection, sets its send buffer and wraps it;
// anything the server had buffered for it (the 101 response) is flushed
// first, since writes go through a new buffer on top of the wrapper from
// then on.
func (w *progressWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn() // a TLS listener's connection: the socket is underneath
	}
	if tc, ok := raw.(*net.TCPConn); ok && w.sendBuffer > 0 {
		_ = tc.SetWriteBuffer(w.sendBuffer) // best effort: the kernel's default still works
	}
	w.conn = &progressConn{Conn: conn}
	return w.conn, bufio.NewReadWriter(smallReader(brw.Reader, w.conn), bufio.NewWriterSize(w.conn, brw.Writer.Size())), nil
}

// readBufferSize is the read buffer of a connection once upgraded. Clients
// send little (commands of a few hundred bytes, pongs), and a read larger
// than the buffer bypasses it, so the HTTP server's 4 KiB buffer would be
// memory held by every idle connection for nothing.
const readBufferSize = 512

// smallReader returns a reader of conn with a readBufferSize buffer (or
// larger, to hold them) that holds in its buffer whatever the HTTP
// server's reader r had already read past the upgrade request: a client
// may send its first frames before it sees the 101 answer. They must be in
// the buffer itself, because coder/websocket's Accept keeps only what the
// reader has buffered when it takes the reader over (golang/go#32314).
func smallReader(r *bufio.Reader, conn net.Conn) *bufio.Reader {
	n := r.Buffered()
	br := bufio.NewReaderSize(conn, max(readBufferSize, n))
	if n > 0 {
		early, _ := r.Peek(n)
		br.Reset(io.MultiReader(bytes.NewReader(bytes.Clone(early)), conn))
		_, _ = br.Peek(n) // from the bytes.Reader: no read from conn
	}
	return br
}

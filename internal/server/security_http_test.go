package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// shortHTTPTimeouts makes every HTTP timeout of the hub 300 ms.
func shortHTTPTimeouts(c *Config) {
	c.ReadHeaderTimeout, c.ReadTimeout, c.IdleTimeout = 300*time.Millisecond, 300*time.Millisecond, 300*time.Millisecond
}

// rawConn opens a TCP connection to the hub, closed at cleanup.
func rawConn(t *testing.T, s *Server) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// closedByPeer reads conn until the hub closes it (within limit) and
// returns how long that took from start.
func closedByPeer(t *testing.T, conn net.Conn, r io.Reader, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	_ = conn.SetReadDeadline(start.Add(limit))
	_, err := io.Copy(io.Discard, r)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the hub kept the connection open for %v", limit)
	}
	return time.Since(start)
}

// Idle keep-alive connections and silent ones are closed by the hub.
func TestIdleHTTPConnectionsAreClosed(t *testing.T) {
	t.Parallel()
	s := startHub(t, shortHTTPTimeouts)

	t.Run("idle keep-alive", func(t *testing.T) {
		t.Parallel()
		conn := rawConn(t, s)
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: "+s.Addr()+"\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("GET /healthz: %d, close %v; want 200 on a keep-alive connection", resp.StatusCode, resp.Close)
		}
		idle := time.Now()
		if d := closedByPeer(t, conn, br, idle, 5*time.Second); d < 250*time.Millisecond {
			t.Fatalf("closed after %v, before the idle timeout", d)
		}
	})

	t.Run("silent", func(t *testing.T) {
		t.Parallel()
		conn := rawConn(t, s)
		closedByPeer(t, conn, conn, time.Now(), 5*time.Second)
	})

	t.Run("slow headers", func(t *testing.T) {
		t.Parallel()
		conn := rawConn(t, s)
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n"); err != nil { // never finished
			t.Fatal(err)
		}
		closedByPeer(t, conn, conn, time.Now(), 5*time.Second)
	})
}

// The HTTP read and idle timeouts are for ordinary requests: a WebSocket
// connection that is quiet for longer than them stays open.
func TestWebSocketOutlivesHTTPTimeouts(t *testing.T) {
	t.Parallel()
	s := startHub(t, shortHTTPTimeouts)
	c := dial(t, s, "")
	c.alive()
	quiet := time.Now()
	testsupport.WaitFor(t, "three read and idle timeouts", 5*time.Second, func() bool { return time.Since(quiet) > time.Second })
	c.alive()
	c.subscribe(protocol.Command{}, "ticks.>")
}

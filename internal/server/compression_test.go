package server

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/internal/protocol"
)

// countingConn counts the bytes a client reads off the wire.
type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// dialCounting dials the hub, asking for permessage-deflate when compress,
// and returns the client, its count of bytes read, and whether the hub
// accepted compression.
func dialCounting(t *testing.T, s *Server, compress bool) (*wsClient, *atomic.Int64, bool) {
	t.Helper()
	read := new(atomic.Int64)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return countingConn{Conn: c, n: read}, nil
	}}
	t.Cleanup(tr.CloseIdleConnections)
	opts := &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}, Subprotocols: []string{protocol.Subprotocol(0)}}
	if compress {
		opts.CompressionMode = websocket.CompressionNoContextTakeover
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws://"+s.Addr()+"/v1/ws", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	conn.SetReadLimit(8 << 20)
	c := &wsClient{t: t, conn: conn}
	if m := c.next(5 * time.Second); m.Op != protocol.OpHello {
		t.Fatalf("first frame %v", m.Op)
	}
	return c, read, strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate")
}

// wireBytes publishes one tick with data and returns how many bytes the
// client read to receive it.
func wireBytes(t *testing.T, s *Server, c *wsClient, read *atomic.Int64, subject, data string) int64 {
	t.Helper()
	before := read.Load()
	if err := natsPublisher(t, s).Publish(subject, []byte(data)); err != nil {
		t.Fatal(err)
	}
	evs := c.events(10*time.Second, func(e []protocol.EventFrame) bool { return len(e) > 0 })
	if evs[0].Subject != subject {
		t.Fatalf("got %s", evs[0].Subject)
	}
	return read.Load() - before
}

// With --compression, a client that asks gets permessage-deflate: a large
// repetitive batch crosses the wire in a fraction of its size, unless it is
// under the threshold. Without it, the hub declines and sends every byte.
func TestCompressionIsNegotiatedAndHonoursTheThreshold(t *testing.T) {
	big := `{"rows":[` + strings.Repeat(`{"price":"97000.50","size":"0.0125","side":"buy"},`, 300) + `{}]}`
	for _, tc := range []struct {
		name                   string
		on                     bool
		threshold              int
		negotiated, compressed bool
	}{
		{"on", true, 0, true, true},
		{"on, threshold above the batch", true, 1 << 20, true, false},
		{"off", false, 0, false, false},
	} {
		s := startHub(t, func(c *Config) {
			c.Gateway.Compression = tc.on
			c.Gateway.CompressionThreshold = tc.threshold
		})
		c, read, negotiated := dialCounting(t, s, true)
		if negotiated != tc.negotiated {
			t.Fatalf("%s: negotiated %v", tc.name, negotiated)
		}
		c.subscribe(protocol.Command{}, "ticks.z.>")
		waitPatterns(t, s, "ticks.z.>")
		n := wireBytes(t, s, c, read, "ticks.z.big", big)
		t.Logf("%s: %d-byte payload took %d bytes on the wire", tc.name, len(big), n)
		if tc.compressed && n > int64(len(big))/4 || !tc.compressed && n < int64(len(big)) {
			t.Errorf("%s: a %d-byte payload took %d bytes on the wire", tc.name, len(big), n)
		}
	}
}

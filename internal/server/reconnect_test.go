package server

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// readyz returns the hub's /readyz status and body.
func readyz(t testing.TB, s *Server) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx10(t), http.MethodGet, "http://"+s.Addr()+"/readyz", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// When the hub loses NATS it is not ready, and says why; when NATS is
// back it is ready again, every subscribed client is told in-band that
// ticks may have been missed, and the ticks the hub numbers itself
// continue in a new epoch, from seq 1.
func TestNATSLossReadinessAndNotice(t *testing.T) {
	dir := t.TempDir()
	ns := bustest.StartNATSAt(t, -1, dir)
	port := ns.Addr().(*net.TCPAddr).Port
	url := ns.ClientURL()
	s := startHub(t, func(c *Config) { c.NATSURL = url })
	if code, body := readyz(t, s); code != http.StatusOK {
		t.Fatalf("readyz %d %q at start", code, body)
	}

	pub, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	c := dial(t, s, "")
	c.subscribe(protocol.Command{}, "ticks.*.BTC-USD")
	tick := func() protocol.EventFrame {
		t.Helper()
		var got []protocol.EventFrame
		deadline := time.Now().Add(15 * time.Second)
		for len(got) == 0 && time.Now().Before(deadline) {
			if err := pub.Publish("ticks.coinbase.BTC-USD", []byte(`{"last":"1"}`)); err != nil {
				t.Logf("publish: %v", err)
			}
			m, err := c.read(200 * time.Millisecond)
			if err != nil && !strings.Contains(err.Error(), "deadline") {
				t.Fatalf("read: %v", err)
			}
			if err == nil && m.Op == protocol.OpBatch {
				got = m.Events
			}
			if err == nil && m.Op == protocol.OpNotice {
				c.pending = append(c.pending, m) // for the caller
				break
			}
		}
		if len(got) == 0 {
			return protocol.EventFrame{}
		}
		return got[0]
	}
	first := tick()
	if first.Seq == 0 {
		t.Fatal("no tick before the loss")
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	testsupport.WaitFor(t, "readyz 503 while NATS is gone", 10*time.Second, func() bool {
		code, _ := readyz(t, s)
		return code == http.StatusServiceUnavailable
	})
	if _, body := readyz(t, s); !strings.Contains(body, "not connected") {
		t.Fatalf("readyz body %q, want it to say NATS is not connected", body)
	}

	bustest.StartNATSAt(t, port, dir)
	testsupport.WaitFor(t, "readyz 200 once NATS is back", 20*time.Second, func() bool {
		code, _ := readyz(t, s)
		return code == http.StatusOK
	})
	notice := c.next(10 * time.Second)
	for notice.Op == protocol.OpBatch { // ticks in flight before the loss
		notice = c.next(10 * time.Second)
	}
	if notice.Op != protocol.OpNotice || notice.Code != protocol.NoticeUpstreamReconnected {
		t.Fatalf("after the reconnect got %s %s, want the upstream_reconnected notice", notice.Op, notice.Code)
	}
	after := tick()
	if after.Epoch == first.Epoch || after.Seq != 1 {
		t.Fatalf("tick after the reconnect at (%d, %d), before at (%d, %d): want a new epoch from seq 1",
			after.Epoch, after.Seq, first.Epoch, first.Seq)
	}
}

package server

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/testsupport"
)

// rawSubscriber is a WebSocket client at the byte level: it upgrades
// (offering permessage-deflate when asked), sends one subscribe frame and
// then only counts what arrives, without parsing or inflating it, so that
// the process's CPU time is the hub's (and NATS's), not the clients'.
type rawSubscriber struct {
	conn net.Conn
	read atomic.Int64
	done chan struct{}
}

func dialRawSubscriber(b *testing.B, s *Server, deflate bool, subscribe string) *rawSubscriber {
	b.Helper()
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		b.Fatal(err)
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	req := "GET /v1/ws HTTP/1.1\r\nHost: " + s.Addr() + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + k + "\r\nSec-WebSocket-Protocol: streamhub.v1.json\r\n"
	if deflate {
		req += "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover; server_no_context_takeover\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("upgrade: %v %v", resp, err)
	}
	h := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(h[:]) {
		b.Fatal("bad Sec-WebSocket-Accept")
	}
	if got := resp.Header.Get("Sec-WebSocket-Extensions") != ""; got != deflate {
		b.Fatalf("deflate negotiated %v, want %v", got, deflate)
	}
	// One masked text frame (mask 0: the payload is sent as is).
	cmd := []byte(`{"op":"subscribe","subjects":["` + subscribe + `"],"policy":"drop-oldest"}`)
	frame := append([]byte{0x81, 0x80 | byte(len(cmd)), 0, 0, 0, 0}, cmd...)
	if _, err := conn.Write(frame); err != nil {
		b.Fatal(err)
	}
	r := &rawSubscriber{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf := make([]byte, 64<<10)
		for {
			n, err := br.Read(buf)
			r.read.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	return r
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFanOutCompression publishes tick-like JSON messages to 50
// subscribers of one pattern, in bursts of 20 so that batches form as
// they do under load, with permessage-deflate off and on. It reports the
// bytes each client reads per message and the process's CPU time per
// delivered message (hub, embedded NATS and the publisher; the clients
// only count bytes). One op is one published message.
func BenchmarkFanOutCompression(b *testing.B) {
	const clients, burst = 50, 20
	for _, deflate := range []bool{false, true} {
		b.Run(fmt.Sprintf("deflate=%v", deflate), func(b *testing.B) {
			s := startHub(b, func(c *Config) { c.Gateway.Compression = true })
			subs := make([]*rawSubscriber, clients)
			for i := range subs {
				subs[i] = dialRawSubscriber(b, s, deflate, "ticks.bench.>")
			}
			waitPatterns(b, s, "ticks.bench.>")
			testsupport.WaitFor(b, "every subscription", 10*time.Second, func() bool { return s.Hub().Stats().Clients == clients })
			nc := natsPublisher(b, s)
			payload := func(i int) []byte {
				return []byte(`{"venue":"coinbase","symbol":"BTC-USD","price":"97` + strconv.Itoa(100+i%900) + `.50","size":"0.0` + strconv.Itoa(i%97) + `","side":"buy","trade_id":` + strconv.Itoa(1_000_000+i) + `}`)
			}
			before := s.Hub().Stats().Delivered
			var read0 int64
			for _, r := range subs {
				read0 += r.read.Load()
			}
			b.ReportAllocs()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := nc.Publish("ticks.bench.s"+strconv.Itoa(i%64), payload(i)); err != nil {
					b.Fatal(err)
				}
				if i%burst == burst-1 {
					_ = nc.Flush()
					time.Sleep(time.Millisecond)
				}
			}
			want := before + uint64(b.N*clients)
			testsupport.WaitFor(b, "every message delivered", 60*time.Second, func() bool {
				st := s.Hub().Stats()
				return st.Delivered+st.Dropped >= want
			})
			b.StopTimer()
			cpu := cpuTime() - cpu0
			var read int64
			for _, r := range subs {
				read += r.read.Load()
			}
			st := s.Hub().Stats()
			delivered := float64(st.Delivered - before)
			b.ReportMetric(float64(read-read0)/delivered, "wire-B/delivery")
			b.ReportMetric(float64(cpu.Nanoseconds())/delivered, "cpu-ns/delivery")
			b.ReportMetric(delivered/float64(st.Batches), "events/batch")
			if st.Dropped > 0 {
				b.Logf("%d deliveries dropped (drop-oldest): the numbers cover the delivered ones", st.Dropped)
			}
			var wg sync.WaitGroup
			for _, r := range subs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = r.conn.Close()
					<-r.done
				}()
			}
			wg.Wait()
		})
	}
}

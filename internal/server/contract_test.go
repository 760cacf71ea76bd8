package server

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/ingest"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// The edges of the delivery contract (docs/protocol.md, "Delivery
// contract"), each checked from a client's side of the wire.

// publishJob stores one job event through JetStream, as a job runner would,
// and returns its stream sequence.
func publishJob(t testing.TB, js jetstream.JetStream, subject, state string, critical bool) uint64 {
	t.Helper()
	return publishStored(t, js, subject, []byte(`{"tenant":"acme","state":"`+state+`"}`), critical)
}

// publishStored stores one message of a stored family (chain, jobs)
// through JetStream and returns its stream sequence, which is its seq on
// the wire.
func publishStored(t testing.TB, js jetstream.JetStream, subject string, data []byte, critical bool) uint64 {
	t.Helper()
	m := nats.NewMsg(subject)
	m.Data = data
	if critical {
		m.Header.Set(ingest.HeaderCritical, "true")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := js.PublishMsg(ctx, m)
	if err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
	return ack.Sequence
}

func jetStreamOf(t testing.TB, s *Server) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(natsPublisher(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// Regression (issue 9, edge 2): with max_rate, a held "running" event was
// sent about an interval after the job's critical "done", so seq went
// backwards on the wire.
func TestMaxRateNeverSendsOlderEventsAfterACriticalOne(t *testing.T) {
	s := startHub(t, nil)
	js := jetStreamOf(t, s)
	c := dial(t, s, "")
	const rate = 5
	c.subscribe(protocol.Command{MaxRate: rate}, "jobs.acme.>")
	waitPatterns(t, s, "jobs.acme.>")
	const jobs = 10
	done := map[string]uint64{}
	for j := range jobs {
		subject := "jobs.acme.j" + strconv.Itoa(j)
		for range 3 {
			publishJob(t, js, subject, "running", false)
		}
		done[subject] = publishJob(t, js, subject, "done", true)
	}
	seen := 0
	evs := c.events(10*time.Second, func(evs []protocol.EventFrame) bool {
		for ; seen < len(evs); seen++ {
			if evs[seen].Critical {
				delete(done, evs[seen].Subject)
			}
		}
		return len(done) == 0
	})
	// A held value would come out within an interval of its slot: read on
	// for a few intervals.
	deadline := time.Now().Add(3 * time.Second / rate)
	for {
		m, err := c.read(time.Until(deadline))
		if err != nil {
			break
		}
		evs = append(evs, m.Events...)
	}
	last := map[string]protocol.EventFrame{}
	for _, ev := range evs {
		if prev, ok := last[ev.Subject]; ok && ev.Seq <= prev.Seq {
			t.Fatalf("%s: seq %d (critical %v) after %d (critical %v)", ev.Subject, ev.Seq, ev.Critical, prev.Seq, prev.Critical)
		}
		last[ev.Subject] = ev
	}
	for subject, ev := range last {
		if !ev.Critical {
			t.Errorf("%s ends on a non-critical event (seq %d), not on its done", subject, ev.Seq)
		}
	}
}

// floodChain publishes n messages of size bytes on subject, one every
// pause, so that a client that does not keep up overflows its queue.
func floodChain(t testing.TB, s *Server, subject string, n, size int, pause time.Duration) {
	t.Helper()
	nc := natsPublisher(t, s)
	body := []byte(`{"blob":"` + strings.Repeat("x", size) + `"}`)
	for i := range n {
		if err := nc.Publish(subject, body); err != nil {
			t.Fatal(err)
		}
		if i%16 == 15 {
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(pause)
	}
}

// Regression (issue 9, edge 3): the write in flight was cancelled when a
// client was found slow, so a client that was still reading saw a torn
// connection instead of 4001 ("reconnect and resume").
func TestSlowConsumerThatStillReadsGets4001(t *testing.T) {
	s := startHub(t, func(c *Config) { c.Fanout.MaxQueueBytes = 256 << 10 })
	c := dial(t, s, "")
	c.subscribe(protocol.Command{Policy: protocol.Disconnect}, "chain.test.>")
	waitPatterns(t, s, "chain.test.>")
	code := make(chan websocket.StatusCode, 1)
	go func() { // a slow reader: one frame every 50 ms
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			_, _, err := c.conn.Read(ctx)
			cancel()
			if err != nil {
				code <- websocket.CloseStatus(err)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		code <- -1
	}()
	// Faster than the reader, but slowly enough that the socket's buffers
	// fill before the queue overflows: the hub then finds the client slow
	// with a write in flight.
	floodChain(t, s, "chain.test.big", 600, 64<<10, 5*time.Millisecond)
	if got := <-code; got != websocket.StatusCode(protocol.CloseSlowConsumer) {
		t.Fatalf("slow client's connection ended with status %d, want %d (slow_consumer)", got, protocol.CloseSlowConsumer)
	}
}

// A client that stops reading altogether is torn down once the write in
// flight has had its grace, long before the write timeout.
func TestStalledConsumerIsTornDownAfterTheGrace(t *testing.T) {
	const writeTimeout = 60 * time.Second
	s := startHub(t, func(c *Config) {
		c.Fanout.MaxQueueBytes = 256 << 10
		c.Fanout.WriteTimeout = writeTimeout
	})
	c := dial(t, s, "")
	if got := c.hello.Limits.WriteTimeoutMS; got != writeTimeout.Milliseconds() {
		t.Fatalf("hello announces write_timeout_ms %d, want %d", got, writeTimeout.Milliseconds())
	}
	c.subscribe(protocol.Command{Policy: protocol.Disconnect}, "chain.test.>")
	waitPatterns(t, s, "chain.test.>")
	start := time.Now()
	floodChain(t, s, "chain.test.big", 400, 64<<10, 0)
	testsupport.WaitFor(t, "the stalled client gone from the hub", 15*time.Second, func() bool {
		return s.Hub().Stats().Disconnects[fanout.ReasonSlowConsumer] == 1 && s.Hub().NumClients() == 0
	})
	t.Logf("torn down %v after the flood began", time.Since(start).Round(time.Millisecond))
	// From the client's side the connection is over: reading what was
	// buffered ends in an error, not a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := c.conn.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatal("the connection is still open from the client's side")
			}
			break
		}
	}
}

// Regression (issue 9, edge 4): a snapshot of more subjects than the cap
// kept the oldest (finished jobs) and left out the running ones, silently.
func TestSnapshotKeepsTheNewestSubjectsAndSaysTruncated(t *testing.T) {
	s := startHub(t, func(c *Config) { c.History.MaxSnapshot = 5 })
	js := jetStreamOf(t, s)
	for j := range 8 {
		publishJob(t, js, "jobs.acme.j"+strconv.Itoa(j), "done", false)
	}
	publishJob(t, js, "jobs.acme.j0", "running", false) // j0 is the newest again
	c := dial(t, s, "")

	id := c.send(protocol.Command{Op: protocol.OpSubscribe, Subjects: []string{"jobs.acme.>"}, Snapshot: true})
	if m := c.answer(id); m.Op != protocol.OpOK || !m.Truncated {
		t.Fatalf("answer %+v, want ok with truncated", m)
	}
	evs := c.events(5*time.Second, func(evs []protocol.EventFrame) bool { return len(evs) >= 5 })
	var got []string
	for _, ev := range evs {
		got = append(got, strings.TrimPrefix(ev.Subject, "jobs.acme."))
	}
	if want := "j4 j5 j6 j7 j0"; strings.Join(got, " ") != want {
		t.Fatalf("snapshot holds %v, want the five most recently changed, in stream order: %s", got, want)
	}

	id = c.send(protocol.Command{Op: protocol.OpSubscribe, Subjects: []string{"jobs.acme.j1"}, Snapshot: true})
	if m := c.answer(id); m.Op != protocol.OpOK || m.Truncated {
		t.Fatalf("answer %+v, want a plain ok", m)
	}
}

package server

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/bus/bustest"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/testsupport"
)

// jobPublisher publishes job progress through JetStream and records the
// stream sequence of every message, so a test knows exactly what exists.
type jobPublisher struct {
	t    testing.TB
	js   jetstream.JetStream
	mu   sync.Mutex
	seqs []uint64
}

func newJobPublisher(t testing.TB, s *Server) *jobPublisher {
	nc, err := nats.Connect(s.NATSURL(), s.NATSCredentials().Option())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &jobPublisher{t: t, js: js}
}

func (p *jobPublisher) publish(subject string, i int) {
	m := nats.NewMsg(subject)
	m.Data = []byte(`{"tenant":"acme","state":"running","percent":` + strconv.Itoa(i%100) + `,"i":` + strconv.Itoa(i) + `}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := p.js.PublishMsg(ctx, m)
	if err != nil {
		if p.t.Context().Err() == nil {
			p.t.Errorf("publish %d: %v", i, err)
		}
		return
	}
	p.mu.Lock()
	p.seqs = append(p.seqs, ack.Sequence)
	p.mu.Unlock()
}

func (p *jobPublisher) published() []uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seqs)
}

// run publishes n progress events, pausing a little between them, on its
// own goroutine; the returned channel closes when it is done.
func (p *jobPublisher) run(n int, every time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			if p.t.Context().Err() != nil {
				return // the test is over (it failed early)
			}
			p.publish("jobs.acme.j_"+strconv.Itoa(i%4), i)
			time.Sleep(every)
		}
	}()
	return done
}

// collect reads events until one with seq last has arrived, returning them.
func collectUntil(t testing.TB, c *wsClient, last uint64, timeout time.Duration) []protocol.EventFrame {
	t.Helper()
	return c.events(timeout, func(e []protocol.EventFrame) bool {
		return len(e) > 0 && e[len(e)-1].Seq >= last
	})
}

func resumeFrom(t testing.TB, c *wsClient, pattern string, last protocol.EventFrame) protocol.ServerMessage {
	t.Helper()
	id := c.send(protocol.Command{Op: protocol.OpSubscribe, Subjects: []string{pattern}, Policy: protocol.DropOldest,
		Resume: []protocol.ResumePosition{{Subject: last.Subject, Epoch: last.Epoch, Seq: last.Seq}}})
	return c.answer(id)
}

// checkExactlyOnce asserts that the events of both connections together are
// every published sequence, each once, in order.
func checkExactlyOnce(t *testing.T, before, after []protocol.EventFrame, published []uint64) {
	t.Helper()
	var got []uint64
	for _, e := range append(before, after...) {
		got = append(got, e.Seq)
	}
	if !slices.Equal(got, published) {
		missing, dup := 0, 0
		seen := map[uint64]int{}
		for _, s := range got {
			seen[s]++
			if seen[s] == 2 {
				dup++
			}
		}
		for _, s := range published {
			if seen[s] == 0 {
				missing++
			}
		}
		t.Fatalf("received %d events (%d missing, %d duplicated, sorted=%v); published %d",
			len(got), missing, dup, slices.IsSorted(got), len(published))
	}
}

func TestResumeAfterADroppedConnectionLosesNothing(t *testing.T) {
	s := startHub(t, nil)
	pub := newJobPublisher(t, s)
	c := dial(t, s, "")
	c.subscribe(protocol.Command{Policy: protocol.DropOldest}, "jobs.acme.>")
	done := pub.run(1000, 5*time.Millisecond)

	before := c.events(20*time.Second, func(e []protocol.EventFrame) bool { return len(e) >= 150 })
	_ = c.conn.CloseNow() // the connection is cut mid-stream
	time.Sleep(5 * time.Second)

	c2 := dial(t, s, protocol.SubprotocolMsgpack) // back, in the other encoding
	m := resumeFrom(t, c2, "jobs.acme.>", before[len(before)-1])
	if m.Op != protocol.OpOK || m.Recovered == nil || !*m.Recovered {
		t.Fatalf("resume answered %+v", m)
	}
	<-done
	published := pub.published()
	after := collectUntil(t, c2, published[len(published)-1], 20*time.Second)
	checkExactlyOnce(t, before, after, published)
}

func TestResumeOnAnotherHubInstance(t *testing.T) {
	nats, _ := bustest.StartEmbedded(t)
	hubA := startHub(t, func(c *Config) { useNATS(c, nats.ClientURL(), nats.Credentials()) })
	hubB := startHub(t, func(c *Config) { useNATS(c, nats.ClientURL(), nats.Credentials()) })
	pub := newJobPublisher(t, hubA)
	c := dial(t, hubA, "")
	c.subscribe(protocol.Command{Policy: protocol.DropOldest}, "jobs.acme.>")
	done := pub.run(1000, 3*time.Millisecond)

	before := c.events(20*time.Second, func(e []protocol.EventFrame) bool { return len(e) >= 200 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _ = hubA.Shutdown(ctx) }()
	// Whatever A still delivered before its going-away close counts too.
	for {
		m, err := c.read(10 * time.Second)
		if err != nil {
			if code := websocket.CloseStatus(err); code != websocket.StatusCode(protocol.CloseShutdown) {
				t.Fatalf("hub A closed with %d (%v), want 4000", code, err)
			}
			break
		}
		before = append(before, m.Events...)
	}

	c2 := dial(t, hubB, "")
	m := resumeFrom(t, c2, "jobs.acme.>", before[len(before)-1])
	if m.Op != protocol.OpOK || m.Recovered == nil || !*m.Recovered {
		t.Fatalf("resume on hub B answered %+v", m)
	}
	<-done
	published := pub.published()
	after := collectUntil(t, c2, published[len(published)-1], 20*time.Second)
	checkExactlyOnce(t, before, after, published)
}

// useNATS points a hub's configuration at the NATS server of e (an
// embedded server or another hub), with its credentials.
func useNATS(c *Config, url string, creds bus.Credentials) {
	c.NATSURL, c.NATSCredentials = url, creds
}

func TestResumeOutsideTheWindowIsRefused(t *testing.T) {
	s := startHub(t, nil)
	pub := newJobPublisher(t, s)
	for i := range 20 {
		pub.publish("jobs.acme.j1", i)
	}
	published := pub.published()
	epoch, err := s.Router().Epoch(context.Background(), bus.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s, "")
	if c.hello.ResumeWindowMS != (24 * time.Hour).Milliseconds() {
		t.Fatalf("hello advertises a resume window of %d ms", c.hello.ResumeWindowMS)
	}
	try := func(seq, ep uint64) protocol.ServerMessage {
		return resumeFrom(t, c, "jobs.acme.>", protocol.EventFrame{Subject: "jobs.acme.j1", Epoch: ep, Seq: seq})
	}

	// Beyond the newest message: an error, not a crash; the connection lives.
	if m := try(published[len(published)-1]+100, epoch); m.Op != protocol.OpError || m.Code != protocol.CodeInvalidOption {
		t.Fatalf("future position answered %+v", m)
	}
	// Another incarnation of the stream.
	if m := try(published[3], epoch+1); m.Op != protocol.OpError || m.Code != protocol.CodeInsufficientState || m.Recovered == nil || *m.Recovered {
		t.Fatalf("wrong epoch answered %+v", m)
	}
	// Messages older than retention: purge all but the last 5.
	js := pub.js
	stream, err := js.Stream(context.Background(), bus.StreamJobs)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Purge(context.Background(), jetstream.WithPurgeKeep(5)); err != nil {
		t.Fatal(err)
	}
	if m := try(published[3], epoch); m.Op != protocol.OpError || m.Code != protocol.CodeInsufficientState || m.Recovered == nil || *m.Recovered {
		t.Fatalf("resume before retention answered %+v", m)
	}
	if c.hello.Session == "" || s.Hub().NumPatterns() != 0 {
		t.Fatalf("a refused resume left %d subscriptions", s.Hub().NumPatterns())
	}
	// Within what is retained, it works and replays exactly the rest.
	m := try(published[16], epoch)
	if m.Op != protocol.OpOK || m.Recovered == nil || !*m.Recovered {
		t.Fatalf("resume within retention answered %+v", m)
	}
	evs := c.events(5*time.Second, func(e []protocol.EventFrame) bool { return len(e) == 3 })
	for i, e := range evs {
		if e.Seq != published[17+i] {
			t.Fatalf("replayed %d, want %d", e.Seq, published[17+i])
		}
	}
}

func TestSnapshotThenLiveHasNoGapOrDuplicate(t *testing.T) {
	s := startHub(t, nil)
	pub := newJobPublisher(t, s)
	for i := range 50 {
		pub.publish("jobs.acme.j_snap", i)
	}
	// Under load: publishing goes on while clients subscribe.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 50; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			pub.publish("jobs.acme.j_snap", i)
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	for round := range 5 {
		c := dial(t, s, "")
		c.subscribe(protocol.Command{Policy: protocol.DropOldest, Snapshot: true}, "jobs.acme.j_snap")
		evs := c.events(10*time.Second, func(e []protocol.EventFrame) bool { return len(e) >= 40 })
		if !evs[0].Snapshot {
			t.Fatalf("round %d: first event is not the snapshot: %+v", round, evs[0])
		}
		// One subject in its own stream here: consecutive stream sequences.
		for i := 1; i < len(evs); i++ {
			if evs[i].Snapshot || evs[i].Seq != evs[i-1].Seq+1 {
				t.Fatalf("round %d: event %d has seq %d (snapshot=%v) after %d", round, i, evs[i].Seq, evs[i].Snapshot, evs[i-1].Seq)
			}
		}
		_ = c.conn.CloseNow()
	}
}

func TestTickSnapshotGivesTheLatestPrice(t *testing.T) {
	s := startHub(t, fastDemo)
	js := newJobPublisher(t, s).js
	testsupport.WaitFor(t, "the last tick of every subject stored", 5*time.Second, func() bool {
		st, err := js.Stream(context.Background(), bus.StreamTicks)
		return err == nil && st.CachedInfo().State.NumSubjects == 20
	})
	c := dial(t, s, "")
	c.subscribe(protocol.Command{Snapshot: true}, "ticks.*.BTC-USD")
	evs := c.events(3*time.Second, func(e []protocol.EventFrame) bool { return len(e) >= 2 })
	venues := map[string]bool{}
	for _, e := range evs[:2] {
		if !e.Snapshot {
			t.Fatalf("snapshot events first, got %+v", e)
		}
		venues[e.Subject] = true
	}
	if !venues["ticks.coinbase.BTC-USD"] || !venues["ticks.binance.BTC-USD"] {
		t.Fatalf("snapshot covered %v", venues)
	}
}

func TestJSONAndMsgpackClientsSeeTheSameEvents(t *testing.T) {
	s := startHub(t, nil)
	j, m := dial(t, s, protocol.SubprotocolJSON), dial(t, s, protocol.SubprotocolMsgpack)
	j.subscribe(protocol.Command{Policy: protocol.DropOldest}, "jobs.acme.>")
	m.subscribe(protocol.Command{Policy: protocol.DropOldest}, "jobs.acme.>")
	pub := newJobPublisher(t, s)
	for i := range 50 {
		pub.publish("jobs.acme.j_same", i)
	}
	je := j.events(5*time.Second, func(e []protocol.EventFrame) bool { return len(e) == 50 })
	me := m.events(5*time.Second, func(e []protocol.EventFrame) bool { return len(e) == 50 })
	for i := range je {
		a, b := je[i], me[i]
		da, _ := a.DataJSON(protocol.EncodingJSON)
		db, _ := b.DataJSON(protocol.EncodingMsgpack)
		var va, vb any
		_ = json.Unmarshal(da, &va)
		_ = json.Unmarshal(db, &vb)
		if a.Subject != b.Subject || a.Seq != b.Seq || a.Epoch != b.Epoch || a.TS != b.TS || !jsonEqual(va, vb) {
			t.Fatalf("event %d differs:\njson    %+v %s\nmsgpack %+v %s", i, a, da, b, db)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// Ticks are at most once: a resume on them cannot replay, so the hub
// answers recovered: false and delivers the current values instead.
func TestResumeOnTicksFallsBackToTheSnapshot(t *testing.T) {
	s := startHub(t, fastDemo)
	js := newJobPublisher(t, s).js
	testsupport.WaitFor(t, "the last tick of every subject stored", 5*time.Second, func() bool {
		st, err := js.Stream(context.Background(), bus.StreamTicks)
		return err == nil && st.CachedInfo().State.NumSubjects == 20
	})
	c := dial(t, s, "")
	m := resumeFrom(t, c, "ticks.*.ETH-USD", protocol.EventFrame{Subject: "ticks.coinbase.ETH-USD", Epoch: 1, Seq: 5})
	if m.Op != protocol.OpOK || m.Recovered == nil || *m.Recovered {
		t.Fatalf("resume on ticks answered %+v", m)
	}
	evs := c.events(3*time.Second, func(e []protocol.EventFrame) bool { return len(e) >= 2 })
	if !evs[0].Snapshot || !evs[1].Snapshot {
		t.Fatalf("the current values come first: %+v", evs[:2])
	}
}

// A replay much longer than the client's queue is handed over as the queue
// drains: it arrives whole, without gap notices.
func TestResumeLongerThanTheQueueArrivesWhole(t *testing.T) {
	s := startHub(t, func(c *Config) { c.Fanout.MaxQueueMessages = 64 })
	pub := newJobPublisher(t, s)
	c := dial(t, s, "")
	c.subscribe(protocol.Command{Policy: protocol.DropOldest}, "jobs.acme.>")
	pub.publish("jobs.acme.j_0", 0)
	before := c.events(5*time.Second, func(e []protocol.EventFrame) bool { return len(e) == 1 })
	_ = c.conn.CloseNow()
	for i := 1; i <= 1500; i++ { // missed while away: 23 queues' worth
		pub.publish("jobs.acme.j_"+strconv.Itoa(i%4), i)
	}
	c2 := dial(t, s, "")
	if m := resumeFrom(t, c2, "jobs.acme.>", before[0]); m.Op != protocol.OpOK || m.Recovered == nil || !*m.Recovered {
		t.Fatalf("resume answered %+v", m)
	}
	published := pub.published()
	var after []protocol.EventFrame
	deadline := time.Now().Add(20 * time.Second)
	for len(after) == 0 || after[len(after)-1].Seq < published[len(published)-1] {
		m, err := c2.read(time.Until(deadline))
		if err != nil {
			t.Fatalf("after %d events: %v", len(after), err)
		}
		if len(m.Gaps) > 0 {
			t.Fatalf("the replay overflowed: gap notice %+v", m.Gaps[0])
		}
		after = append(after, m.Events...)
	}
	checkExactlyOnce(t, before, after, published)
}

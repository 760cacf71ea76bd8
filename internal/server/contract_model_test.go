package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/streamhub/streamhub/internal/ingest"
	"github.com/streamhub/streamhub/internal/protocol"
)

// The model-based test of the delivery contract (docs/protocol.md,
// "Delivery contract"; issue 9). A seeded random driver runs clients
// against a real hub over real WebSockets: random patterns, policies,
// max_rate and snapshot flags, pauses in reading of random length, slow
// readers, subscriptions replaced by a subscribe with other options, abrupt
// disconnects, and reconnects that resume from the positions the client
// holds. Meanwhile one publisher emits ticks (core NATS, numbered with
// Sh-Epoch/Sh-Seq), chain events (some critical) and jobs that end on a
// critical terminal event (JetStream), logging every message. Each
// client's received stream is then checked against that log
// (contract_model_check_test.go).
//
//	STREAMHUB_MODEL_SEED      the seed (default: the time); printed on failure
//	STREAMHUB_MODEL_DURATION  how long clients are driven (default 20s); `make soak` runs minutes
//	STREAMHUB_MODEL_CLIENTS   how many clients (default 8)
//
// Only the decisions are reproducible from the seed: the interleaving of
// goroutines is not, so a failing seed reproduces the same scenario, not
// necessarily the same failure.

// The model's universe of subjects.
var (
	modelTicks   = []string{"ticks.mdl.t0", "ticks.mdl.t1", "ticks.mdl.t2", "ticks.mdl.t3"}
	modelChain   = []string{"chain.mdl.block", "chain.mdl.tx"}
	modelWorkers = 3 // jobs.mdl.w<k>.j<n>
)

// modelTickEpoch is the publisher's Sh-Epoch for ticks.
const modelTickEpoch = 42

// The hub's queues are small, so that a pause of a few hundred
// milliseconds conflates, drops and disconnects; the socket buffers
// between the hub and its clients are small too, so that a pause reaches
// the hub's queue at all.
const (
	modelQueueMessages = 32
	modelSocketBuffer  = 16 << 10
	modelSnapshotMax   = 16 // fewer than the jobs a run starts: snapshots of jobs get truncated
)

// modelPad fills each payload to about a kilobyte, so that the socket
// buffers between the hub and a paused client hold fewer messages.
var modelPad = strings.Repeat("x", 1000)

type modelConfig struct {
	seed    uint64
	drive   time.Duration // clients connect, pause, disconnect and resume
	settle  time.Duration // publishers go on; clients pause but stay connected
	drain   time.Duration // bound on reading what was published, after the publishers stop
	clients int
	every   time.Duration // the publisher's step: a tick, and a chain or job event every other step
}

func modelConfigFromEnv(t *testing.T) modelConfig {
	cfg := modelConfig{seed: uint64(time.Now().UnixNano()), drive: 20 * time.Second, settle: 2 * time.Second,
		drain: 20 * time.Second, clients: 8, every: 4 * time.Millisecond}
	if v := os.Getenv("STREAMHUB_MODEL_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("STREAMHUB_MODEL_SEED: %v", err)
		}
		cfg.seed = seed
	}
	if v := os.Getenv("STREAMHUB_MODEL_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("STREAMHUB_MODEL_DURATION: %v", err)
		}
		cfg.drive = d
	}
	if v := os.Getenv("STREAMHUB_MODEL_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("STREAMHUB_MODEL_CLIENTS: %q", v)
		}
		cfg.clients = n
	}
	return cfg
}

func TestDeliveryContractModel(t *testing.T) {
	if testing.Short() {
		t.Skip("the model runs for seconds")
	}
	cfg := modelConfigFromEnv(t)
	t.Logf("seed %d (rerun with STREAMHUB_MODEL_SEED=%d), driving %d clients for %v", cfg.seed, cfg.seed, cfg.clients, cfg.drive)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := startHub(t, func(c *Config) {
		c.Listener = smallWriteBufferListener{ln}
		c.Fanout.MaxQueueMessages = modelQueueMessages
		c.Fanout.MaxQueueBytes = 64 << 10
		c.History.MaxSnapshot = modelSnapshotMax
	})
	r := &modelRun{s: s, cfg: cfg, log: &pubLog{}, pubDone: make(chan struct{}), stop: make(chan struct{})}
	start := time.Now()
	r.driveEnd = start.Add(cfg.drive)
	r.pubEnd = r.driveEnd.Add(cfg.settle)
	r.hardEnd = r.pubEnd.Add(cfg.drain)
	transport := &http.Transport{DialContext: smallReadBufferDial}
	defer transport.CloseIdleConnections()

	clients := make([]*modelClient, cfg.clients)
	var wg sync.WaitGroup
	defer func() { // also when the publisher fails the test
		close(r.stop)
		wg.Wait()
	}()
	for i := range clients {
		mc := newModelClient(t, r, i, &http.Client{Transport: transport})
		clients[i] = mc
		wg.Add(1)
		go func() {
			defer wg.Done()
			mc.run()
		}()
	}
	// The publisher runs on the test's goroutine, so its helpers may fail
	// the test; the clients bound themselves by r.hardEnd.
	newModelPublisher(t, s, r.log, rand.New(rand.NewPCG(cfg.seed, 1<<32))).run(r.pubEnd, cfg.every)
	close(r.pubDone)
	wg.Wait() // the clients end by themselves once they have everything
	t.Logf("driven for %v, drained after %v", cfg.drive, time.Since(r.pubEnd).Round(time.Millisecond))

	k := newModelChecker(t, s, r.log)
	for _, mc := range clients {
		k.checkClient(mc)
	}
	t.Log(modelStats(r.log, clients))
	st := s.Hub().Stats()
	t.Logf("hub: delivered %d, conflated %d, dropped %d, disconnects %v; %d subscribes answered internal on a connection closing as a slow consumer",
		st.Delivered, st.Conflated, st.Dropped, st.Disconnects, k.failedOnClose)
	k.report(cfg.seed, clients)
}

// modelRun is what the clients of one run share.
type modelRun struct {
	s                         *Server
	cfg                       modelConfig
	log                       *pubLog
	driveEnd, pubEnd, hardEnd time.Time
	pubDone                   chan struct{} // closed when the publisher has stopped
	stop                      chan struct{} // closed when the test ends: clients stop at once
}

// smallWriteBufferListener gives the hub's side of each connection a
// small socket send buffer. On loopback, Linux sizes it from the 64 KiB
// MSS to megabytes, which would absorb seconds of a paused client's
// traffic before the hub's queue saw any of it.
type smallWriteBufferListener struct{ net.Listener }

func (l smallWriteBufferListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(modelSocketBuffer)
	}
	return conn, err
}

// smallReadBufferDial dials with a small socket receive buffer, so that a
// client that stops reading pushes back on the hub within a few frames
// instead of megabytes.
func smallReadBufferDial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(modelSocketBuffer)
	}
	return conn, err
}

// modelPublisher publishes the model's traffic and logs it.
type modelPublisher struct {
	t    testing.TB
	log  *pubLog
	rng  *rand.Rand
	nc   *nats.Conn
	js   jetstream.JetStream
	tick map[string]uint64 // the last Sh-Seq per tick subject
	jobs []modelJob        // per worker, the job in progress
}

type modelJob struct{ n, left int }

func newModelPublisher(t testing.TB, s *Server, log *pubLog, rng *rand.Rand) *modelPublisher {
	return &modelPublisher{t: t, log: log, rng: rng, nc: natsPublisher(t, s), js: jetStreamOf(t, s),
		tick: make(map[string]uint64), jobs: make([]modelJob, modelWorkers)}
}

// run publishes one step every interval until end.
func (p *modelPublisher) run(end time.Time, every time.Duration) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for step := 0; time.Now().Before(end); step++ {
		p.publishTick(modelTicks[p.rng.IntN(len(modelTicks))])
		if step%2 == 0 {
			if p.rng.IntN(2) == 0 {
				p.publishChain()
			} else {
				p.publishJobStep(p.rng.IntN(modelWorkers))
			}
		}
		if step%16 == 15 {
			if err := p.nc.Flush(); err != nil {
				p.t.Fatalf("flush: %v", err)
			}
		}
		<-ticker.C
	}
	if err := p.nc.Flush(); err != nil {
		p.t.Fatalf("flush: %v", err)
	}
}

// publishTick publishes a tick through core NATS, numbered by the
// publisher (ticks are at most once: their seq is the publisher's).
func (p *modelPublisher) publishTick(subject string) {
	p.tick[subject]++
	seq := p.tick[subject]
	m := nats.NewMsg(subject)
	m.Data = []byte(`{"price":"` + strconv.FormatUint(1000+seq, 10) + `.5","pad":"` + modelPad + `"}`)
	m.Header.Set(ingest.HeaderEpoch, strconv.Itoa(modelTickEpoch))
	m.Header.Set(ingest.HeaderSeq, strconv.FormatUint(seq, 10))
	if err := p.nc.PublishMsg(m); err != nil {
		p.t.Fatalf("publish %s: %v", subject, err)
	}
	p.log.add(subject, pubMsg{seq: seq, at: time.Now()})
}

// publishChain stores a chain event; one in twenty is a critical reorg.
func (p *modelPublisher) publishChain() {
	subject := modelChain[p.rng.IntN(len(modelChain))]
	critical := subject == "chain.mdl.block" && p.rng.IntN(20) == 0
	seq := publishStored(p.t, p.js, subject, []byte(`{"number":1,"pad":"`+modelPad+`"}`), critical)
	p.log.add(subject, pubMsg{seq: seq, critical: critical, at: time.Now()})
}

// publishJobStep advances worker w's job: a few running events, then a
// critical done or failed, then the next job.
func (p *modelPublisher) publishJobStep(w int) {
	j := &p.jobs[w]
	if j.left == 0 {
		j.n++
		j.left = 2 + p.rng.IntN(8)
	}
	j.left--
	subject := "jobs.mdl.w" + strconv.Itoa(w) + ".j" + strconv.Itoa(j.n)
	state, critical := "running", j.left == 0
	if critical {
		state = [...]string{"done", "failed"}[p.rng.IntN(2)]
	}
	seq := publishStored(p.t, p.js, subject, []byte(`{"tenant":"mdl","state":"`+state+`","pad":"`+modelPad+`"}`), critical)
	p.log.add(subject, pubMsg{seq: seq, critical: critical, at: time.Now()})
}

// modelPatterns picks a client's patterns: per family, nothing, the whole
// family, or some of its narrower patterns, never two that overlap (an
// overlapping pattern gets its own copy of each message, docs rule 6).
func modelPatterns(rng *rand.Rand) []string {
	var out []string
	pick := func(wide string, narrow []string) {
		switch rng.IntN(4) {
		case 0: // not this family
		case 1:
			out = append(out, wide)
		default:
			for _, i := range rng.Perm(len(narrow))[:1+rng.IntN(len(narrow)-1)] {
				out = append(out, narrow[i])
			}
		}
	}
	pick([]string{"ticks.mdl.*", "ticks.mdl.>", "ticks.>"}[rng.IntN(3)], modelTicks)
	pick([]string{"chain.mdl.*", "chain.mdl.>"}[rng.IntN(2)], modelChain)
	workers := make([]string, modelWorkers)
	for w := range workers {
		workers[w] = "jobs.mdl.w" + strconv.Itoa(w) + ".*"
	}
	pick([]string{"jobs.mdl.>", "jobs.mdl.*.*"}[rng.IntN(2)], workers)
	if len(out) == 0 {
		out = append(out, "jobs.mdl.>")
	}
	return out
}

// modelPolicies are the policies a subscription may ask for.
var modelPolicies = []protocol.Policy{protocol.PolicyDefault, protocol.KeepLatest, protocol.DropOldest, protocol.Disconnect}

// modelOptions picks a subscription's options; policy, when set, is the
// connection's policy for all its subscriptions (a connection whose
// subscriptions all drop-oldest overflows into gaps rather than 4001).
func modelOptions(rng *rand.Rand, sr *subRec, policy protocol.Policy) {
	sr.policy = policy
	if policy == protocol.PolicyDefault {
		sr.policy = modelPolicies[rng.IntN(len(modelPolicies))]
	}
	if (sr.policy == protocol.PolicyDefault || sr.policy == protocol.KeepLatest) && rng.IntN(3) == 0 {
		sr.maxRate = []float64{2, 5, 20, 100}[rng.IntN(4)]
	}
	sr.snapshot = rng.IntN(3) == 0
}

// modelStats summarizes what a run exercised.
func modelStats(log *pubLog, clients []*modelClient) string {
	published, conns, slow, events, snapshots, gaps, resumed, recovered, truncated, replaced := 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
	for _, msgs := range log.bySubject {
		published += len(msgs)
	}
	ends := map[string]int{}
	for _, mc := range clients {
		for _, c := range mc.conns {
			conns++
			if c.slow > 0 {
				slow++
			}
			ends[endKind(c.end)]++
			for _, r := range c.rx {
				switch {
				case r.gap:
					gaps++
				case r.ev.Snapshot:
					snapshots++
				default:
					events++
				}
			}
			for _, s := range c.subs {
				if c.first(s.pattern) != s && !s.snapshot { // not the snapshot that follows insufficient_state
					replaced++
				}
				if s.resume != nil {
					resumed++
				}
				if s.recovered() {
					recovered++
				}
				if s.answer.Truncated {
					truncated++
				}
			}
		}
	}
	return fmt.Sprintf("published %d; %d connections %s, %d of them slow readers; received %d events, %d snapshot events (%d snapshots truncated), %d gap notices; %d resumes, %d recovered; %d subscriptions replaced",
		published, conns, fmtCounts(ends), slow, events, snapshots, truncated, gaps, resumed, recovered, replaced)
}

// modelCloseStatus is how a connection's read error reads in the log.
func modelCloseStatus(err error) (string, websocket.StatusCode) {
	code := websocket.CloseStatus(err)
	if code == -1 {
		return "torn (" + err.Error() + ")", code
	}
	return "closed " + strconv.Itoa(int(code)), code
}

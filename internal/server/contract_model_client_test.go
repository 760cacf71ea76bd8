package server

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/internal/protocol"
)

// modelClient is one client of the model: a goroutine that connects,
// subscribes, reads with pauses, drops the connection or is dropped, and
// comes back, recording everything. Its decisions come from its own seeded
// source.
type modelClient struct {
	t        testing.TB
	r        *modelRun
	id       int
	rng      *rand.Rand
	http     *http.Client
	patterns []string
	// held is, per pattern, the newest event received on it over all
	// connections: where a resume starts from.
	held  map[string]protocol.EventFrame
	conns []*connRec
	// undrained lists what the last connection was still owed when the
	// run ended (see drained).
	undrained []string
	dialErr   error
}

func newModelClient(t testing.TB, r *modelRun, id int, hc *http.Client) *modelClient {
	rng := rand.New(rand.NewPCG(r.cfg.seed, uint64(id)))
	return &modelClient{t: t, r: r, id: id, rng: rng, http: hc, patterns: modelPatterns(rng), held: make(map[string]protocol.EventFrame)}
}

// run drives the client until its last connection has received everything
// published, or the run's hard end.
func (mc *modelClient) run() {
	lastEnd := ""
	for n := 0; time.Now().Before(mc.r.hardEnd) && !mc.stopped(); n++ {
		final := !time.Now().Before(mc.r.driveEnd)
		deadline := time.Now().Add(200*time.Millisecond + time.Duration(mc.rng.Int64N(int64(3500*time.Millisecond))))
		if final || deadline.After(mc.r.driveEnd) {
			deadline = mc.r.hardEnd // the connection the run ends with
		}
		c, rec, err := mc.connect(n, lastEnd, final)
		if err != nil {
			mc.dialErr = err
			time.Sleep(20 * time.Millisecond) // dial again, until hardEnd
			continue
		}
		mc.conns = append(mc.conns, rec)
		drained := mc.read(c, rec, deadline)
		lastEnd = rec.end
		if drained {
			return
		}
		if mc.rng.IntN(2) == 0 {
			time.Sleep(time.Duration(mc.rng.IntN(100)) * time.Millisecond) // away for a moment
		}
	}
	if len(mc.conns) > 0 {
		mc.undrained = mc.missing(mc.conns[len(mc.conns)-1], nil)
	}
}

func (mc *modelClient) stopped() bool {
	select {
	case <-mc.r.stop:
		return true
	default:
		return false
	}
}

// connect dials, reads hello and subscribes to every pattern. After the
// hub closed the previous connection, or once the run has stopped
// dropping connections, it resumes every pattern it holds a position on
// (ticks answer with a snapshot) and takes a snapshot of the others; after
// a connection it dropped itself, it picks per pattern.
func (mc *modelClient) connect(n int, lastEnd string, final bool) (*wsClient, *connRec, error) {
	sub := []string{protocol.SubprotocolJSON, protocol.SubprotocolMsgpack}[mc.rng.IntN(2)]
	c, err := dialConn(mc.t, mc.r.s, sub, &websocket.DialOptions{HTTPClient: mc.http})
	if err != nil {
		return nil, nil, err
	}
	if m, err := c.read(5 * time.Second); err != nil || m.Op != protocol.OpHello {
		_ = c.conn.CloseNow()
		return nil, nil, fmt.Errorf("hello: %v, %v", m.Op, err)
	}
	rec := &connRec{n: n, opened: time.Now()}
	rec.reading = rec.opened
	if mc.rng.IntN(4) == 0 { // a slow reader, that never pauses
		rec.slow = time.Duration(30+mc.rng.IntN(170)) * time.Millisecond
	}
	mustResume := final || (n > 0 && lastEnd != "cut")
	policy := protocol.PolicyDefault // each subscription picks its own
	if mc.rng.IntN(3) == 0 {
		policy = modelPolicies[1+mc.rng.IntN(len(modelPolicies)-1)]
	}
	for _, p := range mc.patterns {
		sr := &subRec{pattern: p}
		modelOptions(mc.rng, sr, policy)
		if pos, ok := mc.held[p]; ok && (mustResume || mc.rng.IntN(4) != 0) {
			sr.resume, sr.snapshot = &protocol.ResumePosition{Subject: pos.Subject, Epoch: pos.Epoch, Seq: pos.Seq}, false
		} else if mustResume {
			sr.snapshot = true
		}
		if err := mc.subscribe(c, rec, sr); err != nil {
			rec.end, rec.code = modelCloseStatus(err)
			_ = c.conn.CloseNow()
			return c, rec, nil
		}
	}
	return c, rec, nil
}

func (mc *modelClient) subscribe(c *wsClient, rec *connRec, sr *subRec) error {
	cmd := protocol.Command{Op: protocol.OpSubscribe, Subjects: []string{sr.pattern}, Policy: sr.policy, MaxRate: sr.maxRate, Snapshot: sr.snapshot}
	if sr.resume != nil {
		cmd.Resume = []protocol.ResumePosition{*sr.resume}
	}
	sr.sent = time.Now() // before the hub can have it: a message acked earlier is stored earlier
	rec.subs = append(rec.subs, sr)
	id, err := c.trySend(cmd)
	sr.id = id
	return err
}

// resubscribe subscribes again to one of the connection's patterns, which
// replaces its options (docs, "subscribe"), when that keeps what the
// checker expects of it: keep-latest before and after, with another
// max_rate (or none), so that the pacer of the old subscription retires
// while messages flow.
func (mc *modelClient) resubscribe(c *wsClient, rec *connRec) error {
	sr := rec.sub(mc.patterns[mc.rng.IntN(len(mc.patterns))])
	if sr == nil || !sr.answered || sr.answer.Op != protocol.OpOK || sr.policy != protocol.KeepLatest && sr.maxRate == 0 {
		return nil
	}
	again := &subRec{pattern: sr.pattern, policy: protocol.KeepLatest, maxRate: []float64{0, 2, 5, 20}[mc.rng.IntN(4)]}
	return mc.subscribe(c, rec, again)
}

// frame is what the connection's reader hands the client's loop.
type frame struct {
	m   protocol.ServerMessage
	err error
}

// read is the client's loop over one connection until deadline: it takes
// the frames its reader goroutine reads, one at a time (so that while it
// pauses the hub's writes back up), pauses now and then while the
// publisher runs, and after the publisher has stopped reads until it has
// everything it is owed. It reports whether it got there.
func (mc *modelClient) read(c *wsClient, rec *connRec, deadline time.Time) (drained bool) {
	defer func() { _ = c.conn.CloseNow() }()
	if rec.end != "" {
		return false // closed while subscribing
	}
	frames := make(chan frame)
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			m, err := c.read(time.Until(deadline) + 5*time.Second) // the loop cuts first
			select {
			case frames <- frame{m, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		_ = c.conn.CloseNow()
		<-readerDone
	}()

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	hi := make(map[string]uint64) // per subject, the newest seq received or announced as dropped
	published := false            // the publisher has stopped: read until owed nothing
	pubDone := mc.r.pubDone
	nextPause := time.Now().Add(mc.pauseEvery())
	for {
		if published && len(mc.missing(rec, hi)) == 0 {
			rec.end = "drained"
			return true
		}
		if !published && rec.slow == 0 && !time.Now().Before(nextPause) {
			d := min(mc.pause(), time.Until(deadline))
			time.Sleep(d) // the model's pause: the reader holds one frame, the hub's queue fills
			rec.paused += d
			rec.reading = time.Now()
			nextPause = time.Now().Add(mc.pauseEvery())
			if mc.rng.IntN(4) == 0 {
				_ = mc.resubscribe(c, rec) // an error shows as the reader's
			}
		}
		select {
		case <-mc.r.stop:
			rec.end = "cut"
			return false
		case <-timer.C:
			rec.end = "cut"
			return false
		case <-pubDone:
			pubDone, published = nil, true
		case f := <-frames:
			if f.err != nil {
				rec.end, rec.code = modelCloseStatus(f.err)
				rec.ended = time.Now()
				return false
			}
			if err := mc.handle(c, rec, f.m, hi); err != nil {
				rec.end, rec.code = modelCloseStatus(err)
				return false
			}
			if !published {
				time.Sleep(rec.slow) // a slow reader still reads: the hub must tell it 4001, not tear it down
			}
		}
	}
}

// pauseEvery is how long the client reads before its next pause.
func (mc *modelClient) pauseEvery() time.Duration {
	return time.Duration(20+mc.rng.IntN(600)) * time.Millisecond
}

// pause is how long it stops reading: mostly briefly, now and then for
// longer than the hub's close grace.
func (mc *modelClient) pause() time.Duration {
	if mc.rng.IntN(8) == 0 {
		return time.Duration(500+mc.rng.IntN(2000)) * time.Millisecond
	}
	return time.Duration(10+mc.rng.IntN(300)) * time.Millisecond
}

// handle records one frame. An insufficient_state answer to a resume is
// followed, as the docs say, by a subscribe with a snapshot.
func (mc *modelClient) handle(c *wsClient, rec *connRec, m protocol.ServerMessage, hi map[string]uint64) error {
	now := time.Now()
	switch m.Op {
	case protocol.OpBatch:
		for _, g := range m.Gaps {
			rec.rx = append(rec.rx, rxItem{gap: true, g: g, at: now})
			hi[g.Subject] = max(hi[g.Subject], g.To)
		}
		for _, ev := range m.Events {
			ev.Data = nil
			rec.rx = append(rec.rx, rxItem{ev: ev, at: now})
			hi[ev.Subject] = max(hi[ev.Subject], ev.Seq)
			if p, ok := rec.patternOf(ev.Subject); ok {
				if held, ok := mc.held[p]; !ok || held.Epoch != ev.Epoch || held.Seq < ev.Seq {
					mc.held[p] = ev
				}
			}
		}
	case protocol.OpOK, protocol.OpError:
		for _, sr := range rec.subs {
			if !m.HasID || sr.id != m.ID {
				continue
			}
			sr.answered, sr.answer, sr.answeredAt = true, m, len(rec.rx)
			if m.Op == protocol.OpError && m.Code == protocol.CodeInsufficientState {
				again := *sr
				again.resume, again.snapshot, again.answered = nil, true, false
				return mc.subscribe(c, rec, &again)
			}
		}
	}
	return nil
}

// missing lists what rec is still owed once the publisher has stopped:
// per pattern of a stored family, the newest message published on it
// (stream order: having it means having had everything before); per tick
// subject, its newest tick. hi is what rec has (nil: compute it).
func (mc *modelClient) missing(rec *connRec, hi map[string]uint64) []string {
	if hi == nil {
		hi = make(map[string]uint64)
		for _, r := range rec.rx {
			if r.gap {
				hi[r.g.Subject] = max(hi[r.g.Subject], r.g.To)
			} else {
				hi[r.ev.Subject] = max(hi[r.ev.Subject], r.ev.Seq)
			}
		}
	}
	log := mc.r.log
	log.mu.Lock()
	defer log.mu.Unlock()
	var out []string
	for _, p := range mc.patterns {
		var want []string // subjects whose newest message is owed
		subjects := log.subjects(p)
		if storedFamily(p) {
			var newest pubMsg
			for _, s := range subjects {
				if m, _ := log.newest(s); m.seq > newest.seq {
					newest, want = m, []string{s}
				}
			}
			// A connection that resumed with recovered:true from at or
			// after the newest message held it already (docs rule 6): the
			// resume rightly does not repeat it.
			if sr := rec.sub(p); sr != nil && sr.recovered() && sr.resume != nil && newest.seq <= sr.resume.Seq {
				want = nil
			}
		} else {
			want = subjects
		}
		for _, s := range want {
			if m, _ := log.newest(s); hi[s] < m.seq {
				out = append(out, s+" #"+fmtU64(m.seq))
			}
		}
	}
	return out
}

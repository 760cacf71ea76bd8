package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamhub/streamhub/internal/bus"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/subject"
)

// The checker of the delivery-contract model: each connection's received
// stream against the published log, by the properties of issue 9, which
// are the rules of docs/protocol.md, "Delivery contract":
//
//  1. order: per subject and epoch, seq strictly increases on a connection;
//     a stored pattern's events come in stream order, its snapshot first;
//  2. critical: every critical message in a connection's range (below) is
//     delivered once; one published after the range was not yet owed, and
//     the next connection resumes from the range's end, so its replay must
//     hold it;
//  3. drop-oldest (and disconnect): every message in the range is delivered
//     or announced in a gap, never both (disconnect: never a gap);
//  4. keep-latest: a message in the range may be missing only when a newer
//     one of its subject exists (it was superseded); the newest of each
//     subject, once the range reaches it, must be delivered or announced;
//     the last connection reads until its range reaches everything
//     published, so it ends on the newest value of every subject;
//  5. recovered:true: every message stored after the resume position before
//     the subscribe was sent is delivered (or, under a policy that drops,
//     announced), and nothing at or before the position is repeated;
//  6. subscription: every event and gap is on a subscribed subject, and is a
//     message that was published, with its critical flag.
//
// Besides: snapshots of stored patterns are not stale and say truncated
// when they leave subjects out (docs rule 8), connections end only as the
// model or a slow consumer makes them end, and subscribes are answered ok
// (or insufficient_state, for a resume).
//
// A connection's range on a pattern is what it was owed without doubt:
// from the resume position (when the resume was recovered) or from its
// first live event, up to the newest seq it received or was told it lost.
// For stored families, whose seq is the stream's, that range spans the
// pattern (a subscription's events leave in stream order); for ticks it is
// per subject. What lies beyond the range when a connection ends is owed
// by the next one only through a resume, which the model always makes
// after the hub closed a connection.

// A connection torn down without a close frame breaks docs rule 7 when
// the client had been reading, without a pause, for longer than
// modelTornSlack plus the time its pace takes over modelBacklogFrames:
// the hub finishes the write in flight within its 1 s grace, but only
// after the frames the sockets hold ahead of it (up to about 64 KiB here,
// some 60 frames of one event), which a slow reader takes longer than the
// grace to get through. So a slow reader may be torn down; a reader that
// keeps pace may not.
const (
	modelTornSlack     = 3 * time.Second
	modelBacklogFrames = 60
)

type modelViolation struct {
	client, conn int
	rule         string
	subject      string
	seq          uint64
	msg          string
}

type modelChecker struct {
	t      testing.TB
	log    *pubLog
	epochs map[string]uint64 // per family's first token
	out    []modelViolation
	// failedOnClose counts subscribes answered internal because the hub
	// was closing the connection.
	failedOnClose int
}

func newModelChecker(t testing.TB, s *Server, log *pubLog) *modelChecker {
	k := &modelChecker{t: t, log: log, epochs: map[string]uint64{"ticks": modelTickEpoch}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for family, stream := range map[string]string{"chain": bus.StreamChain, "jobs": bus.StreamJobs} {
		e, err := s.Router().Epoch(ctx, stream)
		if err != nil {
			t.Fatalf("epoch of %s: %v", stream, err)
		}
		k.epochs[family] = e
	}
	return k
}

func (k *modelChecker) epochOf(subject string) uint64 {
	family, _, _ := strings.Cut(subject, ".")
	return k.epochs[family]
}

func (k *modelChecker) checkClient(mc *modelClient) {
	for _, c := range mc.conns {
		k.checkConn(mc.id, c)
	}
	if len(mc.undrained) > 0 {
		k.out = append(k.out, modelViolation{client: mc.id, conn: len(mc.conns) - 1, rule: "4 keep-latest (drain)",
			msg: fmt.Sprintf("after the publisher stopped, the last connection never got the newest of: %s", strings.Join(mc.undrained, ", "))})
	}
	if len(mc.conns) == 0 {
		k.out = append(k.out, modelViolation{client: mc.id, rule: "driver", msg: fmt.Sprintf("never connected: %v", mc.dialErr)})
	}
}

func (k *modelChecker) checkConn(client int, c *connRec) {
	bad := func(rule, subject string, seq uint64, format string, args ...any) {
		k.out = append(k.out, modelViolation{client: client, conn: c.n, rule: rule, subject: subject, seq: seq, msg: fmt.Sprintf(format, args...)})
	}
	switch kind := endKind(c.end); {
	case kind == "torn" && c.ended.Sub(c.reading) > modelTornSlack+modelBacklogFrames*c.slow:
		bad("7 close", "", 0, "the connection was torn down without a close frame though the client had been reading for %v (paused %v in all, slow %v)",
			c.ended.Sub(c.reading).Round(time.Millisecond), c.paused, c.slow)
	case kind == "cut", kind == "drained", kind == "torn", kind == "closed 4001":
	default:
		bad("7 close", "", 0, "the connection ended %s; only 4001 (slow consumer) or a torn connection after its grace are expected", c.end)
	}
	hubClosed := endKind(c.end) == "closed 4001" || endKind(c.end) == "torn"
	for _, sr := range c.subs {
		switch {
		case !sr.answered:
		case sr.answer.Op == protocol.OpError && sr.answer.Code == protocol.CodeInternal && (hubClosed || sr.answeredAt == len(c.rx)):
			// A subscribe the hub was still applying when it closed the
			// client (as a slow consumer) fails with internal; the close
			// that follows says what to do (unless the client dropped the
			// connection first: then nothing came after the answer).
			k.failedOnClose++
		case sr.answer.Op == protocol.OpError && !(sr.resume != nil && sr.answer.Code == protocol.CodeInsufficientState):
			bad("answer", sr.pattern, 0, "subscribe %s", sr)
		case sr.resume != nil && sr.answer.Op == protocol.OpOK && storedFamily(sr.pattern) != sr.recovered():
			bad("5 recovered", sr.pattern, 0, "resume answered recovered=%v on %s (stored families recover, ticks do not)", sr.recovered(), sr.pattern)
		}
	}

	// Rules 1 and 6, item by item.
	last := make(map[string]uint64)     // per subject
	lastLive := make(map[string]uint64) // per stored pattern
	delivered := make(map[string]map[uint64]int)
	gaps := make(map[string][]protocol.GapNotice)
	for _, r := range c.rx {
		s := r.subject()
		p, ok := c.patternOf(s)
		if !ok {
			bad("6 subscription", s, r.ev.Seq, "%s arrived outside the subscriptions", r)
			continue
		}
		if r.gap {
			k.checkGap(bad, c.sub(p), r)
			gaps[s] = append(gaps[s], r.g)
			continue
		}
		ev := r.ev
		m, ok := k.log.find(s, ev.Seq)
		switch {
		case !ok || ev.Epoch != k.epochOf(s):
			bad("6 subscription", s, ev.Seq, "%s (epoch %d) was never published", r, ev.Epoch)
			continue
		case m.critical != ev.Critical:
			bad("2 critical", s, ev.Seq, "%s: published with critical=%v", r, m.critical)
		}
		if prev, ok := last[s]; ok && ev.Seq <= prev {
			bad("1 order", s, ev.Seq, "%s after #%d", r, prev)
		}
		last[s] = ev.Seq
		// A stored pattern's events leave in stream order: its snapshot
		// first, then seq increasing across its subjects.
		if storedFamily(s) {
			prev, live := lastLive[p]
			switch {
			case ev.Snapshot && live:
				bad("1 order", s, ev.Seq, "snapshot event %s after the live #%d on %s", r, prev, p)
			case !ev.Snapshot && live && ev.Seq <= prev:
				bad("1 order", s, ev.Seq, "%s after #%d on %s: out of stream order", r, prev, p)
			case !ev.Snapshot:
				lastLive[p] = ev.Seq
			}
		}
		if delivered[s] == nil {
			delivered[s] = make(map[uint64]int)
		}
		delivered[s][ev.Seq]++
	}

	// Rules 2 to 5, over each pattern's range.
	for _, p := range subscribedPatterns(c) {
		sr, first := c.sub(p), c.first(p)
		k.checkSnapshot(bad, c, first, gaps)
		lo, hi, ok := connRange(c, p, "")
		if storedFamily(p) {
			if first.recovered() {
				lo, ok = first.resume.Seq, true
				for _, r := range c.rx {
					if !r.gap && !r.ev.Snapshot && r.ev.Seq <= lo && subject.Match(p, r.ev.Subject) {
						bad("5 recovered", r.ev.Subject, r.ev.Seq, "%s repeated after a recovered resume from #%d", r, lo)
					}
				}
			}
			if !ok {
				continue
			}
			for _, s := range k.log.subjects(p) {
				for _, m := range k.log.between(s, lo, hi) {
					replay := first.recovered() && m.at.Before(first.sent)
					k.classify(bad, sr, s, m, delivered[s][m.seq], gapped(gaps[s], m.seq), replay)
				}
			}
			continue
		}
		for _, s := range k.log.subjects(p) {
			lo, hi, ok := connRange(c, p, s)
			if !ok {
				continue
			}
			for _, m := range k.log.between(s, lo, hi) {
				k.classify(bad, sr, s, m, delivered[s][m.seq], gapped(gaps[s], m.seq), false)
			}
		}
	}
}

// checkGap checks a gap notice wherever it falls: it announces published
// messages, none of them critical, of a subscription whose policy drops.
func (k *modelChecker) checkGap(bad func(rule, subject string, seq uint64, format string, args ...any), sr *subRec, r rxItem) {
	g := r.g
	dropped := k.log.between(g.Subject, g.From-1, g.To)
	switch {
	case g.Epoch != k.epochOf(g.Subject) || g.From > g.To || len(dropped) == 0:
		bad("3 drop-oldest", g.Subject, g.From, "%s (epoch %d) announces nothing that was published", r, g.Epoch)
	case sr.policyFor(g.Subject) == protocol.Disconnect:
		bad("3 drop-oldest", g.Subject, g.From, "%s under the disconnect policy (%s)", r, sr)
	}
	for _, m := range dropped {
		if m.critical {
			bad("2 critical", g.Subject, m.seq, "critical #%d announced as dropped by %s", m.seq, r)
		}
	}
}

// checkSnapshot checks a snapshot of a stored pattern (docs rule 8): each
// snapshot event is at least as new as everything published on its
// subject before the subscribe was sent, and unless the answer said
// truncated, every subject published on by then is in it (delivered, or
// announced as dropped), once a live event shows it was handed over whole.
// (Ticks are stored for snapshots after their live delivery, so what was
// published just before the subscribe may not be stored yet.)
func (k *modelChecker) checkSnapshot(bad func(rule, subject string, seq uint64, format string, args ...any), c *connRec, sr *subRec, gaps map[string][]protocol.GapNotice) {
	if !sr.snapshot || sr.resume != nil || !sr.answered || sr.answer.Op != protocol.OpOK || !storedFamily(sr.pattern) {
		return
	}
	snap := make(map[string]uint64)
	whole := false
	for _, r := range c.rx {
		if r.gap || !subject.Match(sr.pattern, r.ev.Subject) {
			continue
		}
		if !r.ev.Snapshot {
			whole = true
			break
		}
		snap[r.ev.Subject] = r.ev.Seq
	}
	for _, s := range k.log.subjects(sr.pattern) {
		var before pubMsg // the newest published on s before the subscribe
		for _, m := range k.log.bySubject[s] {
			if !m.at.Before(sr.sent) {
				break
			}
			before = m
		}
		seq, in := snap[s]
		switch {
		case in && seq < before.seq:
			bad("8 snapshot", s, seq, "snapshot #%d, though #%d was published before the subscribe (%s)", seq, before.seq, sr)
		case !in && before.seq > 0 && whole && !sr.answer.Truncated && len(gaps[s]) == 0:
			bad("8 snapshot", s, before.seq, "left out of a snapshot not flagged truncated (%s)", sr)
		}
	}
}

// classify checks one published message m of a connection's range: it was
// delivered n times, announced as dropped or not, and part of a recovered
// resume's replay or not.
func (k *modelChecker) classify(bad func(rule, subject string, seq uint64, format string, args ...any), sr *subRec, s string, m pubMsg, n int, dropped, replay bool) {
	policy := sr.policyFor(s)
	newest, _ := k.log.newest(s)
	switch {
	case n > 1:
		bad("2 critical", s, m.seq, "#%d (critical %v) delivered %d times", m.seq, m.critical, n)
	case n == 1 && dropped:
		bad("3 drop-oldest", s, m.seq, "#%d delivered and announced as dropped", m.seq)
	case n == 1:
	case dropped && m.critical:
		bad("2 critical", s, m.seq, "critical #%d announced as dropped", m.seq)
	case dropped && policy == protocol.Disconnect:
		bad("3 drop-oldest", s, m.seq, "#%d announced as dropped under the disconnect policy", m.seq)
	case dropped:
	case m.critical:
		bad("2 critical", s, m.seq, "critical #%d neither delivered nor announced, though the connection got past it (%s)", m.seq, sr)
	case replay:
		bad("5 recovered", s, m.seq, "#%d, stored before the resume, missing from the replay (%s)", m.seq, sr)
	case policy != protocol.KeepLatest:
		bad("3 drop-oldest", s, m.seq, "#%d lost without a gap notice under %v (%s)", m.seq, policy, sr)
	case newest.seq == m.seq:
		bad("4 keep-latest", s, m.seq, "#%d, the newest on its subject, neither delivered nor announced (%s)", m.seq, sr)
	}
}

// connRange returns the range of c on pattern p (only "") or on its
// subject only: from its first live event (exclusive) to the newest seq it
// received or was told it lost. ok is false when nothing live arrived.
func connRange(c *connRec, p, only string) (lo, hi uint64, ok bool) {
	for _, r := range c.rx {
		s := r.subject()
		if only != "" && s != only || only == "" && !subject.Match(p, s) {
			continue
		}
		if r.gap {
			hi = max(hi, r.g.To)
			continue
		}
		if !ok && !r.ev.Snapshot {
			lo, ok = r.ev.Seq-1, true
		}
		hi = max(hi, r.ev.Seq)
	}
	return lo, hi, ok
}

func gapped(gaps []protocol.GapNotice, seq uint64) bool {
	for _, g := range gaps {
		if g.From <= seq && seq <= g.To {
			return true
		}
	}
	return false
}

func subscribedPatterns(c *connRec) []string {
	var out []string
	for _, s := range c.subs {
		if !slices.Contains(out, s.pattern) {
			out = append(out, s.pattern)
		}
	}
	return out
}

// endKind is a connection's end without its details.
func endKind(end string) string {
	kind, _, _ := strings.Cut(end, " (")
	return kind
}

// The checker itself, on hand-made streams: it must pass a correct one and
// name the rule each broken one breaks.
func TestDeliveryContractCheckerFindsViolations(t *testing.T) {
	at := time.Unix(1000, 0)
	log := &pubLog{}
	for _, m := range []struct {
		subject  string
		seq      uint64
		critical bool
	}{{"chain.mdl.tx", 1, false}, {"chain.mdl.tx", 2, false}, {"chain.mdl.tx", 3, true}, {"chain.mdl.tx", 4, false},
		{"chain.mdl.block", 5, false}, {"chain.mdl.tx", 6, false}, {"chain.mdl.block", 7, false}} {
		log.add(m.subject, pubMsg{seq: m.seq, critical: m.critical, at: at})
	}
	for seq := uint64(1); seq <= 5; seq++ {
		log.add("ticks.mdl.t0", pubMsg{seq: seq, at: at})
	}
	for seq := uint64(1); seq <= 4; seq++ { // the last one after the snapshots' subscribe
		log.add("jobs.mdl.w0.j"+fmtU64(2-seq%2), pubMsg{seq: seq, at: at.Add(time.Duration(seq/4) * 2 * time.Second)})
	}
	epochs := map[string]uint64{"ticks": modelTickEpoch, "chain": 7, "jobs": 8}
	ev := func(subject string, seq uint64) rxItem {
		m, _ := log.find(subject, seq)
		return rxItem{ev: protocol.EventFrame{Subject: subject, Epoch: epochs[strings.Split(subject, ".")[0]], Seq: seq, Critical: m.critical}}
	}
	tx := func(seqs ...uint64) []rxItem {
		var out []rxItem
		for _, s := range seqs {
			subject := "chain.mdl.tx"
			if s == 5 || s == 7 {
				subject = "chain.mdl.block"
			}
			out = append(out, ev(subject, s))
		}
		return out
	}
	gap := func(subject string, from, to uint64) rxItem {
		return rxItem{gap: true, g: protocol.GapNotice{Subject: subject, Epoch: epochs[strings.Split(subject, ".")[0]], From: from, To: to}}
	}
	ok := true
	resumed := func(seq uint64) *subRec {
		return &subRec{pattern: "chain.mdl.>", policy: protocol.KeepLatest, sent: at.Add(time.Second), answered: true,
			resume: &protocol.ResumePosition{Subject: "chain.mdl.tx", Epoch: 7, Seq: seq}, answer: protocol.ServerMessage{Op: protocol.OpOK, Recovered: &ok}}
	}
	snapshot := func(truncated bool) *subRec {
		return &subRec{pattern: "jobs.mdl.>", snapshot: true, sent: at.Add(time.Second), answered: true,
			answer: protocol.ServerMessage{Op: protocol.OpOK, Truncated: truncated}}
	}
	job := func(seq uint64) rxItem { return ev("jobs.mdl.w0.j"+fmtU64(2-seq%2), seq) } // j1: 1, 3; j2: 2, 4
	snap := func(seq uint64) rxItem {
		r := job(seq)
		r.ev.Snapshot = true
		return r
	}
	invented, lost := ev("chain.mdl.tx", 4), ev("chain.mdl.tx", 3)
	invented.ev.Critical, lost.ev.Critical = true, false
	for _, tc := range []struct {
		name string
		sub  *subRec
		rx   []rxItem
		end  string
		want string // the rule of the first violation; "" for none
	}{
		{"drop-oldest whole", &subRec{pattern: "chain.mdl.>", policy: protocol.DropOldest}, tx(1, 2, 3, 4, 5, 6, 7), "cut", ""},
		{"drop-oldest with its gap", &subRec{pattern: "chain.mdl.tx", policy: protocol.DropOldest}, append(tx(1, 2, 3), append([]rxItem{gap("chain.mdl.tx", 4, 4)}, tx(6)...)...), "closed 4001", ""},
		{"drop-oldest loses one silently", &subRec{pattern: "chain.mdl.>", policy: protocol.DropOldest}, tx(1, 2, 3, 5, 6), "cut", "3 drop-oldest"},
		{"disconnect announces a gap", &subRec{pattern: "chain.mdl.tx", policy: protocol.Disconnect}, append([]rxItem{gap("chain.mdl.tx", 1, 2)}, tx(3, 4)...), "cut", "3 drop-oldest"},
		{"keep-latest skips superseded values", &subRec{pattern: "chain.mdl.>", policy: protocol.KeepLatest}, tx(1, 3, 6, 7), "drained", ""},
		{"keep-latest misses the newest", &subRec{pattern: "chain.mdl.>", policy: protocol.KeepLatest}, tx(1, 3, 4, 7), "drained", "4 keep-latest"},
		{"a critical event is overtaken", &subRec{pattern: "chain.mdl.>", policy: protocol.KeepLatest}, tx(1, 4, 6, 7), "cut", "2 critical"},
		{"a gap announces nothing published", &subRec{pattern: "chain.mdl.tx", policy: protocol.DropOldest}, append(tx(1), gap("chain.mdl.tx", 5, 5)), "cut", "3 drop-oldest"},
		{"a critical event announced as dropped", &subRec{pattern: "chain.mdl.tx", policy: protocol.DropOldest}, append(tx(1, 2), gap("chain.mdl.tx", 3, 3)), "cut", "2 critical"},
		{"a critical flag lost", &subRec{pattern: "chain.mdl.tx"}, append(tx(1, 2), lost), "cut", "2 critical"},
		{"a critical flag invented", &subRec{pattern: "chain.mdl.tx"}, append(tx(1, 2, 3), invented), "cut", "2 critical"},
		{"seq goes backwards", &subRec{pattern: "chain.mdl.>", policy: protocol.DropOldest}, tx(1, 3, 2), "cut", "1 order"},
		{"out of stream order", &subRec{pattern: "chain.mdl.>", policy: protocol.KeepLatest}, tx(1, 2, 3, 5, 4, 6, 7), "cut", "1 order"},
		{"a recovered resume that got nothing", resumed(7), nil, "cut", ""},
		{"outside the subscription", &subRec{pattern: "chain.mdl.tx"}, tx(1, 2, 5), "cut", "6 subscription"},
		{"a recovered replay is whole", resumed(2), tx(3, 4, 5, 6, 7), "cut", ""},
		{"a recovered replay conflates", resumed(2), tx(3, 4, 6, 7), "cut", "5 recovered"},
		{"a recovered replay repeats", resumed(3), tx(3, 4, 5, 6, 7), "cut", "5 recovered"},
		{"ticks lose one without a gap", &subRec{pattern: "ticks.mdl.*", policy: protocol.DropOldest},
			[]rxItem{ev("ticks.mdl.t0", 2), ev("ticks.mdl.t0", 3), ev("ticks.mdl.t0", 5)}, "cut", "3 drop-oldest"},
		{"a snapshot", snapshot(false), []rxItem{snap(2), snap(3), job(4)}, "cut", ""},
		{"a stale snapshot", snapshot(false), []rxItem{snap(1), snap(2), job(4)}, "cut", "8 snapshot"},
		{"a snapshot short of a subject", snapshot(false), []rxItem{snap(3), job(4)}, "cut", "8 snapshot"},
		{"a truncated snapshot", snapshot(true), []rxItem{snap(3), job(4)}, "cut", ""},
		{"closed for a write timeout", &subRec{pattern: "chain.mdl.tx"}, tx(1), "closed 4002", "7 close"},
		{"torn down while reading", &subRec{pattern: "chain.mdl.tx"}, tx(1), "torn (EOF)", "7 close"},
		{"torn down after a pause", &subRec{pattern: "chain.mdl.tx"}, tx(1), "torn (EOF)", ""},
	} {
		k := &modelChecker{t: t, log: log, epochs: epochs}
		c := &connRec{subs: []*subRec{tc.sub}, rx: tc.rx, end: tc.end, reading: at, ended: at.Add(4 * time.Second)}
		if strings.Contains(tc.name, "pause") {
			c.reading = at.Add(3 * time.Second)
		}
		k.checkConn(0, c)
		got := ""
		if len(k.out) > 0 {
			got = k.out[0].rule
		}
		if got != tc.want {
			t.Errorf("%s: first violation %q, want %q (all: %+v)", tc.name, got, tc.want, k.out)
		}
	}
}

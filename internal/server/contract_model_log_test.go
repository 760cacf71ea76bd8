package server

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/streamhub/streamhub/internal/fanout"
	"github.com/streamhub/streamhub/internal/protocol"
	"github.com/streamhub/streamhub/internal/subject"
)

// What the delivery-contract model (contract_model_test.go) records: the
// log of everything published, and everything each client sent and
// received, connection by connection; and the trace a failure prints.

// pubMsg is one published message as its publisher saw it.
type pubMsg struct {
	seq      uint64
	critical bool
	at       time.Time // when the publish returned (for JetStream: acked, so stored)
}

// pubLog is every message published during a model run, per subject in
// seq order. Publishers append while clients run; the checker reads it
// after the publishers have stopped.
type pubLog struct {
	mu        sync.Mutex
	bySubject map[string][]pubMsg
}

func (l *pubLog) add(subject string, m pubMsg) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.bySubject == nil {
		l.bySubject = make(map[string][]pubMsg)
	}
	l.bySubject[subject] = append(l.bySubject[subject], m)
}

// find returns subject's message seq.
func (l *pubLog) find(subject string, seq uint64) (pubMsg, bool) {
	msgs := l.bySubject[subject]
	i, ok := slices.BinarySearchFunc(msgs, seq, func(m pubMsg, seq uint64) int { return cmpU64(m.seq, seq) })
	if !ok {
		return pubMsg{}, false
	}
	return msgs[i], true
}

// between returns subject's messages with lo < seq <= hi.
func (l *pubLog) between(subject string, lo, hi uint64) []pubMsg {
	if hi <= lo {
		return nil
	}
	msgs := l.bySubject[subject]
	i, _ := slices.BinarySearchFunc(msgs, lo+1, func(m pubMsg, seq uint64) int { return cmpU64(m.seq, seq) })
	j, _ := slices.BinarySearchFunc(msgs, hi+1, func(m pubMsg, seq uint64) int { return cmpU64(m.seq, seq) })
	return msgs[i:j]
}

// newest returns subject's last message.
func (l *pubLog) newest(subject string) (pubMsg, bool) {
	msgs := l.bySubject[subject]
	if len(msgs) == 0 {
		return pubMsg{}, false
	}
	return msgs[len(msgs)-1], true
}

// subjects returns the published subjects that pattern matches, sorted.
func (l *pubLog) subjects(pattern string) []string {
	var out []string
	for s := range l.bySubject {
		if subject.Match(pattern, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// storedFamily reports whether subject or pattern is positioned by a
// JetStream stream (chain, jobs) rather than per subject (ticks).
func storedFamily(subject string) bool {
	return strings.HasPrefix(subject, "chain.") || strings.HasPrefix(subject, "jobs.")
}

// subRec is one subscribe command of a connection and its answer.
type subRec struct {
	pattern  string
	policy   protocol.Policy
	maxRate  float64
	snapshot bool
	resume   *protocol.ResumePosition
	id       uint64
	sent     time.Time
	answered bool
	// answeredAt is how many items the connection had received when the
	// answer came.
	answeredAt int
	answer     protocol.ServerMessage
}

// recovered reports whether the subscribe was answered ok with
// recovered:true.
func (s *subRec) recovered() bool {
	return s.answered && s.answer.Op == protocol.OpOK && s.answer.Recovered != nil && *s.answer.Recovered
}

// policyFor is the policy the subscription applies to subject, as
// docs/protocol.md defines it: max_rate implies keep-latest, and "default"
// is the subject prefix's default.
func (s *subRec) policyFor(subject string) protocol.Policy {
	switch {
	case s.maxRate > 0:
		return protocol.KeepLatest
	case s.policy != protocol.PolicyDefault:
		return s.policy
	}
	for _, pp := range fanout.DefaultPrefixPolicies {
		if strings.HasPrefix(subject, pp.Prefix) {
			p, _ := protocol.ParsePolicy(pp.Policy.String()) // the same names on both sides
			return p
		}
	}
	return protocol.DropOldest
}

func (s *subRec) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %v", s.pattern, s.policy)
	if s.maxRate > 0 {
		fmt.Fprintf(&b, " max_rate=%g", s.maxRate)
	}
	if s.snapshot {
		b.WriteString(" snapshot")
	}
	if s.resume != nil {
		fmt.Fprintf(&b, " resume=%s@%d", s.resume.Subject, s.resume.Seq)
	}
	switch {
	case !s.answered:
		b.WriteString(" → (no answer)")
	case s.answer.Op == protocol.OpError:
		fmt.Fprintf(&b, " → error %s", s.answer.Code)
	default:
		b.WriteString(" → ok")
		if s.answer.Recovered != nil {
			fmt.Fprintf(&b, " recovered=%v", *s.answer.Recovered)
		}
		if s.answer.Truncated {
			b.WriteString(" truncated")
		}
	}
	return b.String()
}

// rxItem is one thing a connection received, in order: an event or a gap
// notice.
type rxItem struct {
	gap bool
	ev  protocol.EventFrame // Data is dropped: the model checks positions
	g   protocol.GapNotice
	at  time.Time
}

func (r rxItem) subject() string {
	if r.gap {
		return r.g.Subject
	}
	return r.ev.Subject
}

func (r rxItem) String() string {
	if r.gap {
		return fmt.Sprintf("gap %s %d..%d", r.g.Subject, r.g.From, r.g.To)
	}
	var flags string
	if r.ev.Critical {
		flags += " critical"
	}
	if r.ev.Snapshot {
		flags += " snapshot"
	}
	return fmt.Sprintf("%s #%d%s", r.ev.Subject, r.ev.Seq, flags)
}

// connRec is one connection of a model client.
type connRec struct {
	n      int
	opened time.Time
	// subs are the subscribes in the order sent; a pattern's last one is
	// in force (a later one replaces its options: the model only replaces
	// keep-latest with keep-latest).
	subs []*subRec
	rx   []rxItem
	// How it ended: "cut" (the client dropped it), "closed <code>", "torn"
	// (no close frame) or "drained" (the run ended with it open).
	end    string
	code   websocket.StatusCode
	paused time.Duration // total time spent not reading
	slow   time.Duration // how long the client takes over each frame
	// reading is when the client last started reading without a pause
	// (its last pause ended); ended is when it saw the connection end.
	reading, ended time.Time
}

// sub returns the subscription in force for pattern.
func (c *connRec) sub(pattern string) *subRec {
	for i := len(c.subs) - 1; i >= 0; i-- {
		if c.subs[i].pattern == pattern {
			return c.subs[i]
		}
	}
	return nil
}

// first returns the first subscription to pattern (the one that carried
// the connection's resume or snapshot, if any).
func (c *connRec) first(pattern string) *subRec {
	for _, s := range c.subs {
		if s.pattern == pattern {
			return s
		}
	}
	return nil
}

// patternOf returns the subscribed pattern literal falls under (the model
// subscribes each connection to non-overlapping patterns).
func (c *connRec) patternOf(literal string) (string, bool) {
	for _, s := range c.subs {
		if subject.Match(s.pattern, literal) {
			return s.pattern, true
		}
	}
	return "", false
}

func (c *connRec) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "conn %d (%d received, paused %v, slow %v, ended %s)", c.n, len(c.rx), c.paused.Round(time.Millisecond), c.slow, c.end)
	for _, s := range c.subs {
		fmt.Fprintf(&b, "\n      subscribe %s", s)
	}
	return b.String()
}

// report fails the test with the seed and a compact trace of the first
// violations: the client's connections and, around each violation, what
// the connection received on that subject next to what was published.
func (k *modelChecker) report(seed uint64, clients []*modelClient) {
	if len(k.out) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "delivery contract violated: %d violations; seed %d (STREAMHUB_MODEL_SEED=%d)\n", len(k.out), seed, seed)
	byRule := map[string]int{}
	for _, v := range k.out {
		byRule[v.rule]++
	}
	fmt.Fprintf(&b, "by rule: %s\n", fmtCounts(byRule))
	for i, v := range k.out {
		if i == 8 {
			fmt.Fprintf(&b, "... and %d more\n", len(k.out)-i)
			break
		}
		mc := clients[v.client]
		fmt.Fprintf(&b, "\n[%s] client %d, conn %d: %s\n  client patterns %v\n", v.rule, v.client, v.conn, v.msg, mc.patterns)
		for _, c := range mc.conns {
			if c.n >= v.conn-1 && c.n <= v.conn+1 {
				fmt.Fprintf(&b, "    %s\n", c.summary())
				if c.n == v.conn && v.subject != "" {
					fmt.Fprintf(&b, "      received on %s: %s\n", v.subject, k.window(c, v.subject, v.seq))
				}
			}
		}
		if v.subject != "" {
			fmt.Fprintf(&b, "  published on %s: %s\n", v.subject, k.published(v.subject, v.seq))
		}
	}
	k.t.Error(b.String())
}

// window lists what c received on subject around seq.
func (k *modelChecker) window(c *connRec, subject string, seq uint64) string {
	var items []string
	at := -1
	for _, r := range c.rx {
		if r.subject() != subject {
			continue
		}
		if at < 0 && (r.gap && r.g.To >= seq || !r.gap && r.ev.Seq >= seq) {
			at = len(items)
		}
		items = append(items, r.String()+" @"+r.at.Format("05.000"))
	}
	if at < 0 {
		at = len(items)
	}
	from, to := max(0, at-6), min(len(items), at+6)
	return fmt.Sprintf("[%d items] … %s …", len(items), strings.Join(items[from:to], ", "))
}

// published lists the messages published on subject around seq.
func (k *modelChecker) published(subject string, seq uint64) string {
	msgs := k.log.bySubject[subject]
	i, _ := slices.BinarySearchFunc(msgs, seq, func(m pubMsg, seq uint64) int { return cmpU64(m.seq, seq) })
	var items []string
	for _, m := range msgs[max(0, i-6):min(len(msgs), i+6)] {
		s := "#" + fmtU64(m.seq)
		if m.critical {
			s += " critical"
		}
		items = append(items, s+" @"+m.at.Format("05.000"))
	}
	return fmt.Sprintf("[%d] … %s …", len(msgs), strings.Join(items, ", "))
}

func fmtU64(v uint64) string { return strconv.FormatUint(v, 10) }

func fmtCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + strconv.Itoa(m[k])
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

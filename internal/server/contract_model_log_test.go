package server

import (
	"fmt"
	"slices"
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
// received, connection by connection.

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
	policy   fanout.Policy
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
func (s *subRec) policyFor(subject string) fanout.Policy {
	switch {
	case s.maxRate > 0:
		return fanout.KeepLatest
	case s.policy != fanout.PolicyDefault:
		return s.policy
	}
	for _, pp := range fanout.DefaultPrefixPolicies {
		if strings.HasPrefix(subject, pp.Prefix) {
			return pp.Policy
		}
	}
	return fanout.DropOldest
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
	subs   []*subRec // in the order sent; a pattern's last one is in force
	rx     []rxItem
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

package fanout

// queue is one client's bounded queue: a ring of pending deliveries in
// arrival order, an index of the keep-latest entries by subject, and the gap
// notices owed to the client. It is not safe for concurrent use: the owning
// Client's mu guards it.
//
// Entries are addressed by absolute position (head counts every entry ever
// taken out), so an index into the ring stays valid while the ring grows.
type queue struct {
	buf   []entry // len is a power of two, grown on demand up to maxMsgs
	head  uint64  // absolute position of the oldest entry
	n     int     // entries pending
	bytes int     // frame bytes pending

	// latest maps a subject to the absolute position of its keep-latest
	// entry; the entry is still pending if and only if the position is at or
	// after head (positions are never reused). Only entries a newer message
	// may replace are indexed: a critical message removes its subject's
	// index so that the next message queues behind it instead of overtaking
	// it. Entries are not deleted as they are delivered, which would churn
	// the map on every delivery; stale ones are swept when the map outgrows
	// the queue (see index), so it stays bounded by the subjects pending.
	//
	// A short queue is not indexed at all: a client that keeps up has a few
	// entries at most, and scanning them is cheaper than a map operation per
	// delivery. indexed says whether latest is in use; it turns on when the
	// queue grows past scanLimit and off when the queue empties.
	latest  map[string]uint64
	indexed bool

	// gaps are the losses not yet announced, at most one open range per
	// subject (gapIdx), in the order they first happened.
	gaps   []Gap
	gapIdx map[string]int

	maxMsgs, maxBytes int
}

type entry struct {
	msg      *Message
	size     int
	policy   Policy
	critical bool
}

// pushResult says what push did with a message.
type pushResult uint8

const (
	pushQueued    pushResult = iota // appended
	pushConflated                   // replaced an older pending message of its subject
	pushDropped                     // the message itself was dropped (larger than the whole queue)
	pushOverflow                    // no room without breaking a policy: the client must be closed
)

func newQueue(maxMsgs, maxBytes int) queue {
	return queue{maxMsgs: maxMsgs, maxBytes: maxBytes}
}

func (q *queue) at(pos uint64) *entry { return &q.buf[pos&uint64(len(q.buf)-1)] }

// push queues m (whose frame for this client is size bytes) under policy.
// It reports how many older entries it had to drop to make room.
func (q *queue) push(m *Message, size int, policy Policy) (res pushResult, dropped int) {
	if policy == KeepLatest && !m.Critical {
		if pos, ok := q.findLatest(m.Subject); ok {
			e := q.at(pos)
			q.bytes += size - e.size
			e.msg, e.size = m, size
			res = pushConflated
			for q.bytes > q.maxBytes { // the newer message is bigger; shed the oldest
				if !q.evictHead() {
					return pushOverflow, dropped
				}
				dropped++
			}
			return res, dropped
		}
	}
	if size > q.maxBytes { // can never fit, whatever we drop
		if m.Critical || policy == Disconnect {
			return pushOverflow, dropped
		}
		q.addGap(m.Subject, m.Epoch, m.Seq)
		return pushDropped, 0
	}
	for q.n+1 > q.maxMsgs || q.bytes+size > q.maxBytes {
		if policy == Disconnect && !m.Critical {
			return pushOverflow, dropped
		}
		if !q.evictHead() {
			return pushOverflow, dropped
		}
		dropped++
	}
	if len(q.gaps) > q.maxMsgs {
		// Gap notices are bounded too: a client that lets this many distinct
		// subjects lose messages before reading any is not consuming at all.
		return pushOverflow, dropped
	}
	q.grow()
	pos := q.head + uint64(q.n)
	*q.at(pos) = entry{msg: m, size: size, policy: policy, critical: m.Critical}
	q.n++
	q.bytes += size
	switch {
	case !q.indexed:
		if q.n > scanLimit {
			q.reindex()
		}
	case m.Critical:
		delete(q.latest, m.Subject)
	case policy == KeepLatest:
		q.index(m.Subject, pos)
	}
	return pushQueued, dropped
}

// scanLimit is the queue length up to which keep-latest entries are found by
// scanning the queue rather than through the index. Scanning a short queue
// touches memory the enqueue touches anyway; a map operation per delivery
// costs cache misses across thousands of clients (see docs/PERFORMANCE.md).
const scanLimit = 32

// findLatest returns the position of subject's pending keep-latest entry
// that a newer message may replace.
func (q *queue) findLatest(subject string) (uint64, bool) {
	if q.indexed {
		pos, ok := q.latest[subject]
		return pos, ok && pos >= q.head
	}
	for i := q.n - 1; i >= 0; i-- {
		pos := q.head + uint64(i)
		if e := q.at(pos); e.msg.Subject == subject {
			if e.critical {
				return 0, false // newer messages queue behind a critical one
			}
			if e.policy == KeepLatest {
				return pos, true
			}
		}
	}
	return 0, false
}

// reindex indexes every pending entry, oldest first, and turns the index on.
func (q *queue) reindex() {
	q.indexed = true
	for i := 0; i < q.n; i++ {
		pos := q.head + uint64(i)
		switch e := q.at(pos); {
		case e.critical:
			delete(q.latest, e.msg.Subject)
		case e.policy == KeepLatest:
			q.index(e.msg.Subject, pos)
		}
	}
}

// index records pos as subject's keep-latest entry, sweeping stale entries
// first when the index has grown past twice the queue's message bound.
func (q *queue) index(subject string, pos uint64) {
	if q.latest == nil {
		q.latest = make(map[string]uint64)
	}
	if len(q.latest) >= 2*q.maxMsgs {
		if _, ok := q.latest[subject]; !ok {
			for s, p := range q.latest {
				if p < q.head {
					delete(q.latest, s)
				}
			}
		}
	}
	q.latest[subject] = pos
}

// evictHead drops the oldest entry and records the loss as a gap. It refuses
// (returns false) when the oldest entry may not be dropped: a critical
// message, or one whose subscription asked to be disconnected instead.
func (q *queue) evictHead() bool {
	if q.n == 0 {
		return false
	}
	e := q.at(q.head)
	if e.critical || e.policy == Disconnect {
		return false
	}
	m := e.msg
	q.forget(e)
	q.addGap(m.Subject, m.Epoch, m.Seq)
	return true
}

// forget removes the head entry e from the ring. Its index entry, if any,
// goes stale by itself as head moves past it.
func (q *queue) forget(e *entry) {
	q.bytes -= e.size
	*e = entry{}
	q.head++
	q.n--
	if q.n == 0 {
		q.indexed = false // every index entry is stale now
	}
}

// addGap records that seq of subject was lost, extending the subject's open
// range when it can. Drops of one subject happen oldest first, so a range
// only grows at its end, except across an epoch change, which opens a new one.
func (q *queue) addGap(subject string, epoch, seq uint64) {
	if i, ok := q.gapIdx[subject]; ok && q.gaps[i].Epoch == epoch {
		g := &q.gaps[i]
		g.From = min(g.From, seq)
		g.To = max(g.To, seq)
		return
	}
	if q.gapIdx == nil {
		q.gapIdx = make(map[string]int)
	}
	q.gapIdx[subject] = len(q.gaps)
	q.gaps = append(q.gaps, Gap{Subject: subject, Epoch: epoch, From: seq, To: seq})
}

// grow makes room for one more entry, doubling the ring.
func (q *queue) grow() {
	if q.n < len(q.buf) {
		return
	}
	size := max(16, 2*len(q.buf))
	buf := make([]entry, size)
	for i := 0; i < q.n; i++ {
		pos := q.head + uint64(i)
		buf[pos&uint64(size-1)] = *q.at(pos)
	}
	q.buf = buf
}

// drain moves pending gaps and up to maxMsgs entries (and about maxBytes
// frame bytes, but always at least one entry) into b, oldest first.
func (q *queue) drain(b *Batch, maxMsgs, maxBytes int) {
	if len(q.gaps) > 0 {
		b.Gaps = append(b.Gaps, q.gaps...)
		clear(q.gaps) // drop subject references
		q.gaps = q.gaps[:0]
		clear(q.gapIdx)
	}
	taken := 0
	for q.n > 0 && len(b.Messages) < maxMsgs {
		e := q.at(q.head)
		if len(b.Messages) > 0 && taken+e.size > maxBytes {
			break
		}
		taken += e.size
		b.Messages = append(b.Messages, e.msg)
		q.forget(e)
	}
}

// reset drops everything, releasing message references.
func (q *queue) reset() {
	clear(q.buf)
	q.n, q.bytes = 0, 0
	q.latest, q.gaps, q.gapIdx, q.indexed = nil, nil, nil, false
}

package fanout

// queue is one client's bounded queue: a ring of pending deliveries in
// arrival order, an index of the keep-latest entries by subject, and the gap
// notices owed to the client. It is not safe for concurrent use: the owning
// Client's mu guards it.
//
// The queue never reorders: entries leave in the order they arrived. A
// newer keep-latest message supersedes its subject's pending entry by
// removing it (leaving a tombstone, an entry whose msg is nil) and joining
// the tail, rather than taking the old entry's place. Replacing in place
// would let it overtake messages of other subjects queued after the old
// entry, and a client that resumes from the newest position it saw would
// then skip them (docs/protocol.md, "Delivery order").
//
// Entries are addressed by absolute position (head counts every slot ever
// taken out), so an index into the ring stays valid while the ring grows;
// compaction, which drops tombstones, rebuilds the index.
type queue struct {
	buf   []entry // len is a power of two, grown on demand
	head  uint64  // absolute position of the oldest slot; never a tombstone
	n     int     // slots in use from head, tombstones included
	live  int     // entries pending (n minus tombstones)
	bytes int     // frame bytes pending

	// latest maps a subject to the absolute position of its keep-latest
	// entry; the entry is still pending if and only if the position is at or
	// after head and not a tombstone (positions are never reused). Only
	// entries a newer message may supersede are indexed: a critical message
	// removes its subject's index so that the next message queues behind it.
	// Entries are not deleted as they are delivered, which would churn the
	// map on every delivery; stale ones are swept when the map outgrows the
	// queue (see index), so it stays bounded by the subjects pending.
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
	if size > q.maxBytes { // can never fit, whatever we drop
		if m.Critical || policy == Disconnect {
			return pushOverflow, 0
		}
		q.addGap(m.Subject, m.Epoch, m.Seq)
		return pushDropped, 0
	}
	res = pushQueued
	if policy == KeepLatest && !m.Critical {
		if pos, ok := q.findLatest(m.Subject); ok {
			q.tombstone(pos)
			res = pushConflated
		}
	}
	for q.live+1 > q.maxMsgs || q.bytes+size > q.maxBytes {
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
	q.live++
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
	return res, dropped
}

// scanLimit is the queue length up to which keep-latest entries are found by
// scanning the queue rather than through the index. Scanning a short queue
// touches memory the enqueue touches anyway; a map operation per delivery
// costs cache misses across thousands of clients (see docs/PERFORMANCE.md).
const scanLimit = 32

// findLatest returns the position of subject's pending keep-latest entry
// that a newer message may supersede: the subject's newest pending entry,
// unless that one is critical (newer messages queue behind it) or was
// queued under another policy.
func (q *queue) findLatest(subject string) (uint64, bool) {
	if q.indexed {
		pos, ok := q.latest[subject]
		if !ok || pos < q.head {
			return 0, false
		}
		e := q.at(pos)
		return pos, e.msg != nil && e.msg.Subject == subject
	}
	for i := q.n - 1; i >= 0; i-- {
		pos := q.head + uint64(i)
		if e := q.at(pos); e.msg != nil && e.msg.Subject == subject {
			if e.critical || e.policy != KeepLatest {
				return 0, false
			}
			return pos, true
		}
	}
	return 0, false
}

// reindex indexes every pending entry, oldest first, and turns the index on.
func (q *queue) reindex() {
	q.indexed = true
	clear(q.latest)
	for i := 0; i < q.n; i++ {
		pos := q.head + uint64(i)
		switch e := q.at(pos); {
		case e.msg == nil:
		case e.critical || e.policy != KeepLatest:
			delete(q.latest, e.msg.Subject)
		default:
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
				if p < q.head || q.at(p).msg == nil {
					delete(q.latest, s)
				}
			}
		}
	}
	q.latest[subject] = pos
}

// tombstone removes the pending entry at pos, which a newer message of its
// subject supersedes. The slot stays in the ring, empty, until it reaches
// the head or a compaction drops it.
func (q *queue) tombstone(pos uint64) {
	e := q.at(pos)
	q.bytes -= e.size
	q.live--
	*e = entry{}
	q.trimHead()
}

// evictHead drops the oldest entry and records the loss as a gap. It refuses
// (returns false) when the oldest entry may not be dropped: a critical
// message, or one whose subscription asked to be disconnected instead.
func (q *queue) evictHead() bool {
	if q.live == 0 {
		return false
	}
	e := q.at(q.head)
	if e.critical || e.policy == Disconnect {
		return false
	}
	m := e.msg
	q.pop(e)
	q.addGap(m.Subject, m.Epoch, m.Seq)
	return true
}

// pop removes the head entry e from the ring, then any tombstones that
// follow it. Its index entry, if any, goes stale by itself as head moves
// past it.
func (q *queue) pop(e *entry) {
	q.bytes -= e.size
	q.live--
	*e = entry{}
	q.trimHead()
}

// trimHead moves head past empty slots, so that head is always a pending
// entry or the queue is empty.
func (q *queue) trimHead() {
	for q.n > 0 && q.at(q.head).msg == nil {
		q.head++
		q.n--
	}
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

// grow makes room for one more slot: it compacts the ring when at least half
// of it is tombstones, and doubles it otherwise. Live entries are bounded by
// maxMsgs and a full ring is at most half tombstones, so the ring stays
// within four times maxMsgs.
func (q *queue) grow() {
	if q.n < len(q.buf) {
		return
	}
	size := max(16, 2*len(q.buf))
	if 2*q.live <= q.n && len(q.buf) > 0 {
		size = len(q.buf) // compact in a fresh ring of the same size
	}
	buf := make([]entry, size)
	j := q.head
	for i := 0; i < q.n; i++ {
		if e := q.at(q.head + uint64(i)); e.msg != nil {
			buf[j&uint64(size-1)] = *e
			j++
		}
	}
	compacted := q.n != q.live
	q.buf, q.n = buf, q.live
	if compacted && q.indexed {
		q.reindex() // positions moved
	}
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
	for q.live > 0 && len(b.Messages) < maxMsgs {
		e := q.at(q.head)
		if len(b.Messages) > 0 && taken+e.size > maxBytes {
			break
		}
		taken += e.size
		b.Messages = append(b.Messages, e.msg)
		q.pop(e)
	}
}

// reset drops everything, releasing message references.
func (q *queue) reset() {
	clear(q.buf)
	q.n, q.live, q.bytes = 0, 0, 0
	q.latest, q.gaps, q.gapIdx, q.indexed = nil, nil, nil, false
}

package venue

import "sync/atomic"

// Stats are a connector's counts since it was created. The cmd/hub ingest
// command exports them as Prometheus counters (streamhub_ingest_*).
type Stats struct {
	// Connects counts WebSocket connections to the venue that were
	// established (the first and every reconnection).
	Connects uint64
	// Disconnects counts connections that ended, for any reason but the end
	// of Run.
	Disconnects uint64
	// Stale counts connections closed because the venue sent nothing within
	// the heartbeat window.
	Stale uint64
	// Refused counts subscriptions the venue refused (an error message).
	Refused uint64
	// Messages counts frames received from the venue.
	Messages uint64
	// Malformed counts frames that could not be decoded; they are dropped
	// and the connection stays up.
	Malformed uint64
	// Gaps counts venue sequence gaps (lost venue messages).
	Gaps uint64
	// Epochs counts new epochs opened on a subject (reconnect or gap).
	Epochs uint64
	// Published counts ticks NATS accepted; PublishErrors those it refused
	// (they consume no Sh-Seq).
	Published     uint64
	PublishErrors uint64
}

// counters are the live form of Stats; safe for concurrent use.
type counters struct {
	connects, disconnects, stale, refused, messages, malformed, gaps, epochs,
	published, publishErrors atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Connects:      c.connects.Load(),
		Disconnects:   c.disconnects.Load(),
		Stale:         c.stale.Load(),
		Refused:       c.refused.Load(),
		Messages:      c.messages.Load(),
		Malformed:     c.malformed.Load(),
		Gaps:          c.gaps.Load(),
		Epochs:        c.epochs.Load(),
		Published:     c.published.Load(),
		PublishErrors: c.publishErrors.Load(),
	}
}

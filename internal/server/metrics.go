package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamhub/streamhub/internal/auth"
	"github.com/streamhub/streamhub/internal/fanout"
)

// collector exports the hub's counters at scrape time: the hot path only
// keeps its own atomics, and nothing is computed per message for metrics.
type collector struct {
	s *Server

	connections, connAccepted, connRejected, commands, cmdErrors *prometheus.Desc
	subscriptions, patterns, natsSubs                            *prometheus.Desc
	msgsIn, msgsRejected, published, delivered, conflated        *prometheus.Desc
	dropped, gaps, batches, queued, queuedBytes, disconnects     *prometheus.Desc
	natsDropped, natsSlow, natsConnected                         *prometheus.Desc
	keyEvents, authOK, authFailures, tokensIssued                *prometheus.Desc
	leaseFailOpen                                                *prometheus.Desc
	buildInfo, deliveryLatency                                   *prometheus.Desc
	keysExpiring, auditRecords                                   *prometheus.Desc
	keyConns, keySubs, keyMsgs, keyBytes, keyPubs                *prometheus.Desc
}

// otherKeys is the key_id label of the usage of every key not metered.
const otherKeys = "_other"

func newCollector(s *Server) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("streamhub_"+name, help, labels, nil)
	}
	return &collector{
		s:             s,
		connections:   d("connections", "WebSocket connections open now."),
		connAccepted:  d("connections_accepted_total", "WebSocket connections upgraded."),
		connRejected:  d("connections_rejected_total", "Requests refused before or at the upgrade."),
		commands:      d("commands_total", "Commands received from clients."),
		cmdErrors:     d("command_errors_total", "Error answers sent, by code.", "code"),
		subscriptions: d("clients", "Clients registered with the fan-out hub."),
		patterns:      d("subscribed_patterns", "Distinct subscribed patterns."),
		natsSubs:      d("nats_subscriptions", "Upstream NATS subscriptions held (one per pattern)."),
		msgsIn:        d("messages_in_total", "Messages received from NATS."),
		msgsRejected:  d("messages_rejected_total", "Messages from NATS refused at ingest (invalid payload)."),
		published:     d("messages_published_total", "Messages published into the fan-out hub."),
		delivered:     d("messages_out_total", "Messages written to clients."),
		conflated:     d("messages_conflated_total", "Messages superseded by a newer one of their subject (keep-latest)."),
		dropped:       d("messages_dropped_total", "Messages dropped on overflow, each announced by a gap notice."),
		gaps:          d("gap_notices_total", "Gap notices written to clients."),
		batches:       d("batches_total", "Batches written to clients."),
		queued:        d("queued_messages", "Messages waiting in client queues."),
		queuedBytes:   d("queued_bytes", "Frame bytes waiting in client queues."),
		disconnects:   d("disconnects_total", "Clients closed, by reason.", "reason"),
		natsDropped:   d("nats_dropped_total", "Messages the NATS client dropped as a slow consumer."),
		natsSlow:      d("nats_slow_consumer_events_total", "Slow-consumer events reported by the NATS client."),
		natsConnected: d("nats_connected", "1 while connected to NATS."),
		keyEvents:     d("key_events_total", "API key lifecycle events seen by this hub (audit), by event.", "event"),
		authOK:        d("auth_success_total", "Successful authentications, by credential.", "credential"),
		authFailures:  d("auth_failures_total", "Refused authentications, by reason.", "reason"),
		tokensIssued:  d("tokens_issued_total", "Browser tokens issued."),
		leaseFailOpen: d("conn_lease_fail_open_total", "Connections admitted on this hub's own per-key limit because the cluster-wide lease count could not be had (NATS unreachable)."),
		keysExpiring:  d("keys_expiring", "Active API keys that expire within the warning period (--key-expiry-warning, default 7 days): rotate them.", "within"),
		auditRecords:  d("audit_records_total", "Audit journal records by result: written to the stream, failed (not accepted), dropped (queue full).", "result"),
		keyConns:      d("key_connections_total", "Connections opened on this hub, per metered key (key_id), the others summed as key_id=_other.", "key_id"),
		keySubs:       d("key_subscriptions_total", "Subscriptions made on this hub, per metered key, the others summed.", "key_id"),
		keyMsgs:       d("key_messages_delivered_total", "Messages written to clients on this hub, per metered key, the others summed.", "key_id"),
		keyBytes:      d("key_bytes_delivered_total", "Bytes written to clients on this hub, per metered key, the others summed.", "key_id"),
		keyPubs:       d("key_publishes_total", "Messages published through this hub, per metered key, the others summed.", "key_id"),
		buildInfo:     d("build_info", "Always 1; its labels say which build of the hub runs.", "version", "commit", "goversion"),
		deliveryLatency: d("delivery_latency_seconds", "Per written batch: from the hub receiving the batch's oldest live message from NATS "+
			"to the batch's WebSocket write returning (queueing plus write). Batches of snapshots or replays only are not observed."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	b := c.s.cfg.Build
	gauge(c.buildInfo, 1, b.Version, b.Commit, b.GoVersion)

	gw := c.s.gateway.Counters()
	gauge(c.connections, float64(gw.Open.Load()))
	counter(c.connAccepted, gw.Accepted.Load())
	counter(c.connRejected, gw.Rejected.Load())
	counter(c.commands, gw.Commands.Load())
	for code, n := range gw.Errors.Snapshot() {
		counter(c.cmdErrors, n, string(code))
	}
	n, sum, buckets := gw.DeliveryLatency.Snapshot()
	ch <- prometheus.MustNewConstHistogram(c.deliveryLatency, n, sum, buckets)

	st := c.s.hub.Stats()
	gauge(c.subscriptions, float64(st.Clients))
	gauge(c.patterns, float64(st.Patterns))
	gauge(c.natsSubs, float64(len(c.s.router.Patterns())))
	counter(c.msgsIn, c.s.ingest.Received())
	counter(c.msgsRejected, c.s.ingest.Rejected())
	counter(c.published, st.Published)
	counter(c.delivered, st.Delivered)
	counter(c.conflated, st.Conflated)
	counter(c.dropped, st.Dropped)
	counter(c.gaps, st.GapsSent)
	counter(c.batches, st.Batches)
	gauge(c.queued, float64(st.QueuedMessages))
	gauge(c.queuedBytes, float64(st.QueuedBytes))
	for _, r := range fanout.Reasons() {
		counter(c.disconnects, st.Disconnects[r], r.String())
	}

	counter(c.natsDropped, c.s.conn.Dropped())
	counter(c.natsSlow, c.s.conn.SlowConsumerEvents())
	connected := 0.0
	if c.s.conn.Connected() {
		connected = 1
	}
	gauge(c.natsConnected, connected)

	if c.s.auth != nil {
		ac := c.s.auth.store.Counters()
		a := ac.Snapshot()
		counter(c.keyEvents, a.KeysCreated, "created")
		counter(c.keyEvents, a.KeysRotated, "rotated")
		counter(c.keyEvents, a.KeysRevoked, "revoked")
		counter(c.keyEvents, a.KeysExpired, "expired")
		counter(c.authOK, a.AuthOK, "key")
		counter(c.authOK, a.TokensOK, "token")
		counter(c.tokensIssued, a.TokensIssued)
		counter(c.leaseFailOpen, c.s.auth.leases.FailOpen())
		for _, reason := range auth.FailureReasons() {
			counter(c.authFailures, ac.Failures(reason), reason)
		}
		now, warn, expiring := time.Now(), c.s.cfg.KeyExpiryWarning, 0
		for _, r := range c.s.auth.store.List() {
			if auth.ExpiresWithin(&r, now, warn) {
				expiring++
			}
		}
		gauge(c.keysExpiring, float64(expiring), warn.String())
		c.collectUsage(counter)
		j := c.s.auth.journal
		counter(c.auditRecords, j.Written(), "written")
		counter(c.auditRecords, j.Failed(), "failed")
		counter(c.auditRecords, j.Dropped(), "dropped")
	}
}

// collectUsage exports per-key usage with bounded cardinality: a series
// per metered key (hub keys create --metered), one sum for every other key.
func (c *collector) collectUsage(counter func(*prometheus.Desc, uint64, ...string)) {
	byLabel := map[string]auth.UsageCounts{otherKeys: {}}
	for id, u := range c.s.auth.usage.Local() {
		label := otherKeys
		if rec, ok := c.s.auth.store.Get(id); ok && rec.Metered {
			label = id
		}
		sum := byLabel[label]
		sum.Add(u)
		byLabel[label] = sum
	}
	for label, u := range byLabel {
		counter(c.keyConns, u.Connections, label)
		counter(c.keySubs, u.Subscriptions, label)
		counter(c.keyMsgs, u.Messages, label)
		counter(c.keyBytes, u.Bytes, label)
		counter(c.keyPubs, u.Publishes, label)
	}
}

// Package loadgen is StreamHub's load tool: it drives a broker over loopback
// with many WebSocket clients and a paced NATS publisher, and measures what
// the broker delivered, how late, and at what CPU cost.
//
// # What it measures
//
// [Run] opens Config.Clients WebSocket clients against one target: a
// StreamHub (protocol v1, JSON or msgpack, through internal/protocol's
// codecs), or one of the peers users would pick instead: nats-server's own
// WebSocket listener (one nats.go connection per client, over ws://),
// Centrifugo v6 (its JSON client protocol; published through its HTTP
// server API) or Bun's built-in pub/sub (uWebSockets, behind the small
// script bunpeer.js; published over a WebSocket). It subscribes each client
// to a pattern (on the peers without wildcards, to each subject it
// matches), then publishes
// Config.Rate messages per second, round-robin over Config.Subjects
// subjects, for Config.Duration. Every payload carries the time it was
// published, in nanoseconds on a monotonic clock shared by the publisher
// and the clients (they run in the same process), so end-to-end latency is
// "client read the frame" minus "publisher handed the message to nats.go",
// with nanosecond resolution and about 1.6 % bucket precision.
//
// The [Result] counts messages published, deliveries expected and
// delivered, loss announced by gap notices, unannounced sequence jumps
// (conflation on StreamHub, silent loss on NATS), disconnections, the
// latency percentiles, and CPU: the broker's (from /proc/<pid>/stat, when
// its PID is known) and the load tool's own (getrusage), both over the
// measured window, so readers can see which side was the bottleneck.
//
// StreamHub batch frames are read with a small allocation-free scanner
// (batchscan*.go) rather than protocol.DecodeServer, whose reflection made
// the simulated clients, not the hub, the bottleneck; each client's first
// batches are decoded both ways and compared, and control frames always go
// through internal/protocol.
//
// # Brokers as child processes
//
// For a fair CPU figure the broker under test must run in a process of its
// own. [SpawnHub] and [SpawnNATSWS] start one (the hub binary's "serve"
// and hidden "bench-nats-server" subcommands), [SpawnCentrifugo] and
// [SpawnBun] the peers' own binaries ([FindPeer] finds them, or says in one
// line how to get them), on free loopback ports; they wait until it is
// ready, and stop it with SIGTERM, then SIGKILL. [ServeNATSWS] is what the
// "bench-nats-server" child runs; [StartNATSWS] runs the same peer
// in-process, for tests. The run also reads the child's resident memory
// before the clients connect and once they are idle, for the memory per
// connection.
//
// # Many clients
//
// Thousands of clients need as many open files in the tool and in the
// broker: [RaiseFileLimit] raises the soft limit to the hard one before
// any child starts (children inherit it). Past Config.ClientsPerSourceAddr
// (default 20,000, below the 28,232 ephemeral ports of one source
// address) clients dial from 127.0.0.1, 127.0.0.2, … in turn.
//
// # Safety
//
// Only loopback targets are accepted ([CheckLoopback]): a load tool pointed
// at someone else's server by mistake is an attack. Every loop is bounded in
// count and in time; Run never takes longer than twice Duration plus its setup,
// warm-up and drain timeouts.
//
// # Concurrency
//
// Run and the broker helpers may be called from any goroutine; one Run at a
// time per broker gives meaningful numbers. A [Broker]'s methods are safe
// for concurrent use.
package loadgen

// Package upstream holds StreamHub's ingestors: programs that only publish
// to NATS, exactly as an external ingestor would. This package has the demo
// feeds that make the quickstart show live data: price ticks, an EVM-like
// chain with large transfers and the occasional reorg, and AI job progress.
// The real exchange connectors (`hub ingest coinbase|binance|kraken`) are in
// the venue subpackages, and the leader election that keeps two ingestors
// of one feed from both publishing is in lease. The EVM chain ingestor
// (`hub ingest evm`) is in evm; it needs no lease: JetStream de-duplicates
// its messages by id.
//
// Every message is one plain NATS publish ([Publisher.PublishMsg]) whose
// payload is the JSON object of its family's schema (docs/streams.md) and
// whose headers follow the upstream convention:
//
//	Sh-Ts        source time, Unix ms (decimal)
//	Sh-Epoch     the feed's start time, Unix ms, fixed for the feed's lifetime
//	Sh-Seq       1, 2, 3 … per subject, strictly increasing within the epoch
//	Sh-Critical  "1" on critical messages only (reorgs, finished jobs)
//
// A sequence number is consumed only by a successful publish, so a gap seen
// downstream always means a message was lost after it left the feed.
//
// # Goroutines
//
// [TickFeed], [ChainFeed] and [JobFeed] each run on the goroutine that calls
// their Run method; [Demo.Run] starts one goroutine per feed and waits for
// all of them before it returns. Nothing outlives a Run call. Stats methods
// may be called concurrently with Run.
//
// The package imports the standard library, nats.go (for the message type)
// and fanout (for subject validation) only.
package upstream

// Package evm is StreamHub's EVM chain ingestor: it follows one node over
// JSON-RPC on a WebSocket and publishes the chain's blocks, its ERC-20
// transfers and its reorganisations to NATS JetStream, on
// chain.<network>.block, chain.<network>.transfer and chain.<network>.reorg
// (docs/streams.md). It only publishes; the hubs deliver.
//
// # How it follows the chain
//
// It subscribes to newHeads (eth_subscribe) and, for each new head, walks
// back by parent hash (eth_getBlockByHash) to a block it already published,
// so a missed head, a reconnect or a reorg all take the same path. The
// transfers of a block come from eth_getLogs by block hash, which is exact
// for that block; a logs subscription was not used because it gives no
// signal that a block's logs are complete and its order against newHeads is
// not defined. After a reconnect the latest block (eth_getBlockByNumber
// "latest") is processed first, which backfills what was missed.
//
// When a new head does not extend the last one, the blocks above the common
// ancestor are retracted: a critical reorg notice names them and the new
// blocks, the retracted blocks' transfers are published again with
// removed: true (newest first), and the new canonical blocks follow.
// Blocks and their transfers are published again when they reach the
// configured confirmation depth and when the node's "finalized" block passes
// them.
//
// # High availability
//
// Every message carries a Nats-Msg-Id derived from the network, the block
// hash, the kind, the log index and the status, so two ingestors following
// the same chain publish identical ids and the stream (whose duplicate
// window is two minutes by default) stores each message once. Either may be
// stopped; the other goes on.
//
// # Goroutines
//
// [Ingestor.Run] owns all state and runs on the caller's goroutine; the RPC
// client runs its own reader goroutines, closed before Run returns.
// [Ingestor.Stats] may be called concurrently.
package evm

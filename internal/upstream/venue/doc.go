// Package venue holds what the real exchange connectors share: the
// connection loop (dial, subscribe, read with a staleness deadline,
// reconnect with jittered backoff), the tick publisher that numbers ticks
// per subject and opens a new epoch where data was lost, the counters, and
// symbol normalisation. Each venue is a subpackage (coinbase, binance,
// kraken) that implements [Adapter]: it knows the venue's URL, its
// subscribe messages and its message shapes, and nothing about NATS or
// reconnecting.
//
// # Guarantees at the NATS side
//
// Every tick is published on ticks.<venue>.<BASE-QUOTE> with the headers of
// the upstream convention (docs/streams.md): Sh-Ts is the venue's event time,
// Sh-Seq counts 1, 2, 3 … per subject and a failed publish consumes no
// number. Sh-Epoch changes for a subject whenever data of that subject may
// have been lost upstream of the hub: on every (re)connection to the venue
// and on every venue sequence gap that concerns it. A new epoch is the
// in-band signal "take a fresh value"; it is counted in [Stats].
//
// # Goroutines
//
// [Run] runs on its caller's goroutine, one venue connection at a time, and
// starts none that outlive it. [Stats] methods may be called concurrently.
//
// The package imports the standard library, nats.go (through
// upstream.Publisher), coder/websocket and x/time/rate.
package venue

// Package bus is StreamHub's NATS side: the embedded nats-server, the client
// connection, the ref-counted subscriptions that route NATS messages to the
// fan-out hub, and the JetStream streams of the stored families.
//
// # Pieces
//
//   - [StartEmbedded] runs an in-process nats-server with JetStream, bound to
//     loopback unless told otherwise, its logs routed to log/slog.
//   - [Connect] opens a client connection that reconnects forever, counts
//     slow-consumer drops and logs state changes (never per message).
//   - [Router] is the NATS side of the interest plane. Its reconciler
//     goroutine follows the set of wanted patterns ([Interest], which the
//     fan-out hub implements) and keeps the subscriptions that set needs:
//     one core subscription per covering pattern, one ordered JetStream
//     consumer per stored stream. It holds no lock of the hub's while it
//     talks to NATS. [Router.Ready] tells a subscribe when its pattern
//     flows. Every message goes once to the [Handler] (core) or the
//     [StoredHandler] (stored families), which hand it to the hub's single
//     matcher.
//   - [EnsureStreams] creates or updates the CHAIN and JOBS streams.
//
// # Concurrency
//
// Every exported method of [Embedded], [Conn] and [Router] is safe for
// concurrent use. A Router's handler runs on the goroutine nats.go owns for
// each subscription: handlers of different subscriptions run concurrently,
// the messages of one subscription arrive in order, one at a time. Only
// the reconciler goroutine subscribes and unsubscribes; Router.mu guards
// the state it publishes and is never held across a call to NATS.
//
// # Handovers
//
// When a wider pattern takes over subjects from a narrower subscription
// (or an overlapping one leaves), the new subscription is confirmed by the
// server first; then the old one is drained: nats.go hands on what it had
// already received, while the new one holds back the common subjects until
// the drain ends (at most [RouterConfig.DrainTimeout]). Copies that may
// repeat a message are marked ([Copy]); ingest keeps them only when the
// publisher's position proves them new, and starts a new epoch for the
// subjects it numbers itself.
//
// # Lock order
//
//	Conn.mu   → nats.go's locks    (Subscription.Dropped)
//
// No lock of this package is held while a handler runs.
package bus

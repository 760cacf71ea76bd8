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
//   - [Router] keeps exactly one NATS subscription per pattern some client
//     wants. The fan-out core tells it when a pattern gains its first
//     subscriber or loses its last ([Router.SetInterest]); every message a
//     subscription receives goes to the router's [Handler] with the pattern
//     it arrived through.
//   - [EnsureStreams] creates or updates the CHAIN and JOBS streams.
//
// # Concurrency
//
// Every exported method of [Embedded], [Conn] and [Router] is safe for
// concurrent use. A Router's handler runs on the goroutine nats.go owns for
// each subscription: handlers of different patterns run concurrently, the
// messages of one pattern arrive in order, one at a time.
//
// # Lock order
//
//	Router.mu → Conn.mu            (track/untrack a subscription)
//	Router.mu → nats.go's locks    (Subscribe, Unsubscribe: buffered, no network wait)
//	Conn.mu   → nats.go's locks    (Subscription.Dropped)
//
// No lock of this package is held while a handler runs.
package bus

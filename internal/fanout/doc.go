// Package fanout is the core of StreamHub: it matches each published message
// against every client's subscriptions and puts it on that client's bounded
// queue, under the overflow policy the subscription chose, without ever
// blocking the publisher on a slow client.
//
// The package imports only the standard library. A WebSocket connection is
// an adapter that implements [Sink]; the NATS side is an adapter that calls
// [Hub.Publish] with messages whose frames it has already encoded, once per
// wire encoding.
//
// # Ownership
//
// A [Hub] owns the subscription registry. Whoever registers a [Client]
// starts it ([Client.Start]) and waits for its end ([Client.Wait], or both
// at once with [Client.Run]). The client's writer is a goroutine of its own
// that exists only while there is something to write (and briefly after),
// so an idle client costs no goroutine. Wait returns after the client was
// closed, for whatever reason, and after the writer has removed the
// client's subscriptions and closed its sink.
//
// # Lock order
//
//	Hub.interestMu → registry.mu → Client.mu
//
// No lock is ever held across a call into a Sink.
package fanout

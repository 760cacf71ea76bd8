// Package client is the Go client of StreamHub, for trading agents, job
// listeners and integration tests. It speaks protocol v1 (docs/protocol.md)
// over one WebSocket connection, in msgpack by default or in JSON.
//
//	c, err := client.Dial(ctx, "ws://127.0.0.1:8080/v1/ws", apiKey, nil)
//	if err != nil { ... }
//	defer c.Close()
//	sub, err := c.Subscribe(ctx, "ticks.*.BTC-USD", client.SubscribeOptions{})
//	for ev := range sub.C() {
//		var t client.Tick
//		_ = ev.Decode(&t)
//	}
//
// # Connection life
//
// [Dial] makes one connection attempt, bounded by its context, and returns
// once the hub has said hello (and accepted the in-band token when it asks
// for one). From then on the [Client] keeps a connection up by itself: when
// the connection is lost, or the hub closes it with a code that says
// "reconnect" (4000–4499, 1001, 1005, 1006, 1011–1014; see
// docs/protocol.md), it reconnects with exponential backoff and full jitter and
// resubscribes every [Subscription] with its options. A subscription that
// has seen events sends the last (epoch, seq) it saw on its most recent
// subjects, so that a hub that offers resume replays what was missed
// ([Options.OnRecovered] reports true); when it cannot, the client asks for
// a snapshot of the latest values instead (OnRecovered reports false).
// Only insufficient_state (what was missed is no longer stored) leads to
// that snapshot: a transient refusal (internal: the hub's history read
// failed just now) is asked again, and after a few tries on another
// connection, so a resume is never traded for a snapshot by accident and a
// subscription never ends for a transient reason. A subscription that ends
// for good (the hub refused it, or the client stopped) says why through
// [Subscription.Err] and, for [Client.SubscribeFunc], through
// [SubscribeOptions.OnEnd].
//
// With [Options.FallbackURLs] the client knows several hubs of one
// deployment: Dial tries them in order, and every reconnect goes to the
// hub after the one last tried. Positions of the stored families are the
// same on every hub, so a subscription resumes on any of them.
//
// Events that are not newer than the last one a subscription saw on their
// subject (same epoch, seq not greater) are dropped as duplicates, so
// replays and overlapping patterns deliver each event once. Any other
// close code (4500–4999, 1000, 1009, ...) stops the client for good: [Client.Done] is
// closed, [Client.Err] says why and every subscription's channel is
// closed. [Client.Close] stops everything and waits for the client's
// goroutines.
//
// The hub pings every hello.heartbeat_ms; the client answers, and when
// nothing at all arrives for twice that interval it drops the connection
// and reconnects.
//
// # Delivery and backpressure
//
// One goroutine per connection reads frames and hands events to each
// Subscription's bounded channel ([SubscribeOptions.Buffer]). The client
// never drops an event: when the application lets a channel fill up, the
// goroutine waits for room and stops reading the connection meanwhile
// (backpressure). The hub then applies each subscription's policy in its
// own bounded queue, exactly as for any slow client: keep-latest conflates
// (the application catches up on the newest values), drop-oldest announces
// the ranges it dropped ([Options.OnGap]), and critical events are never
// dropped: if the hub cannot queue one it closes the connection (4001), or
// closes it after twice its heartbeat once the application has been stuck
// that long (4003). Either way the client reconnects and resumes from the
// last event it handed to the application, so nothing stored is lost. One
// connection is one ordered stream: a subscription the application does not
// read holds back the connection's other subscriptions too. Use a Client
// per independent consumer when that matters.
//
// # Concurrency
//
// Every method of Client and Subscription is safe for concurrent use. The
// callbacks in [Options] run on the client's own goroutines: they must
// return quickly and must not call Close, Subscribe or Unsubscribe (those
// wait for the goroutine that is calling the callback).
package client

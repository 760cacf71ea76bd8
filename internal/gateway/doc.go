// Package gateway is StreamHub's client edge: it upgrades HTTP requests at
// /v1/ws, speaks protocol v1 with each client (hello, commands,
// heartbeats), serves one subscription per Server-Sent Events stream at
// /v1/sse, and adapts each connection to a fanout.Sink, so that all
// delivery goes through the fan-out core.
//
// # Goroutines
//
// Each connection is served by three goroutines, all owned and joined by
// the HTTP handler that accepted it: the handler itself reads and answers
// commands; the client's writer (fanout.Client.Run) writes batches; a
// heartbeat goroutine pings and closes silent clients. The connection ends
// when any of them closes the fanout client; the handler then waits for the
// other two before returning, so nothing outlives a connection.
//
// Writes to the socket come from the writer (batches), the heartbeat
// (pings) and the handler (answers); coder/websocket serializes them. An
// SSE stream has the same three goroutines, except that the handler makes
// the stream's one subscription and then waits for its end instead of
// reading commands; its writes are serialized by the stream's own lock.
package gateway

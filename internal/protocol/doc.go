// Package protocol is StreamHub's wire vocabulary, protocol v1: the envelope
// types, their JSON and msgpack codecs, the guard for client msgpack input,
// the error codes and the one table that maps close reasons to WebSocket close
// codes. docs/protocol.md describes the same contract for humans.
//
// # Directions
//
// Client commands are decoded with [DecodeCommand], which validates them
// (subjects, policy, max_rate) and returns a [*Error] carrying a stable
// [ErrorCode] for the reply. Server messages are encoded with EncodeHello,
// EncodeOK, EncodeError, EncodePing and EncodePong; deliveries go through
// [EncodeEvent], once per published event and per encoding, and
// [AppendBatch], which splices those pre-encoded event frames into one
// "batch" frame per write without re-encoding them. [EncodeCommand] and
// [DecodeServer] are the other half, for the Go client and for tests.
//
// # Untrusted input
//
// Everything a client sends is untrusted. Msgpack commands pass
// [CheckMsgpack] before anything is decoded, so a frame that declares a
// 4 GiB string, an array of 2^32-1 elements or 100,000 levels of nesting is
// rejected after a walk that allocates nothing. Commands are decoded into
// concrete structs only; unknown keys are ignored for forward compatibility.
//
// # Concurrency
//
// The package has no state: every function may be called concurrently. The
// byte slices it returns belong to the caller; an event's frames, once
// published to the hub's clients, must not be modified afterwards.
package protocol

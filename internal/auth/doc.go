// Package auth is everything StreamHub knows about API keys that does not
// need the WebSocket gateway: the key format, the key store in a JetStream
// key-value bucket, scopes as subject-pattern subsets, short-lived browser
// tokens, per-key limits and their quotas, the origin and client-IP
// helpers, the audit trail (log lines and the journal, a JetStream stream)
// and per-key usage (flushed to a KV bucket).
//
// # Secrets
//
// A key's secret exists in clear only in the [Key] returned once by
// [Store.Create] or [Store.Rotate] (read it with [Key.Reveal]) and in the
// string a client presents. The store keeps a SHA-256 hash of it. Every type
// that holds a secret ([Key]) redacts it in fmt, %#v, slog and JSON, so a
// secret cannot reach a log line by accident. Records handed out by the
// store never carry the hash. Errors never quote the input they reject.
//
// # Ownership and goroutines
//
// [OpenStore] starts one goroutine, owned by the [Store]: it follows the
// bucket's watch, keeps the in-memory copy of every record current, runs the
// single expiry timer and calls the [Store.OnChange] callbacks, one at a
// time. [Store.Close] stops it and waits for it. [OpenJournal] starts the
// audit journal's publisher and [OpenUsage] the usage flusher, each owned by
// its value and stopped by its Close. Everything else in the package runs
// on the caller's goroutine.
//
// # Lock order
//
//	Store.mu and Store.subMu are never held together; no lock is held while a
//	callback runs or a KV request is in flight.
package auth

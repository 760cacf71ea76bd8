// Package keycmd is the key-management command line, `hub keys …`: create,
// list, show, revoke and rotate API keys in the key store of package auth.
//
// The store is reached in one of two ways. With --nats-url (or
// STREAMHUB_NATS_URL) the command connects to a running hub's NATS server or
// to a cluster, and every hub sharing it sees the change through its KV
// watch. Otherwise it opens the embedded store in --data-dir (or
// STREAMHUB_DATA_DIR, default ./data) by starting a nats-server of its own on
// a random loopback port for the duration of the command. Two nats-servers
// must never share a JetStream store directory, so the command takes an
// exclusive lock on the directory ([bus.LockStoreDir], taken by the embedded server) and refuses, with a hint
// to use --nats-url, when a running hub holds it.
//
// Secrets are printed once, on stdout, by create and rotate, and nowhere
// else: not by list or show, not in errors, not in log lines. Run is the
// only entry point; it starts and stops everything it uses before
// returning, and is safe to call from several goroutines at once (each call
// has its own store connection; two calls on one --data-dir exclude each
// other through the lock).
package keycmd

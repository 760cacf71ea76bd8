// Package server assembles a StreamHub instance: NATS (embedded or a
// cluster), the fan-out hub, the ingest path, the WebSocket gateway, the
// demo feeds and the HTTP endpoints; and it shuts them down in order. It is
// the wiring that cmd/hub's serve command runs, kept out of main so that
// tests can start a whole hub in-process.
package server

// Package web serves the StreamHub dashboard from assets embedded in the hub
// binary.
//
// The dashboard and the TypeScript client live beside this file (dashboard/,
// client/) and are built with Node: `cd web && npm ci && npm run build`. The
// build writes the dashboard into static/app/, which is git-ignored; the
// tracked static/README.txt keeps the //go:embed pattern valid, so
// `go build ./...` works on a fresh clone without Node. A binary built before
// the assets exist serves, at "/", a short page (HTTP 200, Cache-Control:
// no-store) that explains how to build them; status 200 rather than 503
// because the hub itself is healthy and a browser shows the page either way.
//
// Caching: index.html is served with Cache-Control: no-cache (revalidated via
// its ETag), files under /assets/ carry content hashes in their names and get
// a one-year immutable lifetime, other files are no-cache.
package web

// Package subject is NATS subject syntax as StreamHub accepts it: which
// subjects and subscription patterns are valid, whether a subject matches a
// pattern, and whether one pattern covers another. Every other package
// (the fan-out core, the protocol, auth scopes, the bus, the ingestors)
// takes its subject rules from here. It imports only the standard library.
package subject

// Package nodejsconfig reads the configuration of drupal-node.js, the Node app
// socketd replaces, as operators have it: nodejs.config.js (JavaScript
// assigning `settings = {...}`, run in an embedded interpreter), or the same
// keys as JSON or YAML, then the Lagoon/wodby NODE_* environment variables
// (spec §1). Values are coerced the way the Node app tolerated them (numbers
// in strings, "true"/"false"), and keys socketd accepts but does not use are
// listed so the caller can warn once.
//
// Config is the whole settings object: the listener and TLS keys cmd/socketd
// reads, and the keys the Drupal bridge (package drupal) reads. It imports
// nothing of socketd; the bridge imports it, never the other way round.
package nodejsconfig

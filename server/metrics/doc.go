// Package metrics exposes socketd's counters to Prometheus. Its collectors
// read the Stats() snapshots the serving packages keep (server/engine,
// server/socketio, server/adapter/redisadapter) when Prometheus scrapes, so
// the serving path pays nothing for them: those packages count with a few
// atomics and do not import Prometheus. drupal/drupalmetrics does the same
// for the Drupal bridge. Handler serves /metrics beside the health probes
// of server/health, on a listener of its own (cmd/socketd: -metrics-addr).
//
// Every metric is listed in docs/OPERATIONS.md.
package metrics

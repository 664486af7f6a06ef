// Package exporter polls the towns and serves what it saw as metrics: the
// Poller (ticks, per-town cadence and offsets, concurrency, the request
// budget, sharding), the Snapshot of each town's latest poll, and TownMetrics,
// which writes the reconciler_* families from it at scrape time, straight
// into the /metrics response (MetricsHandler).
// It knows nothing of Sentry or of violation state beyond the counts it is
// handed.
package exporter

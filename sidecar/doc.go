// Package sidecar assembles `tickwatch run`: from a config it builds the
// poller, the violation tracker, the Sentry outbox and the web endpoints,
// wires each poll's observation into both the metrics and the violations
// pipeline, and owns reload and shutdown.
package sidecar

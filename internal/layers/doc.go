// Package layers holds no code: its test keeps the project's imports one way,
// cmd → sidecar → {exporter, dedupe, alerts, grafana, rules} → {gastown,
// config, metricnames}, as docs/architecture.md draws them.
package layers

// Package promtest runs the real programs of an end-to-end test: the
// tickwatch binary (built once per test binary), Prometheus and Alertmanager
// from the system, and local receivers that speak PagerDuty's Events v2 API,
// the Alertmanager webhook format and Slack's incoming webhooks. Every wait
// is bounded and every process is killed in t.Cleanup.
package promtest

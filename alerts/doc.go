// Package alerts tells Sentry about violation transitions: a durable outbox
// written before any send, a rate-limited sender that retries until Sentry
// accepts, and the event format of SPEC section 5.
//
// Per tick, in this order:
//
//	ts := tracker.Observe(town, ok, violations) // for every town, concurrently
//	err := notifier.Enqueue(ts)                  // durable before it returns
//	if err == nil { tracker.Save() }             // after the outbox, never before
//
// A crash between Enqueue and Save re-issues the same transitions after the
// restart (same sequence numbers, so the same event ids), and Enqueue ignores
// ids it holds or has sent. A Save before Enqueue could lose a transition.
//
// Shutdown: stop the ticks, Save the tracker, cancel Run's context and wait
// for Run to return, Flush with the shutdown bound, then Close both.
//
// With an auth token, a resolved transition is not an event but a resolve
// entry in the same outbox: it looks its issue up by an accepted event's id
// (once per issue: the group id is kept), then sets it resolved, through
// Sentry's web API, which pauses apart from the events.
//
// With no DSN the notifier is log-only: each transition is one structured
// log line (counted in Stats.Logged, not in Sent) and no outbox is kept.
package alerts

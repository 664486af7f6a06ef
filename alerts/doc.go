// Package alerts tells Sentry about violation transitions: a durable outbox
// written before any send, a rate-limited sender that retries until Sentry
// accepts, and the event format of SPEC section 5.
//
// Per tick, in this order (sidecar.Violations):
//
//	ts := tracker.Observe(town, ok, violations) // for every town, concurrently
//	tracker.Save()                              // the transitions, with the state
//	notifier.Enqueue(ts)                        // durable before it returns
//
// A crash between Save and Enqueue loses nothing: at the next start the
// tracker's last saved transitions are enqueued again (Reissue), with their
// sequence numbers, so the same event ids, and Enqueue ignores ids it holds
// or has sent. A crash before Save forgets the tick's transitions with the
// state that made them: a violation still there after the restart opens
// again, with the same ids.
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

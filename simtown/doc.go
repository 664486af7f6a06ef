// Package simtown is a small, faithful reference of a Gastown worker: a fleet
// of towns, each with its own SQLite database and an alarm-driven reconciler,
// serving the Gastown debug API (reconcile-dry-run, status, replay-events).
// Where it and the real worker (commit 8422662, measured) could differ, it
// answers as the real one does, unless an Option says otherwise.
//
// Each town keeps Gastown's tables (town_events, agent_metadata, beads,
// bead_dependencies, bead_events) plus alarm_ticks, the log of its real
// alarm ticks, and checkpoint copies of its state every CheckpointEvery
// ticks; history older than the older of the two kept checkpoints is pruned.
// Every state change comes from an alarm tick: it drains pending events
// oldest first and applies them, reconciles the state into actions, applies
// them, checks invariants #7 #5 #3 #6 #4 on the result with Gastown's
// conditions, runs the side effects (dispatch_agent, stop_agent, poll_pr,
// send_nudge, simulated; each catches its own error, so a failed one counts
// as succeeded and sideEffectsFailed stays 0) and keeps the tick's
// ReconcilerMetrics in memory. Side effects and the simulated world (agents
// finishing, containers exiting, PRs merging, convoys starting) only ever
// record events, so the event log plus the tick log is enough to rebuild the
// state a town had at any moment (replay-events with "mode":"faithful").
//
// Routes (town ids are path-escaped):
//
//	GET    /debug/towns                           {"towns":[ids]} (simtown's own; Gastown answers 404)
//	POST   /debug/towns/{town}/reconcile-dry-run  SAVEPOINT, drain, reconcile, ROLLBACK; no "violations"
//	GET    /debug/towns/{town}/status             HEAD too
//	POST   /debug/towns/{town}/replay-events      {"from":ISO,"to":ISO[,"mode":"faithful"]}
//	GET    /debug/towns/{town}/fault              the town's Fault knobs
//	PUT    /debug/towns/{town}/fault              replace them (Fault JSON)
//	DELETE /debug/towns/{town}/fault              heal the town
//	PUT    /debug/fault, DELETE /debug/fault      the same for every town
//
// An id that is not in the fleet is a town that was never created, as on
// the real worker: status answers empty ("reconciler":null, "nextFireAt":
// null), the dry run and replay answer for an empty town, and it never
// ticks. Nothing is kept for such an id. Wrong methods, unknown routes and
// an empty id answer Gastown's 404.
//
// Options that play other Gastown versions and runtimes:
//
//	DryRunViolations  the dry run adds "violations", a hypothetical future API
//	SavepointRefused  the dry run and valid replays answer 500, as the real
//	                  code does on workerd (also a per-town fault knob)
//	IdleInterval      5m, as later versions idle ("intervalMs":300000, "idle (5m)")
//	TownIDs           IDsUUID: version 4 UUIDs from the seed, as Gastown's ids are
//	Version           VersionLater: rig_id, created_by, labels, metadata on bead
//	                  rows; draining, drainStartedAt in alarmStatus
//	Access            Cloudflare Access service token required on /debug/*:
//	                  401 {"success":false,"error":"Unauthorized"} without it
//
// Fault knobs (JSON of Fault; every field optional, PUT replaces all):
//
//	{"latency":"250ms"}        answer town calls this much later
//	{"error_rate":0.5}         answer this share of town calls with the 500 envelope
//	{"hang":true}              never answer town calls until the client gives up
//	{"malformed_body":true}    answer 200 with a truncated JSON body
//	{"stall_alarm":true}       alarm ticks stop draining: events pile up (each tick still
//	                           records its metrics, as Gastown does when its drain fails)
//	{"queue_depth":60}         keep at least 60 events pending (dry run eventsDrained >= 60)
//	{"break_invariant":7}      keep invariant 3, 4, 5, 6 or 7 broken until healed
//	{"savepoint_refused":true} dry run and valid replays answer the real code's 500
//
// The HTTP knobs (latency, error_rate, hang, malformed_body) apply to the
// three town calls only, not to the fault and town-list routes.
//
// Alarm cadence: 5 s while a town has work (Gastown's hasActiveWork, or
// pending events), IdleInterval when idle, both divided by Options.Speed.
// Each tick re-arms the alarm from its own end. Status reports nextFireAt,
// the armed alarm, and intervalMs/intervalLabel for the work the town has at
// the time of the call, in Gastown's nominal terms (5000 or 60000 ms) at any
// speed; work that arrives in an idle town says "active (5s)" while the alarm
// may still be a minute away.
package simtown

// Package simtown is a small, faithful reference of a Gastown worker: a fleet
// of towns, each with its own SQLite database and an alarm-driven reconciler,
// serving the Gastown debug API (reconcile-dry-run, status, replay-events).
//
// Each town keeps Gastown's tables (town_events, agent_metadata, beads,
// bead_dependencies) plus alarm_ticks, the log of its real alarm ticks, and
// checkpoint copies of its state every CheckpointEvery ticks; history older
// than the older of the two kept checkpoints is pruned. Every
// state change comes from an alarm tick: it drains pending events oldest
// first and applies them, reconciles the state into actions, applies them,
// checks invariants #7 #5 #3 #6 #4 on the result, runs the side effects
// (dispatch_agent, stop_agent, poll_pr, send_nudge, simulated) and keeps the
// tick's ReconcilerMetrics in memory. Side effects and the simulated world (agents
// finishing, containers exiting, PRs merging, convoys starting) only ever
// record events, so the event log plus the tick log is enough to rebuild the
// state a town had at any moment (replay-events with "mode":"faithful").
//
// Routes (town ids are path-escaped; an id that is not in the fleet answers
// Gastown's 404 envelope instead of creating a town, so a mistyped id never
// grows the fleet):
//
//	GET    /debug/towns                           {"towns":[ids]}
//	POST   /debug/towns/{town}/reconcile-dry-run  SAVEPOINT, drain, reconcile, check, ROLLBACK
//	GET    /debug/towns/{town}/status
//	POST   /debug/towns/{town}/replay-events      {"from":ISO,"to":ISO[,"mode":"faithful"]}
//	GET    /debug/towns/{town}/fault              the town's Fault knobs
//	PUT    /debug/towns/{town}/fault              replace them (Fault JSON)
//	DELETE /debug/towns/{town}/fault              heal the town
//	PUT    /debug/fault, DELETE /debug/fault      the same for every town
//
// Fault knobs (JSON of Fault; every field optional, PUT replaces all):
//
//	{"latency":"250ms"}        answer town calls this much later
//	{"error_rate":0.5}         answer this share of town calls with the 500 envelope
//	{"hang":true}              never answer town calls until the client gives up
//	{"malformed_body":true}    answer 200 with a truncated JSON body
//	{"stall_alarm":true}       alarm ticks stop draining: events pile up
//	{"queue_depth":60}         keep at least 60 events pending (dry run eventsDrained >= 60)
//	{"break_invariant":7}      keep invariant 3, 4, 5, 6 or 7 broken until healed
//
// The HTTP knobs (latency, error_rate, hang, malformed_body) apply to the
// three town calls only, not to the fault and town-list routes.
//
// Alarm cadence: 5 s while a town has work or pending events, 60 s when idle,
// both divided by Options.Speed. The status answer reports the nominal
// Gastown interval (5000 or 60000 ms) so watchers classify idle towns the same
// way at any speed; nextFireAt is the real next tick.
package simtown

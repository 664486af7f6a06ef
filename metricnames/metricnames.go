// Package metricnames holds the name and help text of every metric family
// tickwatch serves (SPEC section 4). The exporter serves them, the dashboard
// and the alert rules query them: a rename here breaks their build, not their
// queries. It imports nothing of the project.
package metricnames

// Mirrored from the target, per town.
const (
	Up                    = "reconciler_up"
	QueueDepth            = "reconciler_queue_depth"
	PendingEvents         = "reconciler_pending_events"
	Actions               = "reconciler_actions"
	LastTickEventsDrained = "reconciler_last_tick_events_drained"
	LastTickActions       = "reconciler_last_tick_actions"
	LastTickSideEffects   = "reconciler_last_tick_side_effects"
	LastTickWallClock     = "reconciler_last_tick_wall_clock_seconds"
	LastTickViolations    = "reconciler_last_tick_invariant_violations"
	LastTickPendingEvents = "reconciler_last_tick_pending_events"
	Agents                = "reconciler_agents"
	Beads                 = "reconciler_beads"
	AlarmInterval         = "reconciler_alarm_interval_seconds"
	InvariantViolations   = "reconciler_invariant_violations"
	DryRunDuration        = "reconciler_dry_run_duration_seconds"
	LastSuccess           = "reconciler_last_success_timestamp_seconds"

	// Additions to SPEC section 4: the dry run and the status call are
	// separate looks at a town, and a town can answer without ticking.
	DryRunUp         = "reconciler_dry_run_up"
	DryRunStatusCode = "reconciler_dry_run_status_code"
	Ticking          = "reconciler_ticking"
)

// The sidecar itself.
const (
	Towns                = "tickwatch_towns"
	ShardInfo            = "tickwatch_shard_info"
	Shards               = "tickwatch_shards"
	Polls                = "tickwatch_polls_total"
	PollsSkipped         = "tickwatch_polls_skipped_total"
	DryRunsDeferred      = "tickwatch_dry_runs_deferred_total"
	PollDuration         = "tickwatch_poll_duration_seconds"
	TickDuration         = "tickwatch_tick_duration_seconds"
	Ticks                = "tickwatch_ticks_total"
	TicksSkipped         = "tickwatch_ticks_skipped_total"
	ViolationTransitions = "tickwatch_violation_transitions_total"
	ViolationsAdopted    = "tickwatch_violations_adopted_total"
	SentryEvents         = "tickwatch_sentry_events_total"
	SentryEventsDropped  = "tickwatch_sentry_events_dropped_total"
	SentryOutbox         = "tickwatch_sentry_outbox_events"
	SentryAPIRequests    = "tickwatch_sentry_api_requests_total"
	SentryUnresolved     = "tickwatch_sentry_issues_unresolved_total"
	LabelValuesDropped   = "tickwatch_label_values_dropped_total"
	BuildInfo            = "tickwatch_build_info"
	ReloadSuccessful     = "tickwatch_config_last_reload_successful"
	ReloadSuccessTime    = "tickwatch_config_last_reload_success_timestamp_seconds"
)

// The metrics.* settings that turn optional town families on. Without
// them a town costs the series the dashboard and the alert rules read.
const (
	SettingAgentsByStatus       = "agents_by_status"
	SettingBeadsByStatus        = "beads_by_status"
	SettingSideEffectsByOutcome = "side_effects_by_outcome"
	SettingDryRunDetail         = "dry_run_detail"
	SettingAlarmInterval        = "alarm_interval"
)

// optional maps each family off by default to the metrics.* setting that
// serves it.
var optional = map[string]string{
	Agents:              SettingAgentsByStatus,
	Beads:               SettingBeadsByStatus,
	LastTickSideEffects: SettingSideEffectsByOutcome,
	QueueDepth:          SettingDryRunDetail,
	PendingEvents:       SettingDryRunDetail,
	Actions:             SettingDryRunDetail,
	DryRunDuration:      SettingDryRunDetail,
	AlarmInterval:       SettingAlarmInterval,
}

// Setting names the metrics.* setting (its key under metrics:) that serves
// a family; "" for a family served by default.
func Setting(name string) string { return optional[name] }

// Settings lists every metrics.* setting, sorted.
func Settings() []string {
	return []string{SettingAgentsByStatus, SettingAlarmInterval, SettingBeadsByStatus, SettingDryRunDetail, SettingSideEffectsByOutcome}
}

// QueueDepthExpr is a town's backlog as the queue alerts and the dashboard
// read it: what the dry run finds pending now (with metrics.dry_run_detail),
// or, without it or where the dry run fails (on every real Gastown worker),
// what the last real tick left pending. The
// selector, such as `town=~"$town"`, applies to both; "" selects all. Set
// operators match on labels without the metric name.
func QueueDepthExpr(selector string) string {
	if selector != "" {
		selector = "{" + selector + "}"
	}
	return "(" + QueueDepth + selector + " or " + LastTickPendingEvents + selector + ")"
}

// help is each family's HELP text, in the order All lists them.
var help = []struct{ name, text string }{
	{Up, "1 if the town's reconciler was readable at the last poll (its status call succeeded), else 0."},
	{QueueDepth, "Events pending in the town's queue now (dry run eventsDrained)."},
	{PendingEvents, "Pending events the dry run reports (pendingEventCount)."},
	{Actions, "Actions the reconciler would emit now, by type (dry run)."},
	{LastTickEventsDrained, "Events drained by the town's last real alarm tick."},
	{LastTickActions, "Actions emitted by the town's last real alarm tick, by type."},
	{LastTickSideEffects, "Side effects of the town's last real alarm tick, by outcome."},
	{LastTickWallClock, "Wall clock time of the town's last real alarm tick."},
	{LastTickViolations, "Invariant violations the town's last real alarm tick found."},
	{LastTickPendingEvents, "Events left pending after the town's last real alarm tick."},
	{Agents, "Agents of the town by status."},
	{Beads, "Beads of the town by status."},
	{AlarmInterval, "The town's alarm interval (5s active, 60s idle)."},
	{InvariantViolations, "Invariant violations open now, after hysteresis."},
	{DryRunDuration, "Wall time of the last dry-run call to the town."},
	{LastSuccess, "Unix time of the town's last successful poll."},
	{DryRunUp, "1 if the last dry-run call to the town succeeded, else 0."},
	{DryRunStatusCode, "HTTP status of the town's last dry-run answer; 0 when none came (timeout, refused connection)."},
	{Ticking, "1 if the town's status shows a running reconciler (an armed alarm or a last tick), 0 if it answers but never ticks."},
	{Towns, "Towns watched by this replica."},
	{ShardInfo, "A metric with a constant '1' value labeled by the shard (shard.index) of this replica."},
	{Shards, "The number of shards (shard.count) this replica divides the towns among."},
	{Polls, "Calls to the towns by call (status, dry_run) and result."},
	{PollsSkipped, "Town polls not started because their tick ran out of time; those towns go first next tick."},
	{DryRunsDeferred, "Polls that made no dry run, by reason: quiet (nothing calls for one before poll.dry_run_interval), backoff (it keeps failing with the same HTTP status)."},
	{PollDuration, "Wall time of one town poll (status and dry run)."},
	{TickDuration, "Wall time of one tick over all due towns."},
	{Ticks, "Ticks completed."},
	{TicksSkipped, "Ticks skipped because an earlier one ran past them; of the ticks due during an overrun, the last runs late instead."},
	{ViolationTransitions, "Violation transitions (opened, resolved, repeated) since start."},
	{ViolationsAdopted, "Violations open on a town handed over from another replica, taken as reported without a transition."},
	{SentryEvents, "Sentry delivery attempts by result (logged: no DSN, written to the log)."},
	{SentryEventsDropped, "Transitions given up: outbox full, or rejected by Sentry with a 4xx."},
	{SentryOutbox, "Transitions waiting in the durable outbox for Sentry."},
	{SentryAPIRequests, "Sentry web API calls that resolve issues, by call (lookup, resolve) and result."},
	{SentryUnresolved, "Cleared violations whose Sentry issue could not be resolved (not found, or refused); it stays open in Sentry."},
	{LabelValuesDropped, "Action types folded into type=\"other\" by poll.max_action_types."},
	{ReloadSuccessful, "Whether the last configuration reload attempt was successful."},
	{ReloadSuccessTime, "Timestamp of the last successful configuration reload (or of the start)."},
	{BuildInfo, "A metric with a constant '1' value labeled by version, revision, branch, goversion from which tickwatch was built, and the goos and goarch for the build."},
}

// Help is the HELP text of a family; it panics on a name this package does
// not define, which only a programming error can cause.
func Help(name string) string {
	for _, h := range help {
		if h.name == name {
			return h.text
		}
	}
	panic("metricnames: no help for " + name)
}

// All lists every family tickwatch serves, besides the Go and process
// collectors. A test checks it against what a sidecar serves.
func All() []string {
	out := make([]string, len(help))
	for i, h := range help {
		out[i] = h.name
	}
	return out
}

package exporter

// Metric names of SPEC section 4. The dashboard and the alert rules refer to
// these constants, so a rename breaks their build instead of their queries.
const (
	MetricUp                    = "reconciler_up"
	MetricQueueDepth            = "reconciler_queue_depth"
	MetricPendingEvents         = "reconciler_pending_events"
	MetricActions               = "reconciler_actions"
	MetricLastTickEventsDrained = "reconciler_last_tick_events_drained"
	MetricLastTickActions       = "reconciler_last_tick_actions"
	MetricLastTickSideEffects   = "reconciler_last_tick_side_effects"
	MetricLastTickWallClock     = "reconciler_last_tick_wall_clock_seconds"
	MetricLastTickViolations    = "reconciler_last_tick_invariant_violations"
	MetricLastTickPendingEvents = "reconciler_last_tick_pending_events"
	MetricAgents                = "reconciler_agents"
	MetricBeads                 = "reconciler_beads"
	MetricAlarmInterval         = "reconciler_alarm_interval_seconds"
	MetricInvariantViolations   = "reconciler_invariant_violations"
	MetricDryRunDuration        = "reconciler_dry_run_duration_seconds"
	MetricLastSuccess           = "reconciler_last_success_timestamp_seconds"
	MetricTowns                 = "tickwatch_towns"
	MetricPolls                 = "tickwatch_polls_total"
	MetricPollDuration          = "tickwatch_poll_duration_seconds"
	MetricTickDuration          = "tickwatch_tick_duration_seconds"
	MetricTicks                 = "tickwatch_ticks_total"
	MetricViolationTransitions  = "tickwatch_violation_transitions_total"
	MetricSentryEvents          = "tickwatch_sentry_events_total"
	MetricSentryOutbox          = "tickwatch_sentry_outbox_events"
	MetricLabelValuesDropped    = "tickwatch_label_values_dropped_total"
	MetricBuildInfo             = "tickwatch_build_info"

	// Additions to SPEC section 4.
	MetricPollsSkipped        = "tickwatch_polls_skipped_total"
	MetricTicksSkipped        = "tickwatch_ticks_skipped_total"
	MetricSentryEventsDropped = "tickwatch_sentry_events_dropped_total"
)

// MetricNames lists every metric family the exporter serves, besides the Go
// and process collectors. A test checks it against what a sidecar serves.
func MetricNames() []string {
	return []string{
		MetricUp, MetricQueueDepth, MetricPendingEvents, MetricActions,
		MetricLastTickEventsDrained, MetricLastTickActions, MetricLastTickSideEffects,
		MetricLastTickWallClock, MetricLastTickViolations, MetricLastTickPendingEvents,
		MetricAgents, MetricBeads, MetricAlarmInterval, MetricInvariantViolations,
		MetricDryRunDuration, MetricLastSuccess, MetricTowns, MetricPolls,
		MetricPollDuration, MetricTickDuration, MetricTicks, MetricViolationTransitions,
		MetricSentryEvents, MetricSentryOutbox, MetricLabelValuesDropped, MetricBuildInfo,
		MetricPollsSkipped, MetricTicksSkipped, MetricSentryEventsDropped,
	}
}

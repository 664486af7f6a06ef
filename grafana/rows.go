package grafana

import (
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/metricnames"
)

// row is a titled band of panels.
type row struct {
	title  string
	panels []*panel
}

// q builds a range query; refIDs are assigned per panel at layout time.
func q(expr, legend string, expectData bool) Query {
	return Query{Expr: expr, Legend: legend, ExpectData: expectData}
}

func instant(expr, legend string, expectData bool) Query {
	return Query{Expr: expr, Legend: legend, Instant: true, ExpectData: expectData}
}

// rows is the whole dashboard in reading order, from the thresholds that the
// alert rules use too.
func rows(th config.Thresholds) []row {
	queueSteps := steps("green", step{th.QueueDepthWarning, "yellow"}, step{th.QueueDepthCritical, "red"})
	queueMax := 2 * th.QueueDepthCritical

	violationsByInvariant := timeseries("Open violations by invariant",
		"Invariant violations open now across the selected towns, after hysteresis (dedupe open_after / resolve_after), by invariant number.",
		"short", 0, q(sumBy("invariant", metricnames.InvariantViolations), "#{{invariant}}", false))
	violationsByInvariant.w, violationsByInvariant.h = 6, 6
	barsStacked(violationsByInvariant)

	actions := timeseries("Actions by type",
		"Actions emitted by each selected town's last real alarm tick, summed by action type and stacked.",
		"short", 0, q(sumBy("type", metricnames.LastTickActions), "{{type}}", false))
	barsStacked(actions)

	sideEffects := timeseries("Side effects",
		"Side effects of the last real alarm tick of the selected towns: attempted (blue), succeeded (green), failed (red). Needs `metrics."+
			metricnames.SettingSideEffectsByOutcome+": true` in tickwatch's config (off by default: the real worker never reports a failed side effect, so attempted equals succeeded).",
		"short", 0, q(sumBy("outcome", metricnames.LastTickSideEffects), "{{outcome}}", false))
	sideEffects.w = 10
	sideEffects.fieldConfig.Overrides = []override{
		colorByName("attempted", "blue"), colorByName("succeeded", "green"), colorByName("failed", "red"),
	}

	wallClock := timeseries("Wall clock per tick",
		"Wall clock time of each selected town's last real alarm tick. The red line and area start at thresholds.wall_clock_seconds, the same threshold as the ReconcilerWallClockHigh alert.",
		"s", 3, q(byTown(metricnames.LastTickWallClock), "{{town}}", true))
	wallClock.w = 10
	wallClock.fieldConfig.Defaults.Thresholds = steps("green", step{th.WallClockSeconds, "red"})
	wallClock.fieldConfig.Defaults.Custom.ThresholdsStyle.Mode = "line+area"

	polls := timeseries("Polls by result",
		"Calls to the towns per second by call (status, dry_run) and result: success, error, timeout. A failing status call leaves a town unobserved; a failing dry run only hides its queue depth and actions now (on a real Gastown worker it always fails).",
		"reqps", 2, q(rateBy("call, result", metricnames.Polls), "{{call}} {{result}}", true))
	polls.w = 6

	latency := timeseries("Poll latency",
		"Poll latency quantiles (p50, p90, p99) from the tickwatch_poll_duration_seconds histogram.",
		"s", 3,
		q(quantile(0.5, metricnames.PollDuration), "p50", true),
		q(quantile(0.9, metricnames.PollDuration), "p90", true),
		q(quantile(0.99, metricnames.PollDuration), "p99", true))
	latency.w = 6

	sentry := timeseries("Sentry events by result",
		"Violation transitions handed to Sentry per second by result: sent, failed, rate_limited (logged without a DSN). Zero while no violation opens or resolves.",
		"eps", 2, q(rateBy("result", metricnames.SentryEvents), "{{result}}", true))
	sentry.w = 6
	sentry.fieldConfig.Overrides = []override{
		colorByName("sent", "green"), colorByName("failed", "red"), colorByName("rate_limited", "orange"),
	}

	outbox := timeseries("Sentry outbox depth",
		"Transitions waiting in the durable outbox for Sentry to accept them. A rising line means Sentry is down or rate limiting.",
		"short", 0, q("sum("+metricnames.SentryOutbox+")", "outbox", true))
	outbox.w = 6

	return []row{
		{title: "Fleet", panels: []*panel{
			narrow(stat("Towns up", "Selected towns whose reconciler was readable at the last poll (status call succeeded).", "short", "value",
				steps("red", step{1, "green"}),
				q("sum("+byTown(metricnames.Up)+")", "up", true))),
			townsAtZero("Towns down", "Selected towns whose last status call failed (reconciler_up == 0).",
				"red", metricnames.Up, "down"),
			townsAtZero("Towns not ticking", "Selected towns that answer but show no armed alarm and no last tick (reconciler_ticking == 0): an id that was never created.",
				"orange", metricnames.Ticking, "not ticking"),
			townsAtZero("Dry runs failing", "Selected towns whose last dry run failed (reconciler_dry_run_up == 0). Their other gauges are current; on a real Gastown worker every dry run fails (see the runbook, ReconcilerDryRunFailing).",
				"orange", metricnames.DryRunUp, "failing"),
			violationsByInvariant,
			barGauge("Top towns by queue depth",
				"The ten selected towns with the deepest event queue: the events each town's last tick left pending, or what the dry run finds pending now where tickwatch serves it (`metrics."+metricnames.SettingDryRunDetail+": true`, and a dry run that succeeds). Yellow at thresholds.queue_depth_warning, red at thresholds.queue_depth_critical.",
				"short", queueMax, queueSteps,
				instant("topk(10, "+queueDepthByTown()+")", "{{town}}", true)),
		}},
		{title: "Reconciler", panels: []*panel{
			timeseries("Events drained per tick",
				"Events each selected town's last real alarm tick drained from its queue.",
				"short", 0, q(byTown(metricnames.LastTickEventsDrained), "{{town}}", true)),
			actions,
			sideEffects,
			stat("Invariant violations",
				"Invariant violations the last real alarm tick of the selected towns counted (the reconciler's own count), next to those tickwatch holds open after hysteresis (named from the dry run or the status rows, the rest as one unnamed remainder); red from 1.",
				"short", "background", steps("green", step{1, "red"}),
				q("sum("+byTown(metricnames.LastTickViolations)+")", "reconciler count", true),
				q("sum(max by (town, invariant) ("+perTown(metricnames.InvariantViolations)+")) or vector(0)", "open in tickwatch", true)),
			wallClock,
			gauge("Queue depth",
				"Each selected town's event queue depth: the events its last tick left pending, or what the dry run finds pending now where tickwatch serves it (`metrics."+metricnames.SettingDryRunDetail+": true`, and a dry run that succeeds); its last non-null sample (never a mean over the range). Yellow at thresholds.queue_depth_warning, red at thresholds.queue_depth_critical.",
				"short", queueMax, queueSteps,
				q(queueDepthByTown(), "{{town}}", true)),
		}},
		{title: "Sidecar", panels: []*panel{polls, latency, sentry, outbox}},
	}
}

// townsAtZero counts the selected towns whose 0/1 metric is 0, coloured
// from one such town on.
func townsAtZero(title, description, color, metric, legend string) *panel {
	return narrow(stat(title, description, "short", "background", steps("green", step{1, color}),
		q("count("+byTown(metric)+" == 0) or vector(0)", legend, true)))
}

// narrow fits four stats and two wider panels in one row.
func narrow(p *panel) *panel {
	p.w = 3
	return p
}

// barsStacked draws a time series as stacked bars.
func barsStacked(p *panel) {
	c := p.fieldConfig.Defaults.Custom
	c.DrawStyle, c.FillOpacity, c.Stacking.Mode = "bars", 80, "normal"
}

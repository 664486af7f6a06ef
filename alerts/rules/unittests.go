package rules

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/metricnames"
)

// File names written by `tickwatch rules --out DIR`.
const (
	RuleFileName = "tickwatch-rules.yml"
	TestFileName = "tickwatch-rules.test.yml"
)

// promtool's unit test file format (`promtool test rules`).
type testFile struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	Tests              []testGroup    `yaml:"tests"`
}

type testGroup struct {
	Interval       model.Duration  `yaml:"interval"`
	InputSeries    []inputSeries   `yaml:"input_series"`
	AlertRuleTests []alertRuleTest `yaml:"alert_rule_test"`
}

type inputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertRuleTest struct {
	EvalTime  model.Duration `yaml:"eval_time"`
	Alertname string         `yaml:"alertname"`
	ExpAlerts []expAlert     `yaml:"exp_alerts"` // [] asserts that nothing fires
}

type expAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

// check is one expectation at minute `at`: the alert for `labels` fires
// with `value` (rendered into the annotations), or nothing fires.
type check struct {
	at     int
	firing bool
	value  float64
}

// alertCase is one test group: series for a sick subject and healthy (or
// exactly-at-threshold) ones, and the checks over time for one rule.
type alertCase struct {
	rule   Rule
	labels map[string]string // labels of the expected alert, without alertname
	series []inputSeries
	checks []check
}

const step = time.Minute

// UnitTests returns a promtool test file that drives every alert of the
// generated rule file into firing and back, and shows that healthy towns and
// values exactly at a threshold do not fire.
func UnitTests(th config.Thresholds) ([]byte, error) {
	return unitTests(th, Options{}, RuleFileName)
}

func unitTests(th config.Thresholds, o Options, ruleFile string) ([]byte, error) {
	if err := checkThresholds(th); err != nil {
		return nil, err
	}
	if o.TimeScale != 0 && o.TimeScale != 1 {
		return nil, fmt.Errorf("unit tests step by minutes and need unscaled durations, not time scale %v", o.TimeScale)
	}
	rules := Alerts(th, o)
	cases := unitTestCases(th, o.job(), rules)
	tf := testFile{
		RuleFiles:          []string{ruleFile},
		EvaluationInterval: model.Duration(step),
	}
	covered := map[string]bool{}
	for _, c := range cases {
		g := testGroup{Interval: model.Duration(step), InputSeries: c.series}
		for _, ch := range c.checks {
			at := alertRuleTest{
				EvalTime:  model.Duration(time.Duration(ch.at) * step),
				Alertname: c.rule.Alert,
				ExpAlerts: []expAlert{},
			}
			if ch.firing {
				a, err := expected(c.rule, c.labels, ch.value)
				if err != nil {
					return nil, fmt.Errorf("unit test of %s: %w", c.rule.Alert, err)
				}
				at.ExpAlerts = append(at.ExpAlerts, a)
				covered[c.rule.Alert] = true
			}
			g.AlertRuleTests = append(g.AlertRuleTests, at)
		}
		tf.Tests = append(tf.Tests, g)
	}
	for _, name := range AlertNames() {
		if !covered[name] {
			return nil, fmt.Errorf("no unit test makes %s fire", name)
		}
	}
	return marshal(rulesHeader, tf)
}

func unitTestCases(th config.Thresholds, job string, rules []Rule) []alertCase {
	byExpr := func(name, exprPrefix string) Rule {
		for _, r := range rules {
			if r.Alert == name && strings.HasPrefix(r.Expr, exprPrefix) {
				return r
			}
		}
		panic("rules: no rule " + name + " " + exprPrefix) // a programming error in this file
	}
	rule := func(name string) Rule { return byExpr(name, "") }
	steps := func(d time.Duration) int { return int(math.Ceil(float64(d) / float64(step))) }
	const inst, inst2, inst3 = "tickwatch-0:9917", "tickwatch-1:9917", "tickwatch-2:9917"
	town := func(metric, town string, extra ...string) string {
		l := map[string]string{"job": job, "instance": inst, "town": town}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		return series(metric, l)
	}
	// handOver is a town whose watcher changes at sample `at`, as in a
	// resize: the old replica reports up to it, the new one from it on (both
	// at `at`, the one tick of overlap). The per-town alerts aggregate the
	// replica away, so their checks hold across the move.
	handOver := func(metric, townID string, samples []string, at int, extra ...string) []inputSeries {
		l := map[string]string{"job": job, "instance": inst, "town": townID}
		for i := 0; i+1 < len(extra); i += 2 {
			l[extra[i]] = extra[i+1]
		}
		old, nu := slices.Clone(samples), slices.Clone(samples)
		for i := range samples {
			switch {
			case i == at+1:
				old[i] = "stale" // what Prometheus writes when a series leaves a scrape
			case i > at+1:
				old[i] = "_"
			}
			if i < at {
				nu[i] = "_"
			}
		}
		l2 := maps.Clone(l)
		l2["instance"], l2["pod"] = inst2, "tickwatch-1"
		return []inputSeries{{series(metric, l), strings.Join(old, " ")}, {series(metric, l2), strings.Join(nu, " ")}}
	}
	alertLabels := func(r Rule, l map[string]string) map[string]string {
		out := maps.Clone(r.Labels)
		maps.Copy(out, l)
		return out
	}
	sick := map[string]string{"job": job, "town": "town-sick"}

	// threshold is the shape shared by the gauge-over-threshold alerts: a
	// sick town crosses the threshold at minute `start`, moves to another
	// replica once the alert fires, and drops back at `recover`; an edge
	// town sits exactly on the threshold all along.
	threshold := func(r Rule, metric string, forD, keep time.Duration, low, high, edge float64) alertCase {
		start, f, k := 5, steps(forD), steps(keep)
		recover := start + f + 3
		total := recover + k + 5
		c := alertCase{
			rule:   r,
			labels: alertLabels(r, sick),
			series: append(handOver(metric, "town-sick", concat(rep(low, start), rep(high, recover-start), rep(low, total-recover)), start+f+1),
				inputSeries{town(metric, "town-edge"), values(run(edge, total))}),
			checks: []check{
				{at: start + f - 1},
				{at: start + f, firing: true, value: high},
				{at: recover - 1, firing: true, value: high}, // after the hand-over
			},
		}
		if k > 0 {
			c.checks = append(c.checks, check{at: recover + k - 1, firing: true, value: high})
		}
		c.checks = append(c.checks, check{at: recover + k})
		return c
	}

	var cases []alertCase

	// TickwatchDown from up == 0: one replica down, another up.
	{
		r := byExpr(AlertTickwatchDown, "up")
		start, f := 5, steps(forTickwatchDown)
		recover := start + f + 3
		total := recover + 5
		cases = append(cases, alertCase{
			rule:   r,
			labels: alertLabels(r, map[string]string{"job": job, "instance": inst}),
			series: []inputSeries{
				{series("up", map[string]string{"job": job, "instance": inst}), values(run(1, start), run(0, recover-start), run(1, total-recover))},
				{series("up", map[string]string{"job": job, "instance": inst2}), values(run(1, total))},
			},
			checks: []check{{at: start + f - 1}, {at: start + f, firing: true, value: 0}, {at: recover}},
		})
	}
	// TickwatchDown from absent(): only other jobs are scraped.
	{
		r := byExpr(AlertTickwatchDown, "absent")
		f := steps(forTickwatchDown)
		other := "node"
		if job == other {
			other = "node-exporter"
		}
		cases = append(cases, alertCase{
			rule:   r,
			labels: alertLabels(r, map[string]string{"job": job}),
			series: []inputSeries{{series("up", map[string]string{"job": other, "instance": "node-0:9100"}), values(run(1, f+5))}},
			checks: []check{{at: f - 1}, {at: f, firing: true, value: 1}},
		})
	}
	// ReconcilerTownDown: polls of one town fail, and keep failing at the
	// replica it moves to; another town is fine.
	{
		r := rule(AlertReconcilerTownDown)
		start, f, k := 5, steps(forTownDown), steps(keepTownDown)
		recover := start + f + 3
		total := recover + k + 5
		cases = append(cases, alertCase{
			rule:   r,
			labels: alertLabels(r, sick),
			series: append(handOver(metricnames.Up, "town-sick", concat(rep(1, start), rep(0, recover-start), rep(1, total-recover)), start+f+1),
				inputSeries{town(metricnames.Up, "town-ok"), values(run(1, total))}),
			checks: []check{
				{at: start + f - 1}, {at: start + f, firing: true, value: 0}, {at: recover - 1, firing: true, value: 0},
				{at: recover + k - 1, firing: true, value: 0}, {at: recover + k},
			},
		})
	}
	// ReconcilerStale: one town's last success freezes at minute `freeze`,
	// also at the replica it moves to; another town succeeds every minute.
	{
		r := rule(AlertReconcilerStale)
		const freeze = 9
		staleSteps := int(math.Floor(time.Duration(th.StaleAfter).Seconds() / step.Seconds()))
		active := freeze + staleSteps + 1 // first minute with now - last > stale_after
		fire := active + steps(forStale)
		recover := fire + 3
		at := func(i int) float64 { return float64(i) * step.Seconds() }
		var last []string
		for i := 0; i < recover+10; i++ {
			switch {
			case i <= freeze:
				last = append(last, num(at(i)))
			case i < recover:
				last = append(last, num(at(freeze)))
			default:
				last = append(last, num(at(i)))
			}
		}
		cases = append(cases, alertCase{
			rule:   r,
			labels: alertLabels(r, sick),
			series: append(handOver(metricnames.LastSuccess, "town-sick", last, fire+1),
				inputSeries{town(metricnames.LastSuccess, "town-ok"), fmt.Sprintf("0+%sx%d", num(step.Seconds()), recover+10)}),
			checks: []check{{at: fire - 1}, {at: fire, firing: true, value: at(fire) - at(freeze)},
				{at: fire + 2, firing: true, value: at(fire+2) - at(freeze)}, {at: recover}},
		})
	}
	// ReconcilerStale, never succeeded: a town down since tickwatch started
	// has no last success; it pages stale_after and a minute later, and
	// ends with its first success. A town that is down but has a last
	// success (recent here, so that the other rule stays quiet) is the
	// other rule's; a town that is up is fine.
	{
		r := byExpr(AlertReconcilerStale, "max without")
		f := steps(time.Duration(th.StaleAfter) + forStale)
		recover := f + 3
		total := recover + 5
		since := func(i, n int) string { // n samples of a clock that reads i steps at the first
			return fmt.Sprintf("%s+%sx%d", num(float64(i)*step.Seconds()), num(step.Seconds()), n-1)
		}
		cases = append(cases, alertCase{
			rule:   r,
			labels: alertLabels(r, sick),
			series: []inputSeries{
				{town(metricnames.Up, "town-sick"), values(run(0, recover), run(1, total-recover))},
				{town(metricnames.LastSuccess, "town-sick"), values(fmt.Sprintf("_x%d", recover), since(recover, total-recover))},
				{town(metricnames.Up, "town-known"), values(run(0, total))},
				{town(metricnames.LastSuccess, "town-known"), since(0, total)},
				{town(metricnames.Up, "town-ok"), values(run(1, total))},
			},
			checks: []check{{at: f - 1}, {at: f, firing: true, value: 0}, {at: recover - 1, firing: true, value: 0}, {at: recover}},
		})
	}
	w, c := th.QueueDepthWarning, th.QueueDepthCritical
	high := w + 1 // above warning; between the two when there is room
	if c > w {
		high = (w + c) / 2
	}
	cases = append(cases,
		threshold(rule(AlertReconcilerQueueDepthHigh), metricnames.QueueDepth, forQueueHigh, keepQueueHigh, w/2, high, w),
		threshold(rule(AlertReconcilerQueueDepthCritical), metricnames.QueueDepth, forQueueCritical, keepQueueCritical, w/2, c*1.5, c),
		threshold(rule(AlertReconcilerWallClockHigh), metricnames.LastTickWallClock, forWallClock, keepWallClock,
			th.WallClockSeconds/2, th.WallClockSeconds*2, th.WallClockSeconds),
	)
	// The queue alerts read the last tick's pending events where the dry
	// run fails, and the dry run's queue depth where it answers.
	{
		r := rule(AlertReconcilerQueueDepthHigh)
		start, f := 5, steps(forQueueHigh)
		total := start + f + 3
		cases = append(cases, alertCase{
			rule:   r,
			labels: alertLabels(r, map[string]string{"job": job, "town": "town-real"}),
			series: []inputSeries{
				{town(metricnames.LastTickPendingEvents, "town-real"), values(run(0, start), run(high, total-start))},
				{town(metricnames.LastTickPendingEvents, "town-sim"), values(run(high, total))},
				{town(metricnames.QueueDepth, "town-sim"), values(run(0, total))},
			},
			checks: []check{{at: start + f - 1}, {at: start + f, firing: true, value: high}},
		})
	}
	// ReconcilerDryRunFailing: one town's dry run answers 500 from minute
	// 5 while its status works; another town's dry run works.
	{
		r := rule(AlertReconcilerDryRunFailing)
		start, f := 5, steps(forDryRunFailing)
		recover := start + f + 3
		total := recover + 5
		cases = append(cases, alertCase{
			rule:   r,
			labels: alertLabels(r, sick),
			series: []inputSeries{
				{town(metricnames.DryRunUp, "town-sick"), values(run(1, start), run(0, recover-start), run(1, total-recover))},
				{town(metricnames.DryRunStatusCode, "town-sick"), values(run(200, start), run(500, recover-start), run(200, total-recover))},
				{town(metricnames.DryRunUp, "town-ok"), values(run(1, total))},
				{town(metricnames.DryRunStatusCode, "town-ok"), values(run(200, total))},
			},
			checks: []check{{at: start + f - 1}, {at: start + f, firing: true, value: 500}, {at: recover}},
		})
	}
	// The fleet alerts: in the job, three towns of four fail from minute 5
	// until `recover`, watched by two replicas; the alert outlasts them by
	// its keep_firing_for. In another job two towns of five fail all along
	// (under half), in a third the only town fails (one town is not a
	// fleet). A second case shows that exactly half is enough.
	fleet := func(r Rule, metric string) []alertCase {
		start, f, k := 5, steps(time.Duration(r.For)), steps(time.Duration(r.KeepFiringFor))
		recover := start + f + 3
		total := recover + k + 5
		sick := values(run(1, start), run(0, recover-start), run(1, total-recover))
		up, down := values(run(1, total)), values(run(0, total))
		var in []inputSeries
		add := func(jobName, instance, townID, samples string) {
			l := map[string]string{"job": jobName, "instance": instance, "town": townID}
			in = append(in, inputSeries{series(metric, l), samples})
			if metric != metricnames.Up {
				in = append(in, inputSeries{series(metricnames.Up, l), up})
			}
		}
		other, alone := job+"-other", job+"-alone"
		add(job, inst, "town-a", sick)
		add(job, inst2, "town-b", sick)
		add(job, inst2, "town-c", sick)
		add(job, inst, "town-d", up)
		for i, samples := range []string{down, down, up, up, up} {
			add(other, inst, fmt.Sprintf("town-o%d", i), samples)
		}
		add(alone, inst, "town-alone", down)
		main := alertCase{
			rule:   r,
			labels: alertLabels(r, map[string]string{"job": job}),
			series: in,
			checks: []check{
				{at: start + f - 1}, {at: start + f, firing: true, value: 0.75},
				{at: recover + k - 1, firing: true, value: 0.75}, {at: recover + k},
			},
		}
		in = nil
		for i, samples := range []string{down, down, up, up} {
			add(job, inst, fmt.Sprintf("town-h%d", i), samples)
		}
		half := alertCase{
			rule:   r,
			labels: alertLabels(r, map[string]string{"job": job}),
			series: in,
			checks: []check{{at: f - 1}, {at: f, firing: true, value: 0.5}},
		}
		return []alertCase{main, half}
	}
	cases = append(cases, fleet(rule(AlertTickwatchTownsDown), metricnames.Up)...)
	cases = append(cases, fleet(rule(AlertTickwatchDryRunsFailing), metricnames.DryRunUp)...)
	// ReconcilerNotTicking: a town id that was never created answers but
	// never ticks; a running town ticks.
	{
		r := rule(AlertReconcilerNotTicking)
		f := steps(forNotTicking)
		cases = append(cases, alertCase{
			rule:   r,
			labels: alertLabels(r, sick),
			series: []inputSeries{
				{town(metricnames.Ticking, "town-sick"), values(run(0, f+5))},
				{town(metricnames.Ticking, "town-ok"), values(run(1, f+5))},
			},
			checks: []check{{at: f - 1}, {at: f, firing: true, value: 0}},
		})
	}
	// ReconcilerInvariantViolated: invariant #7 opens in one town, which
	// moves to another replica while it stays open; the healthy town exports
	// the same invariant at 0.
	{
		r := rule(AlertReconcilerInvariantViolated)
		start, f := 5, steps(forInvariant)
		recover := start + f + 3
		total := recover + 5
		cases = append(cases, alertCase{
			rule:   r,
			labels: alertLabels(r, map[string]string{"job": job, "town": "town-sick", "invariant": "7"}),
			series: append(handOver(metricnames.InvariantViolations, "town-sick", concat(rep(0, start), rep(1, recover-start), rep(0, total-recover)), start+f+1, "invariant", "7"),
				inputSeries{town(metricnames.InvariantViolations, "town-ok", "invariant", "7"), values(run(0, total))}),
			checks: []check{{at: start + f - 1}, {at: start + f, firing: true, value: 1}, {at: recover - 1, firing: true, value: 1}, {at: recover}},
		})
	}
	// TickwatchSentryDeliveryFailing: replica 0 fails every send for 20
	// minutes and sends nothing; replica 1 only sends; replica 2 fails some
	// and sends some, which is not an outage.
	{
		r := rule(AlertTickwatchSentryDeliveryFailing)
		const failUntil, total = 20, 33
		win, f := steps(sentryFailingRange), steps(forSentryFailing)
		ev := func(instance, result string) string {
			return series(metricnames.SentryEvents, map[string]string{"job": job, "instance": instance, "result": result})
		}
		ramp := fmt.Sprintf("0+1x%d", total-1)
		labels := alertLabels(r, map[string]string{"job": job, "instance": inst})
		failing, none := values(fmt.Sprintf("0+1x%d", failUntil), run(failUntil, total-failUntil-1)), values(run(0, total))
		// Active from minute 1 (the first increase), firing `for` later with
		// the failures of one whole window; resolved once a window holds no
		// failure.
		outage := []check{{at: f}, {at: 1 + f, firing: true, value: float64(win)}, {at: failUntil + win}}
		cases = append(cases, alertCase{
			rule:   r,
			labels: labels,
			series: []inputSeries{
				{ev(inst, "failed"), failing},
				{ev(inst, "sent"), none},
				{ev(inst2, "failed"), none},
				{ev(inst2, "sent"), ramp},
				{ev(inst3, "failed"), ramp},
				{ev(inst3, "sent"), ramp},
			},
			checks: outage,
		})
		// Sentry's 429s (its quota spent) deliver nothing either.
		cases = append(cases, alertCase{
			rule:   r,
			labels: labels,
			series: []inputSeries{{ev(inst, "rate_limited"), failing}, {ev(inst, "sent"), none}},
			checks: outage,
		})
	}
	// TickwatchPollsSkipped: replica 0 skips a poll every minute for 25
	// minutes; replica 1 skips one a minute in a burst of 8 minutes (towns
	// that hung for a while), which must not fire.
	{
		r := rule(AlertTickwatchPollsSkipped)
		const skipUntil, total = 25, 40
		win, f := steps(pollsSkippedRange), steps(forPollsSkipped)
		skipped := func(instance string) string {
			return series(metricnames.PollsSkipped, map[string]string{"job": job, "instance": instance})
		}
		cases = append(cases, alertCase{
			rule:   r,
			labels: alertLabels(r, map[string]string{"job": job, "instance": inst}),
			series: []inputSeries{
				{skipped(inst), values(fmt.Sprintf("0+1x%d", skipUntil), run(skipUntil, total-skipUntil-1))},
				{skipped(inst2), values(run(0, 5), "1+1x7", run(8, total-13))},
			},
			// Active from minute 1, firing `for` later with a whole
			// window's skips; resolved once a window holds none.
			checks: []check{{at: f}, {at: 1 + f, firing: true, value: float64(win)}, {at: skipUntil + win}},
		})
	}
	// The shard alerts watch three replicas of a three-shard fleet.
	shardInfo := func(instance, shard string) string {
		return series(metricnames.ShardInfo, map[string]string{"job": job, "instance": instance, "shard": shard})
	}
	shards := func(instance string) string {
		return series(metricnames.Shards, map[string]string{"job": job, "instance": instance})
	}
	// TickwatchShardMissing: replica 2 is killed at minute 5 and comes back.
	{
		r := rule(AlertTickwatchShardMissing)
		start, f := 5, steps(forShardMissing)
		recover := start + f + 3
		total := recover + 5
		gone := values(run(1, start), gap(recover-start), run(1, total-recover))
		goneCount := values(run(3, start), gap(recover-start), run(3, total-recover))
		cases = append(cases, alertCase{
			rule:   r,
			labels: alertLabels(r, map[string]string{"job": job}),
			series: []inputSeries{
				{shardInfo(inst, "0"), values(run(1, total))}, {shards(inst), values(run(3, total))},
				{shardInfo(inst2, "1"), values(run(1, total))}, {shards(inst2), values(run(3, total))},
				{shardInfo(inst3, "2"), gone}, {shards(inst3), goneCount},
			},
			checks: []check{{at: start + f - 1}, {at: start + f, firing: true, value: 2}, {at: recover}},
		})
	}
	// TickwatchShardingMismatch, cause count: replica 2 runs with 4 shards
	// for a while (a resize that reached only it); the others with 3.
	{
		r := byExpr(AlertTickwatchShardingMismatch, "max")
		start, f := 5, steps(forShardMismatch)
		back := start + f + 3
		total := back + 5
		cases = append(cases, alertCase{
			rule:   r,
			labels: alertLabels(r, map[string]string{"job": job}),
			series: []inputSeries{
				{shards(inst), values(run(3, total))},
				{shards(inst2), values(run(3, total))},
				{shards(inst3), values(run(3, start), run(4, back-start), run(3, total-back))},
			},
			checks: []check{{at: start + f - 1}, {at: start + f, firing: true, value: 4}, {at: back}},
		})
	}
	// TickwatchShardingMismatch, cause duplicate-shard: two replicas run as
	// shard 1 (shard 2 has nobody) for a while.
	{
		r := byExpr(AlertTickwatchShardingMismatch, "count")
		start, f := 5, steps(forShardMismatch)
		back := start + f + 3
		total := back + 5
		cases = append(cases, alertCase{
			rule:   r,
			labels: alertLabels(r, map[string]string{"job": job, "shard": "1"}),
			series: []inputSeries{
				{shardInfo(inst, "0"), values(run(1, total))},
				{shardInfo(inst2, "1"), values(run(1, total))},
				{shardInfo(inst3, "2"), values(run(1, start), gap(back-start), run(1, total-back))},
				{shardInfo(inst3, "1"), values(fmt.Sprintf("_x%d", start), run(1, back-start), gap(total-back))},
			},
			checks: []check{{at: start + f - 1}, {at: start + f, firing: true, value: 2}, {at: back}},
		})
	}
	return cases
}

// rep is n samples of v.
func rep(v float64, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = num(v)
	}
	return out
}

func concat(parts ...[]string) []string { return slices.Concat(parts...) }

// gap is n samples of a series that left the scrape: a staleness marker,
// then nothing.
func gap(n int) string {
	if n <= 1 {
		return "stale"
	}
	return fmt.Sprintf("stale _x%d", n-1)
}

// expected renders the alert promtool should see: the rule's labels and its
// annotations with $labels and $value filled in the way Prometheus does.
func expected(r Rule, labels map[string]string, value float64) (expAlert, error) {
	ann := make(map[string]string, len(r.Annotations))
	for k, tmpl := range r.Annotations {
		s := tmpl
		for name, v := range labels {
			s = strings.ReplaceAll(s, "{{ $labels."+name+" }}", v)
		}
		for _, f := range []struct {
			pipe   string
			render func(float64) (string, error)
		}{{"{{ $value | humanizeDuration }}", humanizeDuration}, {"{{ $value | humanizePercentage }}", humanizePercentage}, {"{{ $value | humanize }}", humanize}} {
			if !strings.Contains(s, f.pipe) {
				continue
			}
			out, err := f.render(value)
			if err != nil {
				return expAlert{}, err
			}
			s = strings.ReplaceAll(s, f.pipe, out)
		}
		s = strings.ReplaceAll(s, "{{ $value }}", num(value))
		if strings.Contains(s, "{{") {
			return expAlert{}, fmt.Errorf("annotation %s: template %q refers to something the test cannot fill", k, tmpl)
		}
		ann[k] = s
	}
	return expAlert{ExpLabels: labels, ExpAnnotations: ann}, nil
}

// series writes a promtool series selector with labels in sorted order.
func series(metric string, labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
	}
	return metric + "{" + strings.Join(parts, ", ") + "}"
}

// run is n samples of v in promtool's expanding notation.
func run(v float64, n int) string {
	if n <= 1 {
		return num(v)
	}
	return fmt.Sprintf("%sx%d", num(v), n-1)
}

func values(parts ...string) string { return strings.Join(parts, " ") }

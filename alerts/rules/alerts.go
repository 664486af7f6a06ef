package rules

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/metricnames"
)

// Alert names of SPEC section 6.
const (
	AlertTickwatchDown                  = "TickwatchDown"
	AlertReconcilerTownDown             = "ReconcilerTownDown"
	AlertReconcilerStale                = "ReconcilerStale"
	AlertReconcilerQueueDepthHigh       = "ReconcilerQueueDepthHigh"
	AlertReconcilerQueueDepthCritical   = "ReconcilerQueueDepthCritical"
	AlertReconcilerWallClockHigh        = "ReconcilerWallClockHigh"
	AlertReconcilerInvariantViolated    = "ReconcilerInvariantViolated"
	AlertTickwatchSentryDeliveryFailing = "TickwatchSentryDeliveryFailing"

	// Additions to SPEC section 6.
	AlertReconcilerDryRunFailing   = "ReconcilerDryRunFailing"
	AlertReconcilerNotTicking      = "ReconcilerNotTicking"
	AlertTickwatchShardMissing     = "TickwatchShardMissing"
	AlertTickwatchShardingMismatch = "TickwatchShardingMismatch"
	AlertTickwatchTownsDown        = "TickwatchTownsDown"
	AlertTickwatchDryRunsFailing   = "TickwatchDryRunsFailing"
	AlertTickwatchPollsSkipped     = "TickwatchPollsSkipped"
)

// AlertNames lists every alert the group holds, in the order of the group.
func AlertNames() []string {
	return []string{
		AlertTickwatchDown, AlertReconcilerTownDown, AlertReconcilerStale,
		AlertReconcilerQueueDepthHigh, AlertReconcilerQueueDepthCritical,
		AlertReconcilerWallClockHigh, AlertReconcilerInvariantViolated,
		AlertTickwatchSentryDeliveryFailing, AlertReconcilerDryRunFailing,
		AlertTickwatchTownsDown, AlertTickwatchDryRunsFailing, AlertReconcilerNotTicking,
		AlertTickwatchPollsSkipped, AlertTickwatchShardMissing, AlertTickwatchShardingMismatch,
	}
}

// ReplicaLabels are the labels that tell one tickwatch replica from another
// in what Prometheus scrapes (instance; pod under prometheus-operator). The
// per-town rules aggregate them away: a town is watched by one replica at a
// time, and by another after a resize, and its alert must not end and start
// again because its watcher changed.
var ReplicaLabels = []string{"instance", "pod"}

// acrossReplicas is a per-town expression with the replica labels
// aggregated away; max, so the one tick in which two replicas report a
// moving town counts it once.
func acrossReplicas(expr string) string {
	return fmt.Sprintf("max without (%s) (%s)", strings.Join(ReplicaLabels, ", "), expr)
}

// Rule is one alerting rule in Prometheus's rule file format.
type Rule struct {
	Alert         string            `yaml:"alert"`
	Expr          string            `yaml:"expr"`
	For           model.Duration    `yaml:"for,omitempty"`
	KeepFiringFor model.Duration    `yaml:"keep_firing_for,omitempty"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

// Base durations before TimeScale. A `for` of at least two scrapes keeps one
// bad scrape from paging; keep_firing_for is set where a value hovers around
// its threshold (queue depth, wall clock, flaky polls), so the page does not
// resolve and re-open every few minutes.
const (
	forTickwatchDown   = 2 * time.Minute
	forTownDown        = 3 * time.Minute
	keepTownDown       = 5 * time.Minute
	forStale           = 1 * time.Minute
	forQueueHigh       = 5 * time.Minute
	keepQueueHigh      = 5 * time.Minute
	forQueueCritical   = 2 * time.Minute
	keepQueueCritical  = 5 * time.Minute
	forWallClock       = 5 * time.Minute
	keepWallClock      = 5 * time.Minute
	forInvariant       = 1 * time.Minute
	forSentryFailing   = 10 * time.Minute
	sentryFailingRange = 10 * time.Minute
	// Skips in every 5 minutes for a quarter of an hour: a budget too
	// small for the towns, not a passing storm of towns that hang.
	forPollsSkipped   = 15 * time.Minute
	pollsSkippedRange = 5 * time.Minute
	// At least config.MaxDryRunWait, the back-off's cap: while backing off,
	// tickwatch holds the last answer's gauges, so the alert cannot flap
	// between attempts, and every window of this length holds an attempt.
	forDryRunFailing = 10 * time.Minute
	// The fleet's alerts wait less than the towns' alerts they hold back,
	// by more than the towns' first failures can be apart (an idle town is
	// polled every poll.idle_interval, a quiet one dry-runs every
	// poll.dry_run_interval; both a minute by default): Alertmanager must
	// know the fleet's alert before the first town's fires. TickwatchTownsDown
	// waits less for a short stale_after (see fleetDownFor).
	maxForTownsDown   = 2 * time.Minute
	minForTownsDown   = 30 * time.Second
	forDryRunsFailing = 8 * time.Minute
	// They also outlast the towns' alerts once the cause is gone, so that
	// these do not notify one by one as the inhibition lifts: a town's
	// ReconcilerTownDown keeps firing for keepTownDown after its last
	// failure, a town's failing dry run holds its gauges for up to
	// config.MaxDryRunWait of back-off; and the last towns recover up to a
	// minute after the first half.
	keepTownsDown      = keepTownDown + time.Minute
	keepDryRunsFailing = config.MaxDryRunWait + time.Minute
	forNotTicking      = 5 * time.Minute
	forShardMissing    = 2 * time.Minute
	forShardMismatch   = 10 * time.Minute // longer than a resize takes to reach every replica
)

// A failure shared by at least fleetMinShare of a job's towns, and by at
// least fleetMin of them, is one alert for the job, and Alertmanager holds
// back the towns' own: when the worker is down, a page per town is
// thousands of pages for one cause. Per job, not per replica: the towns'
// alerts carry no replica, so the alert that holds them back must speak
// for all of the job's towns.
const (
	fleetMinShare = 0.5
	fleetMin      = 2
)

// queueDepth is the backlog the queue alerts read: the dry run's view where
// tickwatch serves it (metrics.dry_run_detail) and the dry run succeeds (see
// ReconcilerDryRunFailing), else what the last tick left pending.
var queueDepth = acrossReplicas(strings.TrimSuffix(strings.TrimPrefix(metricnames.QueueDepthExpr(""), "("), ")"))

// ruleFunc builds a rule with its severity, annotations and runbook link.
type ruleFunc func(name, severity, expr string, forD, keep time.Duration, summary, description string) Rule

// Alerts returns the rules of the group, built from the thresholds.
func Alerts(th config.Thresholds, o Options) []Rule {
	job := o.job()
	staleAfter := time.Duration(th.StaleAfter)
	wall := time.Duration(th.WallClockSeconds * float64(time.Second))
	sd := func(d time.Duration) string { return o.scale(d).String() } // what the rule really waits
	var rule ruleFunc = func(name, severity, expr string, forD, keep time.Duration, summary, description string) Rule {
		return Rule{
			Alert:         name,
			Expr:          expr,
			For:           o.scale(forD),
			KeepFiringFor: o.scale(keep),
			Labels:        map[string]string{"severity": severity},
			Annotations: map[string]string{
				"summary":     summary,
				"description": description,
				"runbook_url": o.runbook(name),
			},
		}
	}
	down := []Rule{
		rule(AlertTickwatchDown, SeverityPage,
			fmt.Sprintf(`up{job=%q} == 0`, job), forTickwatchDown, 0,
			`tickwatch {{ $labels.instance }} is down`,
			fmt.Sprintf(`Prometheus has failed to scrape tickwatch at {{ $labels.instance }} (job {{ $labels.job }}) for more than %s (up = {{ $value }}). Its towns are not watched and their alerts cannot fire.`, sd(forTickwatchDown))),
		rule(AlertTickwatchDown, SeverityPage,
			fmt.Sprintf(`absent(up{job=%q})`, job), forTickwatchDown, 0,
			fmt.Sprintf(`No tickwatch target in job %s`, job),
			fmt.Sprintf(`Prometheus has had no target in job %q for more than %s. No town is watched and no town alert can fire.`, job, sd(forTickwatchDown))),
	}
	// Two rules raise TickwatchDown; the cause label tells them apart (and
	// keeps promtool's duplicate-rule lint quiet).
	down[0].Labels["cause"] = "scrape-failed"
	down[1].Labels["cause"] = "no-target"
	// Two raise ReconcilerStale: a last success too old, and none at all
	// while polls fail. A town has no last success after tickwatch
	// restarted while it was down, or if it never answered (a wrong id, URL
	// or credentials): without the second rule neither would page.
	stale := []Rule{
		rule(AlertReconcilerStale, SeverityPage,
			fmt.Sprintf(`time() - %s > %s`, acrossReplicas(metricnames.LastSuccess), num(staleAfter.Seconds())), forStale, 0,
			`Town {{ $labels.town }} was last polled successfully {{ $value | humanizeDuration }} ago`,
			fmt.Sprintf(`The last successful poll of town {{ $labels.town }} was {{ $value | humanizeDuration }} ago, longer than stale_after (%s). Nothing about this town is current, so none of its alerts can be trusted.`, dur(staleAfter))),
		rule(AlertReconcilerStale, SeverityPage,
			fmt.Sprintf(`%s == 0 unless on (job, town) %s`, acrossReplicas(metricnames.Up), acrossReplicas(metricnames.LastSuccess)), staleAfter+forStale, 0,
			`Town {{ $labels.town }} has not been polled successfully since tickwatch started`,
			fmt.Sprintf(`No poll of town {{ $labels.town }} has succeeded since tickwatch started watching it, for more than %s (stale_after and a minute; %s = {{ $value }}): the town never answered (check its id, target.url and the credentials), or tickwatch restarted while it was down without its last success (on a new state directory). Nothing about this town is current, so none of its alerts can be trusted.`, sd(staleAfter+forStale), metricnames.Up)),
	}
	stale[0].Labels["cause"] = "last-success-old"
	stale[1].Labels["cause"] = "never-succeeded"
	down = append(down, stale...)
	return append(append(down, []Rule{
		rule(AlertReconcilerTownDown, SeverityWarning,
			fmt.Sprintf(`%s == 0`, acrossReplicas(metricnames.Up)), forTownDown, keepTownDown,
			`Town {{ $labels.town }} cannot be polled`,
			fmt.Sprintf(`tickwatch has failed every status call of town {{ $labels.town }} for more than %s (%s = {{ $value }}). The town's other alerts are blind meanwhile.`, sd(forTownDown), metricnames.Up)),
		rule(AlertReconcilerQueueDepthHigh, SeverityWarning,
			fmt.Sprintf(`%s > %s`, queueDepth, num(th.QueueDepthWarning)), forQueueHigh, keepQueueHigh,
			fmt.Sprintf(`Town {{ $labels.town }} queue depth {{ $value }} is above %s`, num(th.QueueDepthWarning)),
			fmt.Sprintf(`Town {{ $labels.town }} has {{ $value }} pending events in its reconciler queue, above the warning threshold of %s for more than %s. The reconciler is falling behind.`, num(th.QueueDepthWarning), sd(forQueueHigh))),
		rule(AlertReconcilerQueueDepthCritical, SeverityPage,
			fmt.Sprintf(`%s > %s`, queueDepth, num(th.QueueDepthCritical)), forQueueCritical, keepQueueCritical,
			fmt.Sprintf(`Town {{ $labels.town }} queue depth {{ $value }} is above %s`, num(th.QueueDepthCritical)),
			fmt.Sprintf(`Town {{ $labels.town }} has {{ $value }} pending events in its reconciler queue, above the critical threshold of %s for more than %s. Work in this town is piling up faster than the reconciler drains it.`, num(th.QueueDepthCritical), sd(forQueueCritical))),
		rule(AlertReconcilerWallClockHigh, SeverityWarning,
			fmt.Sprintf(`%s > %s`, acrossReplicas(metricnames.LastTickWallClock), num(th.WallClockSeconds)), forWallClock, keepWallClock,
			`Town {{ $labels.town }} reconciler tick took {{ $value | humanizeDuration }}`,
			fmt.Sprintf(`The last reconciler tick of town {{ $labels.town }} took {{ $value | humanizeDuration }}, above %s for more than %s.`, wall, sd(forWallClock))),
		rule(AlertReconcilerInvariantViolated, SeverityWarning,
			fmt.Sprintf(`%s > 0`, acrossReplicas(metricnames.InvariantViolations)), forInvariant, 0,
			`Town {{ $labels.town }} violates invariant #{{ $labels.invariant }}`,
			fmt.Sprintf(`Town {{ $labels.town }} has {{ $value }} open violation(s) of reconciler invariant #{{ $labels.invariant }} for more than %s. Each violation's message is in Sentry and on the tickwatch status page.`, sd(forInvariant))),
		rule(AlertTickwatchSentryDeliveryFailing, SeverityWarning,
			fmt.Sprintf(`sum by (job, instance) (increase(%[1]s{result=~"failed|rate_limited"}[%[2]s])) > 0 unless sum by (job, instance) (increase(%[1]s{result="sent"}[%[2]s])) > 0`,
				metricnames.SentryEvents, dur(sentryFailingRange)), forSentryFailing, 0,
			`tickwatch {{ $labels.instance }} cannot deliver events to Sentry`,
			fmt.Sprintf(`tickwatch {{ $labels.instance }} failed to send {{ $value | humanize }} Sentry events in the last %s (errors, or Sentry's 429 for its quota or rate limit) and sent none for more than %s. Violation transitions wait in its durable outbox (%s).`,
				dur(sentryFailingRange), sd(forSentryFailing), metricnames.SentryOutbox)),
		rule(AlertReconcilerDryRunFailing, SeverityWarning,
			fmt.Sprintf(`%s and (%s == 0)`, acrossReplicas(metricnames.DryRunStatusCode), acrossReplicas(metricnames.DryRunUp)), forDryRunFailing, 0,
			`Town {{ $labels.town }} dry run keeps failing (HTTP {{ $value }})`,
			fmt.Sprintf(`Every dry run of town {{ $labels.town }} has failed for more than %s; the last answer was HTTP {{ $value }} (0: none came, a timeout or a refused connection). The town's status is still polled: %s and its last-tick gauges stay current, only the dry run's queue depth and actions are missing. On a real Gastown worker HTTP 500 is expected: its dry run opens a SQL SAVEPOINT, which the Workers runtime refuses. While it keeps failing with one status, tickwatch calls it less often, at most every %s (a reload or a worker restart ends the back-off), so after a fix the alert may take that long to resolve.`,
				sd(forDryRunFailing), metricnames.Up, dur(config.MaxDryRunWait))),
		townsDown(rule, sd, staleAfter),
		dryRunsFailing(rule, sd),
		rule(AlertReconcilerNotTicking, SeverityWarning,
			fmt.Sprintf(`%s == 0`, acrossReplicas(metricnames.Ticking)), forNotTicking, 0,
			`Town {{ $labels.town }} answers but its reconciler never ticks`,
			fmt.Sprintf(`The status of town {{ $labels.town }} has shown no armed alarm and no last tick for more than %s. A town id that was never created answers Gastown's debug routes this way: check the id in the watch list (%s = {{ $value }}).`, sd(forNotTicking), metricnames.Ticking)),
		rule(AlertTickwatchPollsSkipped, SeverityWarning,
			fmt.Sprintf(`sum by (job, instance) (increase(%s[%s])) > 0`, metricnames.PollsSkipped, dur(pollsSkippedRange)), forPollsSkipped, 0,
			`tickwatch {{ $labels.instance }} has no time in its ticks for all its towns`,
			fmt.Sprintf(`tickwatch {{ $labels.instance }} skipped {{ $value | humanize }} town polls in the last %s, and has skipped some in every %s for more than %s: its request budget (poll.max_requests_per_second) or poll.concurrency cannot cover its towns within a tick, or towns that hang hold its concurrency slots. Towns take turns, so their metrics are older than a tick; ReconcilerStale pages for any town not polled within stale_after.`,
				dur(pollsSkippedRange), dur(pollsSkippedRange), sd(forPollsSkipped))),
		rule(AlertTickwatchShardMissing, SeverityPage,
			fmt.Sprintf(`count by (job) (max by (job, shard) (%[1]s{job=%[3]q})) < max by (job) (%[2]s{job=%[3]q})`, metricnames.ShardInfo, metricnames.Shards, job),
			forShardMissing, 0,
			`Only {{ $value }} tickwatch shards of job {{ $labels.job }} report`,
			fmt.Sprintf(`Only {{ $value }} of the shards that tickwatch job {{ $labels.job }} is divided into (%s) have reported for more than %s. The towns of the missing shards are watched by nobody: no metric, no alert, no Sentry event for them. A replica may be down, or not scheduled at all (a pod that never started is no scrape target, so TickwatchDown cannot see it).`,
				metricnames.Shards, sd(forShardMissing))),
	}...), shardingMismatch(job, rule, sd)...)
}

// fleetShare is a fleet alert's expression: at least fleetMin of a job's
// towns, and fleetMinShare of them, have perTown at 0. Its value is their
// share. By job alone, as the inhibit rules match it: other target labels
// (a zone, a namespace) would make shares of parts of the job.
func fleetShare(perTown string) string {
	return fmt.Sprintf(`(count by (job) (%s == 0) >= %d) / count by (job) (%s) >= %s`,
		acrossReplicas(perTown), fleetMin, acrossReplicas(metricnames.Up), num(fleetMinShare))
}

// fleetDownFor is TickwatchTownsDown's for: maxForTownsDown, or stale_after
// less a minute where that is shorter, but at least minForTownsDown.
// ReconcilerStale fires stale_after and forStale (a minute) after a town's
// last success, which can be an idle interval (a minute) before the outage;
// the fleet's alert can start an idle interval after it. So with the
// default poll.idle_interval it comes first for a stale_after of 90s and
// more.
func fleetDownFor(staleAfter time.Duration) time.Duration {
	return min(maxForTownsDown, max(minForTownsDown, staleAfter-time.Minute))
}

// townsDown is the fleet's form of ReconcilerTownDown and ReconcilerStale:
// most of a job's towns cannot be polled.
func townsDown(rule ruleFunc, sd func(time.Duration) string, staleAfter time.Duration) Rule {
	forD := fleetDownFor(staleAfter)
	return rule(AlertTickwatchTownsDown, SeverityPage, fleetShare(metricnames.Up), forD, keepTownsDown,
		`{{ $value | humanizePercentage }} of the towns of job {{ $labels.job }} cannot be polled`,
		fmt.Sprintf(`tickwatch (job {{ $labels.job }}) has failed every status call of {{ $value | humanizePercentage }} of its towns for more than %s (%s == 0): the target is down, unreachable, or refuses the credentials. This one page stands for those towns' %s (a warning each), %s (a page each) and %s, which Alertmanager holds back for the whole job while it fires. It keeps firing for %s after fewer than half fail, as long as the towns' own alerts last; a town still failing then pages on its own (%s).`,
			sd(forD), metricnames.Up, AlertReconcilerTownDown, AlertReconcilerStale, AlertReconcilerDryRunFailing, sd(keepTownsDown), AlertReconcilerStale))
}

// dryRunsFailing is the fleet's form of ReconcilerDryRunFailing: the dry
// runs of most of a job's towns fail.
func dryRunsFailing(rule ruleFunc, sd func(time.Duration) string) Rule {
	return rule(AlertTickwatchDryRunsFailing, SeverityWarning, fleetShare(metricnames.DryRunUp), forDryRunsFailing, keepDryRunsFailing,
		`The dry runs of {{ $value | humanizePercentage }} of the towns of job {{ $labels.job }} keep failing`,
		fmt.Sprintf(`Every dry run of {{ $value | humanizePercentage }} of the towns of tickwatch job {{ $labels.job }} has failed for more than %s (%s == 0; %s by the status of the answer). So many at once points at the worker, not at the towns: on a real Gastown worker HTTP 500 is expected, as its dry run opens a SQL SAVEPOINT that the Workers runtime refuses. Alertmanager holds back the towns' own %s for the whole job while this fires, and this keeps firing for %s after fewer than half fail, as long as a town's dry run may wait in its back-off. Status polls, %s and the last-tick gauges are not affected.`,
			sd(forDryRunsFailing), metricnames.DryRunUp, dryRunCodes, AlertReconcilerDryRunFailing, sd(keepDryRunsFailing), metricnames.Up))
}

// dryRunCodes counts a job's failing dry runs by HTTP status.
var dryRunCodes = fmt.Sprintf(`count_values by (job) ("code", %s and %s == 0)`, acrossReplicas(metricnames.DryRunStatusCode), acrossReplicas(metricnames.DryRunUp))

// shardingMismatch raises TickwatchShardingMismatch for its two causes:
// replicas that disagree on the number of shards, and two replicas that
// claim the same shard. Either way some towns are watched twice and others
// not at all.
func shardingMismatch(job string, rule ruleFunc, sd func(time.Duration) string) []Rule {
	count := rule(AlertTickwatchShardingMismatch, SeverityWarning,
		fmt.Sprintf(`max by (job) (%[1]s{job=%[2]q}) != min by (job) (%[1]s{job=%[2]q})`, metricnames.Shards, job), forShardMismatch, 0,
		`tickwatch replicas of job {{ $labels.job }} disagree on the shard count`,
		fmt.Sprintf(`Some replicas of tickwatch job {{ $labels.job }} have run with {{ $value }} shards and others with fewer (%s) for more than %s: each divides the towns its own way, so some towns are watched twice and others by nobody. A resize that reached only some replicas: reload the others.`,
			metricnames.Shards, sd(forShardMismatch)))
	count.Labels["cause"] = "count"
	dup := rule(AlertTickwatchShardingMismatch, SeverityWarning,
		fmt.Sprintf(`count by (job, shard) (%s{job=%q}) > 1`, metricnames.ShardInfo, job), forShardMismatch, 0,
		`{{ $value }} tickwatch replicas of job {{ $labels.job }} are shard {{ $labels.shard }}`,
		fmt.Sprintf(`{{ $value }} replicas of tickwatch job {{ $labels.job }} have run as shard {{ $labels.shard }} for more than %s: they watch the same towns, and the towns of the shard nobody took are not watched. Two pods got the same shard index (--shard.index, %s, or the host name's ordinal).`,
			sd(forShardMismatch), config.EnvShardIndex))
	dup.Labels["cause"] = "duplicate-shard"
	return []Rule{count, dup}
}

// num prints a threshold the way PromQL and people read it: 25, 0.5, 1e+06.
func num(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// dur prints a duration as Prometheus writes it: 5m, 1h30m, 500ms.
func dur(d time.Duration) string { return model.Duration(d).String() }

// anchor is the runbook heading anchor of an alert (GitHub lower-cases headings).
func anchor(alert string) string { return strings.ToLower(alert) }

package exporter

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickwatch/tickwatch/target"
)

// ViolationCounts reports the violations open now, after hysteresis:
// town -> invariant -> how many.
type ViolationCounts interface {
	OpenCounts() map[string]map[int]int
}

// Collector serves the mirrored reconciler metrics from the latest snapshot.
// It builds const metrics at scrape time, so a town or an action type that is
// gone leaves no series behind.
type Collector struct {
	snap       *Snapshot
	violations ViolationCounts // may be nil

	up, queueDepth, pending, actions                       *prometheus.Desc
	ltEvents, ltActions, ltSideEffects, ltWall, ltViol     *prometheus.Desc
	ltPending, agents, beads, alarmInterval, invViolations *prometheus.Desc
	dryRun, lastSuccess                                    *prometheus.Desc
}

func NewCollector(snap *Snapshot, violations ViolationCounts) *Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"town"}, labels...), nil)
	}
	return &Collector{
		snap:          snap,
		violations:    violations,
		up:            d(MetricUp, "1 if the last poll of the town succeeded, else 0."),
		queueDepth:    d(MetricQueueDepth, "Events pending in the town's queue now (dry run eventsDrained)."),
		pending:       d(MetricPendingEvents, "Pending events the dry run reports (pendingEventCount)."),
		actions:       d(MetricActions, "Actions the reconciler would emit now, by type (dry run).", "type"),
		ltEvents:      d(MetricLastTickEventsDrained, "Events drained by the town's last real alarm tick."),
		ltActions:     d(MetricLastTickActions, "Actions emitted by the town's last real alarm tick, by type.", "type"),
		ltSideEffects: d(MetricLastTickSideEffects, "Side effects of the town's last real alarm tick, by outcome.", "outcome"),
		ltWall:        d(MetricLastTickWallClock, "Wall clock time of the town's last real alarm tick."),
		ltViol:        d(MetricLastTickViolations, "Invariant violations the town's last real alarm tick found."),
		ltPending:     d(MetricLastTickPendingEvents, "Events left pending after the town's last real alarm tick."),
		agents:        d(MetricAgents, "Agents of the town by status.", "status"),
		beads:         d(MetricBeads, "Beads of the town by status.", "status"),
		alarmInterval: d(MetricAlarmInterval, "The town's alarm interval (5s active, 60s idle)."),
		invViolations: d(MetricInvariantViolations, "Invariant violations open now, after hysteresis.", "invariant"),
		dryRun:        d(MetricDryRunDuration, "Wall time of the last dry-run call to the town."),
		lastSuccess:   d(MetricLastSuccess, "Unix time of the town's last successful poll."),
	}
}

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.up, c.queueDepth, c.pending, c.actions, c.ltEvents, c.ltActions, c.ltSideEffects, c.ltWall,
		c.ltViol, c.ltPending, c.agents, c.beads, c.alarmInterval, c.invViolations, c.dryRun, c.lastSuccess,
	} {
		ch <- d
	}
}

// Collect emits each family in the order the registry sorts it into (label
// values in label-name order), so that the registry's sort of hundreds of
// thousands of series is a linear pass instead of the bulk of the scrape.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	towns := c.snap.Towns() // sorted by town
	up := make([]TownEntry, 0, len(towns))
	withStatus := make([]TownEntry, 0, len(towns))
	withTick := make([]TownEntry, 0, len(towns))
	for _, e := range towns {
		if !e.State.Up {
			continue
		}
		up = append(up, e)
		if st := e.State.Status; st != nil {
			withStatus = append(withStatus, e)
			if st.LastTick != nil {
				withTick = append(withTick, e)
			}
		}
	}

	for _, e := range towns {
		g(c.up, b2f(e.State.Up), e.Town)
	}
	for _, e := range towns {
		g(c.dryRun, e.State.DryRunSeconds, e.Town)
	}
	for _, e := range towns {
		if !e.State.LastSuccess.IsZero() {
			g(c.lastSuccess, float64(e.State.LastSuccess.UnixMilli())/1000, e.Town)
		}
	}
	for _, e := range up {
		g(c.queueDepth, float64(e.State.QueueDepth), e.Town)
	}
	for _, e := range up {
		g(c.pending, float64(e.State.PendingEvents), e.Town)
	}
	for _, e := range up {
		for _, a := range e.State.Actions {
			g(c.actions, float64(a.Count), e.Town, a.Type)
		}
	}

	for _, e := range withStatus {
		g(c.alarmInterval, e.State.Status.AlarmIntervalSeconds, e.Town)
	}
	for _, f := range []struct {
		status string
		n      func(target.AgentCounts) int
	}{
		{"dead", func(a target.AgentCounts) int { return a.Dead }},
		{"idle", func(a target.AgentCounts) int { return a.Idle }},
		{"stalled", func(a target.AgentCounts) int { return a.Stalled }},
		{"working", func(a target.AgentCounts) int { return a.Working }},
	} {
		for _, e := range withStatus {
			g(c.agents, float64(f.n(e.State.Status.Agents)), e.Town, f.status)
		}
	}
	for _, f := range []struct {
		status string
		n      func(target.BeadCounts) int
	}{
		{"failed", func(b target.BeadCounts) int { return b.Failed }},
		{"in_progress", func(b target.BeadCounts) int { return b.InProgress }},
		{"in_review", func(b target.BeadCounts) int { return b.InReview }},
		{"open", func(b target.BeadCounts) int { return b.Open }},
		{"triage_request", func(b target.BeadCounts) int { return b.TriageRequests }},
	} {
		for _, e := range withStatus {
			g(c.beads, float64(f.n(e.State.Status.Beads)), e.Town, f.status)
		}
	}

	for _, e := range withTick {
		g(c.ltEvents, float64(e.State.Status.LastTick.EventsDrained), e.Town)
	}
	for _, e := range withTick {
		for _, a := range e.State.Status.LastTick.Actions {
			g(c.ltActions, float64(a.Count), e.Town, a.Type)
		}
	}
	for _, f := range []struct {
		outcome string
		n       func(*LastTick) int
	}{
		{"attempted", func(lt *LastTick) int { return lt.SideEffectsAttempted }},
		{"failed", func(lt *LastTick) int { return lt.SideEffectsFailed }},
		{"succeeded", func(lt *LastTick) int { return lt.SideEffectsSucceeded }},
	} {
		for _, e := range withTick {
			g(c.ltSideEffects, float64(f.n(e.State.Status.LastTick)), e.Town, f.outcome)
		}
	}
	for _, e := range withTick {
		g(c.ltWall, e.State.Status.LastTick.WallClockSeconds, e.Town)
	}
	for _, e := range withTick {
		g(c.ltViol, float64(e.State.Status.LastTick.InvariantViolations), e.Town)
	}
	for _, e := range withTick {
		g(c.ltPending, float64(e.State.Status.LastTick.PendingEvents), e.Town)
	}

	if c.violations != nil {
		for town, byInv := range c.violations.OpenCounts() {
			for inv, n := range byInv {
				g(c.invViolations, float64(n), town, strconv.Itoa(inv))
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

package exporter

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
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

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, e := range c.snap.Towns() {
		t, s := e.Town, e.State
		g(c.up, b2f(s.Up), t)
		g(c.dryRun, s.DryRunSeconds, t)
		if !s.LastSuccess.IsZero() {
			g(c.lastSuccess, float64(s.LastSuccess.UnixMilli())/1000, t)
		}
		if !s.Up {
			continue
		}
		g(c.queueDepth, float64(s.QueueDepth), t)
		g(c.pending, float64(s.PendingEvents), t)
		for _, a := range s.Actions {
			g(c.actions, float64(a.Count), t, a.Type)
		}
		st := s.Status
		if st == nil {
			continue
		}
		g(c.alarmInterval, st.AlarmIntervalSeconds, t)
		for _, a := range []struct {
			status string
			n      int
		}{{"working", st.Agents.Working}, {"idle", st.Agents.Idle}, {"stalled", st.Agents.Stalled}, {"dead", st.Agents.Dead}} {
			g(c.agents, float64(a.n), t, a.status)
		}
		for _, b := range []struct {
			status string
			n      int
		}{{"open", st.Beads.Open}, {"in_progress", st.Beads.InProgress}, {"in_review", st.Beads.InReview}, {"failed", st.Beads.Failed}, {"triage_request", st.Beads.TriageRequests}} {
			g(c.beads, float64(b.n), t, b.status)
		}
		lt := st.LastTick
		if lt == nil {
			continue
		}
		g(c.ltEvents, float64(lt.EventsDrained), t)
		for _, a := range lt.Actions {
			g(c.ltActions, float64(a.Count), t, a.Type)
		}
		g(c.ltSideEffects, float64(lt.SideEffectsAttempted), t, "attempted")
		g(c.ltSideEffects, float64(lt.SideEffectsSucceeded), t, "succeeded")
		g(c.ltSideEffects, float64(lt.SideEffectsFailed), t, "failed")
		g(c.ltWall, lt.WallClockSeconds, t)
		g(c.ltViol, float64(lt.InvariantViolations), t)
		g(c.ltPending, float64(lt.PendingEvents), t)
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

package exporter

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/metricnames"
)

// ViolationCounts reports the violations open now, after hysteresis:
// town -> invariant -> how many.
type ViolationCounts interface {
	OpenCounts() map[string]map[int]int
}

// TownMetrics serves the mirrored reconciler metrics from the latest
// snapshot. It is a prometheus.Gatherer rather than a Collector: with ten
// thousand towns a scrape has some 330,000 series, and building them as
// const metrics for the registry to check, hash and sort cost three times
// the 250 ms budget. Here each family is built directly, in exposition
// order, in a few bulk allocations; nothing is kept between scrapes, so a
// town or an action type that is gone leaves no series behind.
type TownMetrics struct {
	snap       *Snapshot
	violations ViolationCounts // may be nil
}

func NewTownMetrics(snap *Snapshot, violations ViolationCounts) *TownMetrics {
	return &TownMetrics{snap: snap, violations: violations}
}

// Label values that are the same for every town, shared by pointer.
var (
	labelTown, labelType, labelStatus   = "town", "type", "status"
	labelOutcome, labelInvariant        = "outcome", "invariant"
	statusDead, statusIdle, statusStall = "dead", "idle", "stalled"
	statusWorking, statusFailed         = "working", "failed"
	statusInProgress, statusInReview    = "in_progress", "in_review"
	statusOpen, statusTriage            = "open", "triage_request"
	outcomeAttempted, outcomeSucceeded  = "attempted", "succeeded"
)

// family accumulates one gauge family.
type family struct {
	name, help string
	labels     []*string // label names, sorted
	values     []*string // label values, len(labels) per metric
	samples    []float64
}

func newFamily(name string, labels ...*string) *family {
	return &family{name: name, help: metricnames.Help(name), labels: labels}
}

func (f *family) add(v float64, labelValues ...*string) {
	f.values = append(f.values, labelValues...)
	f.samples = append(f.samples, v)
}

func (f *family) build() *dto.MetricFamily {
	n, k := len(f.samples), len(f.labels)
	gauge := dto.MetricType_GAUGE
	mf := &dto.MetricFamily{Name: &f.name, Help: &f.help, Type: &gauge, Metric: make([]*dto.Metric, n)}
	metrics := make([]dto.Metric, n)
	gauges := make([]dto.Gauge, n)
	pairs := make([]dto.LabelPair, n*k)
	pairPtrs := make([]*dto.LabelPair, n*k)
	for i := range metrics {
		for j := 0; j < k; j++ {
			p := &pairs[i*k+j]
			p.Name, p.Value = f.labels[j], f.values[i*k+j]
			pairPtrs[i*k+j] = p
		}
		gauges[i].Value = &f.samples[i]
		metrics[i].Label = pairPtrs[i*k : (i+1)*k : (i+1)*k]
		metrics[i].Gauge = &gauges[i]
		mf.Metric[i] = &metrics[i]
	}
	return mf
}

// Gather builds every family. Within a family, series come sorted by label
// values in label-name order, as the registry would sort them.
func (c *TownMetrics) Gather() ([]*dto.MetricFamily, error) {
	entries := c.snap.Towns() // sorted by town
	towns := make([]string, len(entries))
	var all, everSucceeded, withStatus, withTick, dryRuns, dryRunUp []int
	for i, e := range entries {
		towns[i] = e.Town
		all = append(all, i)
		s := e.State
		if !s.LastSuccess.IsZero() {
			everSucceeded = append(everSucceeded, i)
		}
		if d := s.DryRun; d != nil {
			dryRuns = append(dryRuns, i)
			if d.Up {
				dryRunUp = append(dryRunUp, i)
			}
		}
		if st := s.Status; st != nil {
			withStatus = append(withStatus, i)
			if st.LastTick != nil {
				withTick = append(withTick, i)
			}
		}
	}
	state := func(i int) *TownState { return entries[i].State }
	perTown := func(name string, from []int, v func(*TownState) float64) *family {
		f := newFamily(name, &labelTown)
		for _, i := range from {
			f.add(v(state(i)), &towns[i])
		}
		return f
	}

	fams := []*family{
		perTown(metricnames.Up, all,
			func(s *TownState) float64 { return b2f(s.Up) }),
		perTown(metricnames.LastSuccess, everSucceeded,
			func(s *TownState) float64 { return float64(s.LastSuccess.UnixMilli()) / 1000 }),
		perTown(metricnames.DryRunUp, dryRuns,
			func(s *TownState) float64 { return b2f(s.DryRun.Up) }),
		perTown(metricnames.DryRunStatusCode, dryRuns,
			func(s *TownState) float64 { return float64(s.DryRun.Code) }),
		perTown(metricnames.DryRunDuration, dryRuns,
			func(s *TownState) float64 { return s.DryRun.Seconds }),
		perTown(metricnames.QueueDepth, dryRunUp,
			func(s *TownState) float64 { return float64(s.DryRun.QueueDepth) }),
		perTown(metricnames.PendingEvents, dryRunUp,
			func(s *TownState) float64 { return float64(s.DryRun.PendingEvents) }),
		perTown(metricnames.AlarmInterval, withStatus,
			func(s *TownState) float64 { return s.Status.AlarmIntervalSeconds }),
		perTown(metricnames.Ticking, withStatus,
			func(s *TownState) float64 { return b2f(s.Status.Ticking) }),
		perTown(metricnames.LastTickEventsDrained, withTick,
			func(s *TownState) float64 { return float64(s.Status.LastTick.EventsDrained) }),
		perTown(metricnames.LastTickWallClock, withTick,
			func(s *TownState) float64 { return s.Status.LastTick.WallClockSeconds }),
		perTown(metricnames.LastTickViolations, withTick,
			func(s *TownState) float64 { return float64(s.Status.LastTick.InvariantViolations) }),
		perTown(metricnames.LastTickPendingEvents, withTick,
			func(s *TownState) float64 { return float64(s.Status.LastTick.PendingEvents) }),
	}

	// {town, type}: town-major, types sorted within a town.
	byType := func(name string, from []int, types func(*TownState) []TypeCount) *family {
		f := newFamily(name, &labelTown, &labelType)
		for _, i := range from {
			tcs := types(state(i))
			for j := range tcs {
				f.add(float64(tcs[j].Count), &towns[i], &tcs[j].Type)
			}
		}
		return f
	}
	fams = append(fams,
		byType(metricnames.Actions, dryRunUp,
			func(s *TownState) []TypeCount { return s.DryRun.Actions }),
		byType(metricnames.LastTickActions, withTick,
			func(s *TownState) []TypeCount { return s.Status.LastTick.Actions }))

	// {status|outcome, town}: the first label sorts first, so value-major.
	type column struct {
		value *string
		get   func(*TownState) int
	}
	byColumn := func(name string, label *string, from []int, cols []column) *family {
		f := newFamily(name, label, &labelTown)
		for _, col := range cols {
			for _, i := range from {
				f.add(float64(col.get(state(i))), col.value, &towns[i])
			}
		}
		return f
	}
	agents := func(s *TownState) gastown.AgentCounts { return s.Status.Agents }
	beads := func(s *TownState) gastown.BeadCounts { return s.Status.Beads }
	lastTick := func(s *TownState) *LastTick { return s.Status.LastTick }
	fams = append(fams,
		byColumn(metricnames.Agents, &labelStatus, withStatus, []column{
			{&statusDead, func(s *TownState) int { return agents(s).Dead }},
			{&statusIdle, func(s *TownState) int { return agents(s).Idle }},
			{&statusStall, func(s *TownState) int { return agents(s).Stalled }},
			{&statusWorking, func(s *TownState) int { return agents(s).Working }},
		}),
		byColumn(metricnames.Beads, &labelStatus, withStatus, []column{
			{&statusFailed, func(s *TownState) int { return beads(s).Failed }},
			{&statusInProgress, func(s *TownState) int { return beads(s).InProgress }},
			{&statusInReview, func(s *TownState) int { return beads(s).InReview }},
			{&statusOpen, func(s *TownState) int { return beads(s).Open }},
			{&statusTriage, func(s *TownState) int { return beads(s).TriageRequests }},
		}),
		byColumn(metricnames.LastTickSideEffects, &labelOutcome, withTick, []column{
			{&outcomeAttempted, func(s *TownState) int { return lastTick(s).SideEffectsAttempted }},
			{&statusFailed, func(s *TownState) int { return lastTick(s).SideEffectsFailed }},
			{&outcomeSucceeded, func(s *TownState) int { return lastTick(s).SideEffectsSucceeded }},
		}),
		c.openViolations(),
	)

	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })
	out := make([]*dto.MetricFamily, 0, len(fams))
	for _, f := range fams {
		if len(f.samples) > 0 {
			out = append(out, f.build())
		}
	}
	return out, nil
}

// openViolations is {invariant, town}: sorted by invariant, then town.
func (c *TownMetrics) openViolations() *family {
	f := newFamily(metricnames.InvariantViolations, &labelInvariant, &labelTown)
	if c.violations == nil {
		return f
	}
	type row struct {
		invariant, town string
		n               int
	}
	var rows []row
	for town, byInv := range c.violations.OpenCounts() {
		for inv, n := range byInv {
			rows = append(rows, row{gastown.InvariantLabel(inv), town, n})
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].invariant != rows[j].invariant {
			return rows[i].invariant < rows[j].invariant
		}
		return rows[i].town < rows[j].town
	})
	for i := range rows {
		f.add(float64(rows[i].n), &rows[i].invariant, &rows[i].town)
	}
	return f
}

// Gatherer serves the registry's own metrics and the town families in one
// exposition; their names never overlap.
func Gatherer(reg prometheus.Gatherer, towns *TownMetrics) prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		own, err := reg.Gather()
		mine, _ := towns.Gather()
		all := append(own, mine...)
		sort.Slice(all, func(i, j int) bool { return all[i].GetName() < all[j].GetName() })
		return all, err
	})
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

package exporter

import (
	"cmp"
	"iter"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/metricnames"
)

// ViolationCounts reports the violations open now, after hysteresis: for
// each of towns, in their order, how many per invariant with some.
type ViolationCounts interface {
	EachOpenCount(towns iter.Seq[string], fn func(town string, invariant, n int))
}

// TownMetrics serves the mirrored reconciler metrics from the latest
// snapshot, at scrape time, so a town or an action type that is gone leaves
// no series behind. Each family is walked once per scrape in exposition
// order (families by name, series by label values in label-name order) and
// handed to a sink: the text sink writes the lines straight into the
// response (see MetricsHandler), the dto sink builds families for Gather.
// Families a metrics.* setting keeps off are skipped.
type TownMetrics struct {
	snap       *Snapshot
	violations ViolationCounts // may be nil
	groups     atomic.Pointer[config.Metrics]
}

func NewTownMetrics(snap *Snapshot, violations ViolationCounts) *TownMetrics {
	c := &TownMetrics{snap: snap, violations: violations}
	c.groups.Store(&config.Metrics{})
	return c
}

// SetMetrics switches the optional families; the next scrape follows.
func (c *TownMetrics) SetMetrics(m config.Metrics) { c.groups.Store(&m) }

// Label names and the values that are the same for every town.
const (
	labelTown, labelType, labelStatus = "town", "type", "status"
	labelOutcome, labelInvariant      = "outcome", "invariant"
)

var (
	agentStatuses = []string{"dead", "idle", "stalled", "working"}
	beadStatuses  = []string{"failed", "in_progress", "in_review", "open", "triage_request"}
	outcomes      = []string{"attempted", "failed", "succeeded"}
)

// sink receives one family after another: begin, then its samples. A family
// without samples must leave no trace.
type sink interface {
	begin(name, help string, labels []string)
	sample1(v float64, value string)
	sample2(v float64, first, second string)
}

// townFamily walks one family over the towns (sorted by id).
type townFamily struct {
	name, setting string
	labels        []string // sorted
	walk          func(c *TownMetrics, s sink, towns []TownEntry)
}

// perTown is a family with one series per town that has the value.
func perTown(name string, get func(*TownState) (float64, bool)) townFamily {
	return townFamily{name: name, labels: []string{labelTown}, walk: func(_ *TownMetrics, s sink, towns []TownEntry) {
		for i := range towns {
			if v, ok := get(towns[i].State); ok {
				s.sample1(v, towns[i].Town)
			}
		}
	}}
}

// byType is {town, type}: town-major, types sorted within a town.
func byType(name string, get func(*TownState) []TypeCount) townFamily {
	return townFamily{name: name, labels: []string{labelTown, labelType}, walk: func(_ *TownMetrics, s sink, towns []TownEntry) {
		for i := range towns {
			for _, tc := range get(towns[i].State) {
				s.sample2(float64(tc.Count), towns[i].Town, tc.Type())
			}
		}
	}}
}

// byColumn is {label, town}: the first label sorts first, so value-major.
// get returns the town's counts in the order of values, or nil.
func byColumn(name, label string, values []string, get func(*TownState, []int) []int) townFamily {
	return townFamily{name: name, labels: []string{label, labelTown}, walk: func(_ *TownMetrics, s sink, towns []TownEntry) {
		var scratch [8]int
		for col, value := range values {
			for i := range towns {
				if counts := get(towns[i].State, scratch[:0]); counts != nil {
					s.sample2(float64(counts[col]), value, towns[i].Town)
				}
			}
		}
	}}
}

// ServedDryRun is the dry run whose values a town serves: the last one
// while the town answers, only this poll's once it does not (its queue is
// not known).
func (s *TownState) ServedDryRun() *DryRunState {
	if d := s.DryRun; d != nil && (s.Up || d.At.Equal(s.LastPoll)) {
		return d
	}
	return nil
}

func dryRunUp(s *TownState) *DryRunState {
	if d := s.ServedDryRun(); d != nil && d.Up {
		return d
	}
	return nil
}

// from is a per-town family of one value of a part of the town's state:
// absent while part gives nil.
func from[P any](name string, part func(*TownState) *P, value func(*P) float64) townFamily {
	return perTown(name, func(s *TownState) (float64, bool) {
		if p := part(s); p != nil {
			return value(p), true
		}
		return 0, false
	})
}

func lastTick(s *TownState) *LastTick {
	if s.Status != nil {
		return s.Status.LastTick
	}
	return nil
}

// townFamilies are every town family, sorted by name.
var townFamilies = func() []townFamily {
	fams := []townFamily{
		perTown(metricnames.Up, func(s *TownState) (float64, bool) { return b2f(s.Up), true }),
		perTown(metricnames.LastSuccess, func(s *TownState) (float64, bool) {
			return float64(s.LastSuccess.UnixMilli()) / 1000, !s.LastSuccess.IsZero()
		}),
		perTown(metricnames.DryRunUp, func(s *TownState) (float64, bool) {
			d := s.ServedDryRun()
			return b2f(d != nil && d.Up), d != nil
		}),
		from(metricnames.DryRunStatusCode, (*TownState).ServedDryRun, func(d *DryRunState) float64 { return float64(d.Code) }),
		from(metricnames.DryRunDuration, (*TownState).ServedDryRun, func(d *DryRunState) float64 { return d.Seconds }),
		from(metricnames.QueueDepth, dryRunUp, func(d *DryRunState) float64 { return float64(d.QueueDepth) }),
		from(metricnames.PendingEvents, dryRunUp, func(d *DryRunState) float64 { return float64(d.PendingEvents) }),
		perTown(metricnames.AlarmInterval, func(s *TownState) (float64, bool) {
			if s.Status == nil {
				return 0, false
			}
			return s.Status.AlarmIntervalSeconds, true
		}),
		perTown(metricnames.Ticking, func(s *TownState) (float64, bool) {
			return b2f(s.Status != nil && s.Status.Ticking), s.Status != nil
		}),
		from(metricnames.LastTickEventsDrained, lastTick, func(lt *LastTick) float64 { return float64(lt.EventsDrained) }),
		from(metricnames.LastTickWallClock, lastTick, func(lt *LastTick) float64 { return lt.WallClockSeconds }),
		from(metricnames.LastTickViolations, lastTick, func(lt *LastTick) float64 { return float64(lt.InvariantViolations) }),
		from(metricnames.LastTickPendingEvents, lastTick, func(lt *LastTick) float64 { return float64(lt.PendingEvents) }),
		byType(metricnames.Actions, func(s *TownState) []TypeCount {
			if d := dryRunUp(s); d != nil {
				return d.Actions
			}
			return nil
		}),
		byType(metricnames.LastTickActions, func(s *TownState) []TypeCount {
			if lt := lastTick(s); lt != nil {
				return lt.Actions
			}
			return nil
		}),
		byColumn(metricnames.Agents, labelStatus, agentStatuses, func(s *TownState, out []int) []int {
			if s.Status == nil {
				return nil
			}
			a := s.Status.Agents
			return append(out, a.Dead, a.Idle, a.Stalled, a.Working)
		}),
		byColumn(metricnames.Beads, labelStatus, beadStatuses, func(s *TownState, out []int) []int {
			if s.Status == nil {
				return nil
			}
			b := s.Status.Beads
			return append(out, b.Failed, b.InProgress, b.InReview, b.Open, b.TriageRequests)
		}),
		byColumn(metricnames.LastTickSideEffects, labelOutcome, outcomes, func(s *TownState, out []int) []int {
			lt := lastTick(s)
			if lt == nil {
				return nil
			}
			return append(out, lt.SideEffectsAttempted, lt.SideEffectsFailed, lt.SideEffectsSucceeded)
		}),
		{name: metricnames.InvariantViolations, labels: []string{labelInvariant, labelTown}, walk: (*TownMetrics).openViolations},
	}
	for i := range fams {
		fams[i].setting = metricnames.Setting(fams[i].name)
	}
	sort.Slice(fams, func(i, j int) bool { return fams[i].name < fams[j].name })
	return fams
}()

// TownFamilies lists the names of every family TownMetrics may serve.
func TownFamilies() []string {
	out := make([]string, len(townFamilies))
	for i, f := range townFamilies {
		out[i] = f.name
	}
	return out
}

// townLists keeps the scrapes' sorted town lists for the next.
var townLists = newSpare(2, func() *[]TownEntry { return new([]TownEntry) })

// walk hands every family the settings serve to s, in name order; each(name)
// runs before a family and may write what sorts before it.
func (c *TownMetrics) walk(s sink, before func(name string)) {
	buf := townLists.get()
	towns := c.snap.AppendTowns((*buf)[:0])
	groups := c.groups.Load()
	for i := range townFamilies {
		f := &townFamilies[i]
		if f.setting != "" && !groups.Enabled(f.setting) {
			continue
		}
		if before != nil {
			before(f.name)
		}
		s.begin(f.name, metricnames.Help(f.name), f.labels)
		f.walk(c, s, towns)
	}
	clear(towns) // the states may go with the next poll
	*buf = towns
	townLists.put(buf)
}

// openViolations is {invariant, town}: sorted by invariant, then town. The
// rows come in the towns' order, and are written one invariant at a time:
// a fleet has a few invariants open at most, where sorting every row by
// town again made this family a quarter of a scrape's CPU in perf at 10,000
// towns (BenchmarkScrape10kTowns: 15-17 ms before, 11-14 after).
func (c *TownMetrics) openViolations(s sink, towns []TownEntry) {
	if c.violations == nil {
		return
	}
	buf := violationRowLists.get()
	rows := (*buf)[:0]
	var invariants []int // the distinct ones, up to maxInvariantPasses+1
	var town int32       // the index in towns of the town fn is called for
	c.violations.EachOpenCount(func(yield func(string) bool) {
		for i, e := range towns {
			if town = int32(i); !yield(e.Town) {
				return
			}
		}
	}, func(_ string, invariant, n int) {
		rows = append(rows, violationRow{town, invariant, n})
		if len(invariants) <= maxInvariantPasses && !slices.Contains(invariants, invariant) {
			invariants = append(invariants, invariant)
		}
	})
	label := gastown.InvariantLabel
	if len(invariants) > maxInvariantPasses {
		// A target that numbers its invariants its own way: one sort.
		slices.SortFunc(rows, func(a, b violationRow) int {
			return cmp.Or(strings.Compare(label(a.invariant), label(b.invariant)), cmp.Compare(a.town, b.town))
		})
		for _, r := range rows {
			s.sample2(float64(r.n), label(r.invariant), towns[r.town].Town)
		}
		invariants = nil
	}
	slices.SortFunc(invariants, func(a, b int) int {
		return strings.Compare(gastown.InvariantLabel(a), gastown.InvariantLabel(b))
	})
	for _, inv := range invariants {
		l := gastown.InvariantLabel(inv)
		for _, r := range rows {
			if r.invariant == inv {
				s.sample2(float64(r.n), l, towns[r.town].Town)
			}
		}
	}
	*buf = rows
	violationRowLists.put(buf)
}

// maxInvariantPasses bounds the passes openViolations makes over its rows,
// one per invariant: a worker numbers a handful.
const maxInvariantPasses = 16

// violationRow is one town's open violations of one invariant; the town is
// its index in the scrape's list of towns.
type violationRow struct {
	town      int32
	invariant int // as the target numbers it: any int, not only Gastown's few
	n         int
}

// violationRowLists keeps a scrape's rows of open violations for the next.
var violationRowLists = newSpare(2, func() *[]violationRow { return new([]violationRow) })

// Gather builds every family the settings serve as dto objects: the path
// of the protobuf format and of filtered scrapes (see MetricsHandler).
func (c *TownMetrics) Gather() ([]*dto.MetricFamily, error) {
	var d dtoSink
	c.walk(&d, nil)
	d.end()
	return d.out, nil
}

// dtoSink builds each family in a few bulk allocations.
type dtoSink struct {
	out        []*dto.MetricFamily
	name, help string
	labels     []string
	values     []string // len(labels) per sample
	samples    []float64
}

func (d *dtoSink) begin(name, help string, labels []string) {
	d.end()
	d.name, d.help, d.labels = name, help, labels
}

func (d *dtoSink) sample1(v float64, value string) {
	d.values = append(d.values, value)
	d.samples = append(d.samples, v)
}

func (d *dtoSink) sample2(v float64, first, second string) {
	d.values = append(d.values, first, second)
	d.samples = append(d.samples, v)
}

func (d *dtoSink) end() {
	n, k := len(d.samples), len(d.labels)
	if n == 0 {
		return
	}
	gauge := dto.MetricType_GAUGE
	name, help := d.name, d.help
	mf := &dto.MetricFamily{Name: &name, Help: &help, Type: &gauge, Metric: make([]*dto.Metric, n)}
	metrics := make([]dto.Metric, n)
	gauges := make([]dto.Gauge, n)
	pairs := make([]dto.LabelPair, n*k)
	pairPtrs := make([]*dto.LabelPair, n*k)
	labels := append([]string(nil), d.labels...)
	values, samples := d.values, d.samples
	for i := range metrics {
		for j := 0; j < k; j++ {
			p := &pairs[i*k+j]
			p.Name, p.Value = &labels[j], &values[i*k+j]
			pairPtrs[i*k+j] = p
		}
		gauges[i].Value = &samples[i]
		metrics[i].Label = pairPtrs[i*k : (i+1)*k : (i+1)*k]
		metrics[i].Gauge = &gauges[i]
		mf.Metric[i] = &metrics[i]
	}
	d.out = append(d.out, mf)
	d.values, d.samples = nil, nil
}

// Gatherer serves the registry's own metrics and the town families in one
// exposition; their names never overlap (a test of the sidecar holds them
// apart).
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

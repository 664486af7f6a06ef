package e2e

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"

	"github.com/tickwatch/tickwatch/alerts/rules"
	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/exporter"
	"github.com/tickwatch/tickwatch/internal/promtest"
	"github.com/tickwatch/tickwatch/metricnames"
)

var scaleTowns = flag.Int("scale.towns", 300, "towns of TestScaleOut's fleet (make test-scale: 3000)")

// TestScaleOut runs the StatefulSet of deploy/kubernetes on one machine: a
// simtown fleet, tickwatch processes configured as its pods (the
// ConfigMap's config, the pod's ordinal in TICKWATCH_SHARD_INDEX, the DSN
// in SENTRY_DSN), one Prometheus scraping them as one job, and a Sentry
// receiver. Three shards cover every town exactly once; a resize to four
// moves about a quarter of the towns, each reported exactly once again
// within two ticks, a violation open on a moved town stays one Sentry issue;
// a killed replica's towns go missing while the others carry on; shrinking
// back to three hands its towns back without a Sentry event, and the open
// violation's resolve comes once.
func TestScaleOut(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs simtown, four tickwatch processes and Prometheus")
	}
	promtest.Binary(t, promtest.PrometheusBin)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	n := *scaleTowns
	speed := "1"
	if n > 1000 {
		speed = "0.5" // alarms every 10 s: what two cores can serve for thousands of towns
	}
	sim := promtest.StartSimtownWithin(t, 3*time.Minute, fmt.Sprintf("--towns=%d", n), "--seed=11", "--speed="+speed,
		"--fault-rate=0", "--side-effect.failure-rate=0")
	ids, err := sim.Towns(ctx)
	if err != nil || len(ids) != n {
		t.Fatalf("simtown towns: %d (%v), want %d", len(ids), err, n)
	}
	townsFile := filepath.Join(t.TempDir(), "towns.yml")
	if err := os.WriteFile(townsFile, []byte("- "+strings.Join(ids, "\n- ")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sentry := sentrytest.NewServer()
	t.Cleanup(sentry.Close)
	pod := newPodConfig(t, sim.URL, townsFile)
	interval := time.Duration(pod.cfg.Poll.Interval)
	if pod.cfg.Shard.Count != 3 {
		t.Fatalf("the ConfigMap has shard.count %d; this test starts from the StatefulSet's 3", pod.cfg.Shard.Count)
	}

	// Three shards, started as the StatefulSet starts its pods.
	var fleet []*promtest.TickwatchRun
	for ordinal := range 3 {
		fleet = append(fleet, pod.start(t, ordinal, 3, sentry.DSN()))
	}
	for _, r := range fleet {
		r.WaitReady(t)
	}
	prom := promtest.StartPrometheus(t, promtest.PrometheusConfig{Targets: addrs(fleet), ScrapeInterval: 2 * time.Second, EvaluationInterval: 2 * time.Second})
	steadyFrom := time.Now()
	own3 := waitCovered(t, ctx, fleet, ids, 2*time.Minute)
	cpu0 := scrapeAll(t, ctx, fleet)
	perShard3 := townsPerReplica(own3, 3)
	for ordinal, got := range perShard3 {
		if want := countShard(ids, ordinal, 3); got != want {
			t.Errorf("shard %d of 3 reports %d towns, the hash gives it %d", ordinal, got, want)
		}
	}
	promEventually(t, ctx, prom, 90*time.Second, "Prometheus to see every town exactly once", map[string]float64{
		`count(count by (town) (reconciler_up{job="tickwatch"}))`:     float64(n),
		`count(count by (town) (reconciler_up{job="tickwatch"}) > 1)`: -1, // no result
		`sum(tickwatch_towns{job="tickwatch"})`:                       float64(n),
		`count(tickwatch_shard_info{job="tickwatch"})`:                3,
	})

	// A violation opens on a town that the resize will move, and on one
	// that stays; each owner reports it once.
	moved, stays := pickTowns(t, ids)
	for _, town := range []string{moved, stays} {
		if err := sim.SetFault(ctx, town, `{"break_invariant":7}`); err != nil {
			t.Fatal(err)
		}
	}
	promtest.Eventually(t, 2*time.Minute, "Sentry to hear of both violations", func() error {
		for _, town := range []string{moved, stays} {
			if got := eventsOf(sentry.Events(), town, "opened"); len(got) != 1 {
				return fmt.Errorf("%d opened events for %s", len(got), town)
			}
		}
		return nil
	})
	cpu1 := scrapeAll(t, ctx, fleet)
	steady := time.Since(steadyFrom)
	before := len(sentry.Events())

	// Resize to four: the fourth pod starts, the others reload the edited
	// ConfigMap (what the config reloader does).
	fleet = append(fleet, pod.start(t, 3, 4, sentry.DSN()))
	for ordinal, r := range fleet[:3] {
		r.Reload(t, pod.text(t, ordinal, 4))
	}
	resizeAt := time.Now() // every replica runs with four shards
	own4, doubled := waitConverged(t, ctx, fleet, ids, 2*time.Minute)
	converged := time.Since(resizeAt)
	ticks := int(math.Ceil(float64(converged) / float64(interval)))
	// Within two ticks: the new shard's first polls its towns, the old ones
	// drop theirs at their next. A tick that runs out of time (a machine
	// too loaded for its budget) leaves towns for the next one, and says so.
	skipped := metricValue(mustScrape(t, ctx, fleet[3]), metricnames.PollsSkipped)
	if allowed := 2 * interval; converged > allowed+time.Second && skipped == 0 {
		t.Errorf("every town reported exactly once %s (%d ticks) after the resize, want within 2 ticks", converged.Round(time.Millisecond), ticks)
	} else if converged > allowed+time.Second {
		t.Logf("converged in %d ticks: the new shard's ticks ran out of time for %v polls on this machine", ticks, skipped)
	}
	if doubled > interval+time.Second {
		t.Errorf("a town was reported by two replicas for %s, more than a tick (%s)", doubled.Round(time.Millisecond), interval)
	}
	fleet[3].WaitReady(t)
	prom.SetTargets(t, addrs(fleet)...)
	movedTowns := 0
	for _, id := range ids {
		if own3[id] != own4[id] {
			movedTowns++
			if own4[id] != 3 {
				t.Errorf("town %s moved from shard %d to %d: only the new shard may gain towns", id, own3[id], own4[id])
			}
		}
		if want := exporter.ShardOf(id, 4); own4[id] != want {
			t.Errorf("town %s is reported by shard %d, the hash gives %d", id, own4[id], want)
		}
	}
	if lo, hi := n/4-n/20, n/4+n/20; movedTowns < lo || movedTowns > hi {
		t.Errorf("%d of %d towns moved, want about a quarter", movedTowns, n)
	}
	promEventually(t, ctx, prom, time.Minute, "Prometheus to see every town exactly once at four shards", map[string]float64{
		`count(count by (town) (reconciler_up{job="tickwatch"}))`:     float64(n),
		`count(count by (town) (reconciler_up{job="tickwatch"}) > 1)`: -1,
		`sum(tickwatch_towns{job="tickwatch"})`:                       float64(n),
		`count(tickwatch_shard_info{job="tickwatch"})`:                4,
	})

	// The new shard starts on an empty state directory: it cannot tell a
	// town another replica watched from one nobody did, so it reports the
	// moved town's open violation once more (README, "Sharding"): an event
	// in the same Sentry issue, with the shard's id. Nothing else is sent:
	// the old owner dropped the town without a resolve.
	promtest.Eventually(t, time.Minute, "the new shard to report the moved town's violation", func() error {
		if got := eventsOf(sentry.Events()[before:], moved, "opened"); len(got) != 1 {
			return fmt.Errorf("%d opened events for %s since the resize", len(got), moved)
		}
		return nil
	})
	waitPolled(t, ctx, fleet[3], moved, time.Now().Add(time.Duration(pod.cfg.Dedupe.OpenAfter+1)*interval))
	duringResize := sentry.Events()[before:]
	if got := brief(duringResize); len(got) != 1 || got[0] != moved+" opened shard 3" {
		t.Errorf("Sentry events during the resize: %v, want the new shard's opened of %s", got, moved)
	}
	if issues := fingerprints(eventsOf(sentry.Events(), moved, "")); issues != 1 {
		t.Errorf("the moved town's violation is in %d Sentry issues, want 1", issues)
	}

	// Kill the new shard: its towns go missing, the others carry on.
	const killed = 3
	perShard4 := townsPerReplica(own4, 4)
	ticksBefore := scrapeAll(t, ctx, fleet)
	if err := fleet[killed].Proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	shardMissing := ruleExpr(t, rules.Alerts(pod.cfg.Thresholds, rules.Options{}), rules.AlertTickwatchShardMissing)
	promEventually(t, ctx, prom, time.Minute, "Prometheus to miss the killed replica's towns", map[string]float64{
		fmt.Sprintf(`up{job="tickwatch",instance=%q}`, fleet[killed].Addr):              0,
		`count(count by (town) (reconciler_up{job="tickwatch"}))`:                       float64(n - perShard4[killed]),
		fmt.Sprintf(`count(reconciler_up{job="tickwatch",instance=%q})`, fleet[0].Addr): float64(perShard4[0]),
		fmt.Sprintf(`count(reconciler_up{job="tickwatch",instance=%q})`, fleet[1].Addr): float64(perShard4[1]),
		fmt.Sprintf(`count(reconciler_up{job="tickwatch",instance=%q})`, fleet[2].Addr): float64(perShard4[2]),
		shardMissing: 3, // TickwatchShardMissing's condition: 3 of 4 shards report
	})
	promtest.Eventually(t, time.Minute, "the other replicas to go on ticking", func() error {
		for r := range 3 {
			if ticks := metricValue(mustScrape(t, ctx, fleet[r]), metricnames.Ticks); ticks < ticksBefore[r].ticks+2 {
				return fmt.Errorf("replica %d: %v ticks, %v when replica %d was killed", r, ticks, ticksBefore[r].ticks, killed)
			}
		}
		return nil
	})

	// Shrink back to three: the others reload, and the killed shard's towns
	// return to the shards that watched them before. Those replicas know
	// they gained them (their shard changed): the moved town's violation,
	// still open, is taken over without an event.
	fleet = fleet[:3]
	beforeShrink := len(sentry.Events())
	for ordinal, r := range fleet {
		r.Reload(t, pod.text(t, ordinal, 3))
	}
	prom.SetTargets(t, addrs(fleet)...)
	if own := waitCovered(t, ctx, fleet, ids, time.Minute); own[moved] != own3[moved] {
		t.Errorf("after the shrink %s is at shard %d, before the resize it was at %d", moved, own[moved], own3[moved])
	}
	waitPolled(t, ctx, fleet[own3[moved]], moved, time.Now().Add(time.Duration(pod.cfg.Dedupe.OpenAfter+1)*interval))
	if m := mustScrape(t, ctx, fleet[own3[moved]]); metricValue(m, metricnames.InvariantViolations, "town", moved, "invariant", "7") != 1 ||
		metricValue(m, metricnames.ViolationsAdopted) < 1 {
		t.Errorf("the moved town's violation is not open at the shard it returned to")
	}
	afterShrink := sentry.Events()[beforeShrink:]
	if len(afterShrink) != 0 {
		t.Errorf("Sentry events during the shrink: %v, want none", brief(afterShrink))
	}

	// It clears: its owner reports the resolve, once; the town that
	// stayed resolves at its owner as before.
	// (Some work stays queued, so the towns keep their busy cadence instead
	// of idling at one poll a minute while resolve_after counts.)
	for _, town := range []string{moved, stays} {
		if err := sim.SetFault(ctx, town, `{"queue_depth":5}`); err != nil {
			t.Fatal(err)
		}
	}
	promtest.Eventually(t, 2*time.Minute, "both resolves", func() error {
		for _, town := range []string{moved, stays} {
			if got := eventsOf(sentry.Events(), town, "resolved"); len(got) != 1 {
				var open []string
				for i, r := range fleet {
					if m, err := scrape(ctx, r.URL); err == nil {
						open = append(open, fmt.Sprintf("replica %d: open %v last poll %v", i,
							metricValue(m, metricnames.InvariantViolations, "town", town), metricValue(m, metricnames.LastSuccess, "town", town)))
					}
				}
				return fmt.Errorf("%d resolved events for %s; %v; events %v", len(got), town, open, brief(sentry.Events()))
			}
		}
		return nil
	})
	resolved := eventsOf(sentry.Events(), moved, "resolved")[0]
	if resolved.Tags["shard"] != fmt.Sprint(own3[moved]) || resolved.Contexts["violation"]["taken_over"] != true {
		t.Errorf("resolve of the moved town: shard %s, taken_over %v; want shard %d, taken over",
			resolved.Tags["shard"], resolved.Contexts["violation"]["taken_over"], own3[moved])
	}
	if got := eventsOf(sentry.Events(), stays, "resolved")[0].Tags["shard"]; got != fmt.Sprint(own3[stays]) {
		t.Errorf("resolve of the town that stayed from shard %s, want %d", got, own3[stays])
	}
	if got := brief(eventsOf(sentry.Events(), stays, "")); len(got) != 2 {
		t.Errorf("events of %s: %v, want one opened and one resolved", stays, got)
	}
	if issues := fingerprints(eventsOf(sentry.Events(), moved, "")); issues != 1 {
		t.Errorf("the moved town's events are in %d Sentry issues, want 1", issues)
	}

	// The figures the deployment is sized from.
	t.Logf("towns %d; per replica at 3 shards %v, at 4 shards %v; moved %d (%.1f%%)", n, perShard3, perShard4, movedTowns, 100*float64(movedTowns)/float64(n))
	t.Logf("resize: every town reported once after %s (%d ticks of %s); longest double report %s; Sentry events during the resize %d %v, during the shrink %d",
		converged.Round(time.Millisecond), ticks, interval, doubled.Round(time.Millisecond), len(duringResize), brief(duringResize), len(afterShrink))
	for i := range 3 {
		k := float64(perShard3[i]) / 1000
		cpu := (cpu1[i].cpu - cpu0[i].cpu) / cpu1[i].at.Sub(cpu0[i].at).Seconds()
		t.Logf("replica %d, %d towns, over %s: %.3f CPU (%.3f per 1,000 towns), RSS %.1f MiB",
			i, perShard3[i], steady.Round(time.Second), cpu, cpu/k, cpu1[i].rss/(1<<20))
	}
	t.Logf("whole test %s", time.Since(start).Round(time.Second))
}

// podConfig is the ConfigMap's tickwatch.yml of deploy/kubernetes with the
// deployment's addresses pointing at this machine: the target URL, the
// towns file and each pod's state volume. Everything else is as deployed.
type podConfig struct {
	doc       map[string]any
	cfg       *config.Config
	url       string
	townsFile string
	states    map[int]string
}

func newPodConfig(t *testing.T, url, townsFile string) *podConfig {
	t.Helper()
	raw, err := os.ReadFile("../deploy/kubernetes/tickwatch.yml")
	if err != nil {
		t.Fatal(err)
	}
	p := &podConfig{url: url, townsFile: townsFile, states: map[int]string{}}
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
		var m struct {
			Kind     string
			Metadata struct{ Name string }
			Data     map[string]string
		}
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		if m.Kind == "ConfigMap" && m.Metadata.Name == "tickwatch" {
			if err := yaml.Unmarshal([]byte(m.Data["tickwatch.yml"]), &p.doc); err != nil {
				t.Fatal(err)
			}
		}
	}
	if p.doc == nil {
		t.Fatal("no ConfigMap tickwatch in deploy/kubernetes/tickwatch.yml")
	}
	p.cfg, err = config.Parse([]byte(p.text(t, 0, -1)), "ConfigMap tickwatch")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// text is the config of the pod with this ordinal; count -1 keeps the
// ConfigMap's shard.count.
func (p *podConfig) text(t *testing.T, ordinal, count int) string {
	t.Helper()
	state, ok := p.states[ordinal]
	if !ok {
		state = t.TempDir()
		p.states[ordinal] = state
	}
	section := func(name string) map[string]any {
		m, _ := p.doc[name].(map[string]any)
		if m == nil {
			m = map[string]any{}
			p.doc[name] = m
		}
		return m
	}
	section("target")["url"] = p.url
	section("target")["towns_file"] = p.townsFile
	section("dedupe")["state_dir"] = state
	if count >= 0 {
		section("shard")["count"] = count
	}
	out, err := yaml.Marshal(p.doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// start runs the pod with this ordinal as the StatefulSet does: its ordinal
// in TICKWATCH_SHARD_INDEX (the pod-index label), the DSN in SENTRY_DSN.
func (p *podConfig) start(t *testing.T, ordinal, count int, dsn string) *promtest.TickwatchRun {
	t.Helper()
	return promtest.StartTickwatch(t, p.text(t, ordinal, count),
		[]string{fmt.Sprintf("%s=%d", config.EnvShardIndex, ordinal), "SENTRY_DSN=" + dsn})
}

func addrs(fleet []*promtest.TickwatchRun) []string {
	var out []string
	for _, r := range fleet {
		out = append(out, r.Addr)
	}
	return out
}

// scrape reads a replica's /metrics.
func scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// metricValue is the value of the first series of a family whose labels include
// the given pairs; NaN when there is none.
func metricValue(mfs map[string]*dto.MetricFamily, name string, labelPairs ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return math.NaN()
	}
next:
	for _, m := range mf.GetMetric() {
		for i := 0; i+1 < len(labelPairs); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labelPairs[i] && lp.GetValue() == labelPairs[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue()
		}
	}
	return math.NaN()
}

// townsServed lists the towns a replica serves reconciler_up for.
func townsServed(mfs map[string]*dto.MetricFamily) []string {
	var out []string
	for _, m := range mfs[metricnames.Up].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "town" {
				out = append(out, lp.GetValue())
			}
		}
	}
	return out
}

// reporters maps each town to the replicas (by position in fleet) that
// serve it now.
func reporters(ctx context.Context, fleet []*promtest.TickwatchRun) (map[string][]int, error) {
	out := map[string][]int{}
	for i, r := range fleet {
		m, err := scrape(ctx, r.URL)
		if err != nil {
			return nil, fmt.Errorf("replica %d: %w", i, err)
		}
		for _, town := range townsServed(m) {
			out[town] = append(out[town], i)
		}
	}
	return out, nil
}

// exactlyOnce checks that every town is served by one replica and returns
// who serves it.
func exactlyOnce(rep map[string][]int, ids []string) (map[string]int, error) {
	own := map[string]int{}
	for _, id := range ids {
		switch r := rep[id]; len(r) {
		case 1:
			own[id] = r[0]
		case 0:
			return nil, fmt.Errorf("town %s is served by no replica", id)
		default:
			return nil, fmt.Errorf("town %s is served by replicas %v", id, r)
		}
	}
	if len(rep) != len(ids) {
		return nil, fmt.Errorf("%d towns served, the fleet has %d", len(rep), len(ids))
	}
	return own, nil
}

// waitCovered waits until every town is served by exactly one replica.
func waitCovered(t *testing.T, ctx context.Context, fleet []*promtest.TickwatchRun, ids []string, timeout time.Duration) map[string]int {
	t.Helper()
	var own map[string]int
	promtest.Eventually(t, timeout, "every town served by exactly one replica", func() error {
		rep, err := reporters(ctx, fleet)
		if err != nil {
			return err
		}
		own, err = exactlyOnce(rep, ids)
		return err
	})
	return own
}

// waitConverged is waitCovered that also measures the longest time one
// town was served by two replicas while the fleet converged.
func waitConverged(t *testing.T, ctx context.Context, fleet []*promtest.TickwatchRun, ids []string, timeout time.Duration) (map[string]int, time.Duration) {
	t.Helper()
	var own map[string]int
	firstDouble := map[string]time.Time{}
	var longest time.Duration
	promtest.Eventually(t, timeout, "every town served by exactly one replica after the resize", func() error {
		rep, err := reporters(ctx, fleet)
		if err != nil {
			return err
		}
		now := time.Now()
		for town, r := range rep {
			if len(r) > 1 {
				if _, ok := firstDouble[town]; !ok {
					firstDouble[town] = now
				}
				longest = max(longest, now.Sub(firstDouble[town]))
			}
		}
		if own, err = exactlyOnce(rep, ids); err != nil {
			return err
		}
		// Until the new shard's first polls, the old owners still cover
		// every town once: converged means each is with its owner now.
		for _, id := range ids {
			if want := exporter.ShardOf(id, len(fleet)); own[id] != want {
				return fmt.Errorf("town %s is still reported by shard %d, the hash now gives %d", id, own[id], want)
			}
		}
		return nil
	})
	return own, longest
}

func townsPerReplica(own map[string]int, replicas int) []int {
	out := make([]int, replicas)
	for _, r := range own {
		out[r]++
	}
	return out
}

func countShard(ids []string, shard, count int) int {
	n := 0
	for _, id := range ids {
		if exporter.ShardOf(id, count) == shard {
			n++
		}
	}
	return n
}

// pickTowns returns a town that moves to the new shard when three become
// four, and one that keeps its shard.
func pickTowns(t *testing.T, ids []string) (moved, stays string) {
	t.Helper()
	for _, id := range ids {
		if exporter.ShardOf(id, 3) != exporter.ShardOf(id, 4) {
			if moved == "" {
				moved = id
			}
		} else if stays == "" {
			stays = id
		}
	}
	if moved == "" || stays == "" {
		t.Fatalf("no town moves or none stays among %d", len(ids))
	}
	return moved, stays
}

type processFigures struct {
	at              time.Time
	cpu, rss, ticks float64
}

// waitPolled waits until a replica's last successful poll of town is past at.
func waitPolled(t *testing.T, ctx context.Context, r *promtest.TickwatchRun, town string, at time.Time) {
	t.Helper()
	promtest.Eventually(t, time.Minute, "a poll of "+town+" after "+at.Format(time.TimeOnly), func() error {
		m, err := scrape(ctx, r.URL)
		if err != nil {
			return err
		}
		if last := metricValue(m, metricnames.LastSuccess, "town", town); !(last >= float64(at.Unix())) {
			return fmt.Errorf("last poll of %s at %v", town, time.Unix(int64(last), 0).Format(time.TimeOnly))
		}
		return nil
	})
}

func mustScrape(t *testing.T, ctx context.Context, r *promtest.TickwatchRun) map[string]*dto.MetricFamily {
	t.Helper()
	m, err := scrape(ctx, r.URL)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func scrapeAll(t *testing.T, ctx context.Context, fleet []*promtest.TickwatchRun) []processFigures {
	t.Helper()
	var out []processFigures
	for _, r := range fleet {
		m := mustScrape(t, ctx, r)
		out = append(out, processFigures{at: time.Now(), cpu: metricValue(m, "process_cpu_seconds_total"),
			rss: metricValue(m, "process_resident_memory_bytes"), ticks: metricValue(m, metricnames.Ticks)})
	}
	return out
}

// promEventually waits until each query returns one sample with the given
// value; -1 means the query returns nothing.
func promEventually(t *testing.T, ctx context.Context, prom *promtest.Prometheus, timeout time.Duration, what string, want map[string]float64) {
	t.Helper()
	promtest.Eventually(t, timeout, what, func() error {
		for q, w := range want {
			s, err := prom.Query(ctx, q)
			if err != nil {
				return err
			}
			switch {
			case w == -1 && len(s) != 0:
				return fmt.Errorf("%s = %v, want nothing", q, s)
			case w != -1 && (len(s) != 1 || s[0].Value != w):
				return fmt.Errorf("%s = %v, want %g", q, s, w)
			}
		}
		return nil
	})
}

func ruleExpr(t *testing.T, rs []rules.Rule, alert string) string {
	t.Helper()
	for _, r := range rs {
		if r.Alert == alert {
			return r.Expr
		}
	}
	t.Fatalf("no rule %s", alert)
	return ""
}

// eventsOf lists a town's Sentry events of one transition ("" for all).
func eventsOf(evs []sentrytest.Event, town, transition string) []sentrytest.Event {
	var out []sentrytest.Event
	for _, e := range evs {
		if e.Tags["town"] == town && (transition == "" || e.Tags["transition"] == transition) {
			out = append(out, e)
		}
	}
	return out
}

// fingerprints counts the Sentry issues events fall into.
func fingerprints(evs []sentrytest.Event) int {
	seen := map[string]bool{}
	for _, e := range evs {
		seen[strings.Join(e.Fingerprint, "\x00")] = true
	}
	return len(seen)
}

func brief(evs []sentrytest.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s %s shard %s", e.Tags["town"], e.Tags["transition"], e.Tags["shard"]))
	}
	slices.Sort(out)
	return out
}

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/grafana"
	"github.com/tickwatch/tickwatch/internal/promtest"
	"github.com/tickwatch/tickwatch/internal/seriesneeds"
)

// panelRateWindow stands in for Grafana's $__rate_interval at a 1 s scrape
// interval (Grafana would pick at least four scrapes; more is steadier).
const panelRateWindow = "30s"

// TestDashboardQueriesAgainstPrometheus runs every panel query of the
// dashboard through a real Prometheus that scrapes a real tickwatch watching
// a simtown fleet, the way Grafana would run them.
//
// The fleet has four towns: town-01 keeps invariant #7 broken, town-04
// answers every call with Gastown's 500 envelope, the other two are healthy.
func TestDashboardQueriesAgainstPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: runs simtown, tickwatch and Prometheus")
	}
	promtest.Binary(t, promtest.PrometheusBin)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sim := promtest.StartSimtown(t, "--towns=4", "--seed=7", "--speed=10")
	for town, knobs := range map[string]string{"town-01": `{"break_invariant":7}`, "town-04": `{"error_rate":1}`} {
		if err := sim.SetFault(ctx, town, knobs); err != nil {
			t.Fatal(err)
		}
	}
	tw := promtest.StartTickwatchRun(t, fmt.Sprintf(`target:
  url: %s
  timeout: 800ms
poll:
  interval: 1s
  idle_interval: 2s
dedupe:
  state_dir: %s
`, sim.URL, t.TempDir()))
	prom := promtest.StartPrometheus(t, promtest.PrometheusConfig{Targets: []string{tw.Addr}})

	// Wait until Prometheus holds what the panels draw: all four towns,
	// the three healthy towns' last ticks, the opened violation, and enough
	// scrapes for rate() over the window.
	promtest.Eventually(t, 60*time.Second, "Prometheus to hold the fleet's series", func() error {
		for expr, want := range map[string]float64{
			`count(reconciler_up)`:                                            4,
			`count(reconciler_last_tick_wall_clock_seconds)`:                  3,
			`count(reconciler_invariant_violations{invariant="7"} >= 1)`:      1,
			`count(count_over_time(tickwatch_ticks_total[30s]) >= 6)`:         1,
			`count(count_over_time(reconciler_up{town="town-04"}[30s]) >= 6)`: 1,
		} {
			s, err := prom.Query(ctx, expr)
			if err != nil {
				return err
			}
			if len(s) != 1 || s[0].Value != want {
				return fmt.Errorf("%s = %v, want %g", expr, s, want)
			}
		}
		return nil
	})

	queries, err := grafana.Queries(config.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	results := map[string][]panelSeries{} // "panel/refId" -> result over all towns
	now := time.Now()
	for _, q := range queries {
		expr := q.Expand(grafana.TownAllValue, panelRateWindow)
		got, err := runPanelQuery(ctx, prom.URL, q, expr, now)
		if err != nil {
			t.Errorf("panel %q query %s: %v", q.Panel, q.RefID, err)
			continue
		}
		if q.ExpectData && len(got) == 0 {
			t.Errorf("panel %q query %s returned no series: %s", q.Panel, q.RefID, expr)
		}
		// A panel that names a metrics.* setting it needs draws nothing
		// from a sidecar with the default settings.
		if settings, _, _ := seriesneeds.Needs(expr); len(settings) > 0 && len(got) > 0 {
			t.Errorf("panel %q query %s needs metrics.%v, yet a default sidecar serves it: %v", q.Panel, q.RefID, settings, got)
		}
		results[q.Panel+"/"+q.RefID] = got
	}

	// What the fleet's faults must show on the panels.
	for _, tc := range []struct {
		key  string
		want map[string]float64 // legend label value -> last value; absent keys are not checked
		// labels lists every value of label the result must have, exactly.
		label  string
		labels []string
	}{
		{key: "Towns up/A", want: map[string]float64{"": 3}},
		{key: "Towns down/A", want: map[string]float64{"": 1}},
		{key: "Open violations by invariant/A", label: "invariant", labels: []string{"7"}},
		// town-04 is down: no queue depth for it, in the ranking or the gauge.
		{key: "Top towns by queue depth/A", label: "town", labels: []string{"town-01", "town-02", "town-03"}},
		{key: "Queue depth/A", label: "town", labels: []string{"town-01", "town-02", "town-03"}},
		{key: "Events drained per tick/A", label: "town", labels: []string{"town-01", "town-02", "town-03"}},
		{key: "Wall clock per tick/A", label: "town", labels: []string{"town-01", "town-02", "town-03"}},
		// Side effects by outcome need metrics.side_effects_by_outcome: off here.
		{key: "Side effects/A", label: "outcome", labels: []string{}},
		// Each result of each call, status and dry_run.
		{key: "Polls by result/A", label: "result", labels: []string{"error", "error", "success", "success", "timeout", "timeout"}},
		{key: "Towns not ticking/A", want: map[string]float64{"": 0}},
		// town-04 answers every call with 500: its dry run fails too.
		{key: "Dry runs failing/A", want: map[string]float64{"": 1}},
		{key: "Sentry outbox depth/A", want: map[string]float64{"": 0}},
	} {
		got, ok := results[tc.key]
		if !ok {
			t.Errorf("%s: no result", tc.key)
			continue
		}
		last := map[string]float64{}
		var values []string
		for _, s := range got {
			last[s.Labels[tc.label]] = s.Last
			values = append(values, s.Labels[tc.label])
		}
		slices.Sort(values)
		if tc.labels != nil && !slices.Equal(values, tc.labels) {
			t.Errorf("%s: %s values %v, want %v", tc.key, tc.label, values, tc.labels)
		}
		for k, v := range tc.want {
			if got, ok := last[k]; !ok || got != v {
				t.Errorf("%s: last value for %s=%q is %v (present %v), want %g", tc.key, tc.label, k, got, ok, v)
			}
		}
	}
	if v := firstLast(results["Open violations by invariant/A"]); v < 1 {
		t.Errorf("Open violations by invariant: #7 shows %g, want >= 1", v)
	}
	if v := firstLast(results["Invariant violations/A"]); v < 1 {
		t.Errorf("Invariant violations: last tick total %g, want >= 1 (town-01 keeps #7 broken)", v)
	}
	if v := firstLast(results["Poll latency/A"]); !(v > 0 && v < 1) {
		t.Errorf("Poll latency p50 = %g s, want between 0 and 1 s", v)
	}
	errorRate := -1.0
	for _, s := range results["Polls by result/A"] {
		if s.Labels["result"] == "error" {
			errorRate = s.Last
		}
	}
	if errorRate <= 0 {
		t.Errorf("Polls by result: error rate %g, want > 0 (town-04 fails every poll)", errorRate)
	}

	// The town picker lists the towns the way Grafana asks Prometheus for
	// label_values(reconciler_up, town).
	if towns := townValues(ctx, t, prom.URL, grafana.TownVariableQuery()); !slices.Equal(towns, []string{"town-01", "town-02", "town-03", "town-04"}) {
		t.Errorf("town variable offers %v, want town-01..town-04", towns)
	}

	// The town picker filters every per-town panel.
	for _, q := range queries {
		if !strings.Contains(q.Expr, grafana.TownSelector) || strings.HasPrefix(q.Expr, "sum(") || strings.HasPrefix(q.Expr, "count(") {
			continue
		}
		got, err := runPanelQuery(ctx, prom.URL, q, q.Expand("town-02|town-03", panelRateWindow), now)
		if err != nil {
			t.Errorf("panel %q filtered: %v", q.Panel, err)
			continue
		}
		for _, s := range got {
			if town, ok := s.Labels["town"]; ok && town != "town-02" && town != "town-03" {
				t.Errorf("panel %q filtered to town-02|town-03 shows %s", q.Panel, town)
			}
		}
	}
}

// panelSeries is one result series: its labels and its newest value.
type panelSeries struct {
	Labels map[string]string
	Last   float64
}

func firstLast(s []panelSeries) float64 {
	if len(s) == 0 {
		return -1
	}
	return s[0].Last
}

// runPanelQuery sends a panel query the way Grafana does: instant queries to
// /api/v1/query, the others to /api/v1/query_range over the last minute.
func runPanelQuery(ctx context.Context, promURL string, q grafana.Query, expr string, now time.Time) ([]panelSeries, error) {
	params := url.Values{"query": {expr}}
	path := "/api/v1/query_range"
	if q.Instant {
		path = "/api/v1/query"
		params.Set("time", strconv.FormatInt(now.Unix(), 10))
	} else {
		params.Set("start", strconv.FormatInt(now.Add(-time.Minute).Unix(), 10))
		params.Set("end", strconv.FormatInt(now.Unix(), 10))
		params.Set("step", "2")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, promURL+path, strings.NewReader(params.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	var env struct {
		Status   string   `json:"status"`
		Error    string   `json:"error"`
		Warnings []string `json:"warnings"`
		Data     struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
				Values [][2]any          `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("%s %s: %w", path, resp.Status, err)
	}
	if env.Status != "success" {
		return nil, fmt.Errorf("%s %s: %s", path, resp.Status, env.Error)
	}
	if len(env.Warnings) > 0 {
		return nil, fmt.Errorf("%s: warnings %v", path, env.Warnings)
	}
	want := "matrix"
	if q.Instant {
		want = "vector"
	}
	if env.Data.ResultType != want {
		return nil, fmt.Errorf("%s: result type %q, want %q", path, env.Data.ResultType, want)
	}
	out := make([]panelSeries, 0, len(env.Data.Result))
	for _, r := range env.Data.Result {
		v := r.Value
		if !q.Instant {
			if len(r.Values) == 0 {
				continue
			}
			v = r.Values[len(r.Values)-1]
		}
		s, _ := v[1].(string)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: value %v: %w", path, v[1], err)
		}
		out = append(out, panelSeries{Labels: r.Metric, Last: f})
	}
	return out, nil
}

// townValues runs a label_values(metric, label) variable query through
// Prometheus's label values API, as Grafana's Prometheus datasource does.
func townValues(ctx context.Context, t *testing.T, promURL, variableQuery string) []string {
	t.Helper()
	m := regexp.MustCompile(`^label_values\((\w+), (\w+)\)$`).FindStringSubmatch(variableQuery)
	if m == nil {
		t.Fatalf("variable query %q is not label_values(metric, label)", variableQuery)
	}
	u := promURL + "/api/v1/label/" + m[2] + "/values?" + url.Values{"match[]": {m[1]}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("label values: %v", err)
	}
	defer resp.Body.Close()
	var env struct {
		Status string   `json:"status"`
		Data   []string `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&env); err != nil || env.Status != "success" {
		t.Fatalf("label values %s: %s, %v", u, resp.Status, err)
	}
	return env.Data
}

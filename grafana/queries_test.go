package grafana

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/metricnames"
)

// metricsOf parses expr with the PromQL parser and returns the metric names
// it selects, histogram series (_bucket, _sum, _count) under their family name.
func metricsOf(t *testing.T, expr string) []string {
	t.Helper()
	ast, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Fatalf("parse %q: %v", expr, err)
	}
	var names []string
	parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names = append(names, family(vs.Name))
		}
		return nil
	})
	slices.Sort(names)
	return slices.Compact(names)
}

func family(series string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(series, suffix); ok && slices.Contains(metricnames.All(), base) {
			return base
		}
	}
	return series
}

func TestEveryQueryParsesAndNamesServedMetrics(t *testing.T) {
	queries, err := Queries(config.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	served := metricnames.All()
	got := map[string][]string{} // panel title -> metrics its queries select
	for _, q := range queries {
		for _, town := range []string{TownAllValue, "town-a|town-b"} {
			metrics := metricsOf(t, q.Expand(town, "1m"))
			for _, m := range metrics {
				if !slices.Contains(served, m) {
					t.Errorf("panel %q query %s selects %q, which the exporter does not serve", q.Panel, q.RefID, m)
				}
			}
			got[q.Panel] = slices.Compact(slices.Sorted(slices.Values(append(got[q.Panel], metrics...))))
		}
		if strings.Contains(q.Expand(TownAllValue, "1m"), "$") {
			t.Errorf("panel %q query %s keeps an unexpanded variable: %s", q.Panel, q.RefID, q.Expr)
		}
	}
	want := map[string][]string{
		"Towns up":                     {metricnames.Up},
		"Towns down":                   {metricnames.Up},
		"Towns not ticking":            {metricnames.Ticking},
		"Dry runs failing":             {metricnames.DryRunUp},
		"Open violations by invariant": {metricnames.InvariantViolations},
		"Top towns by queue depth":     {metricnames.LastTickPendingEvents, metricnames.QueueDepth},
		"Events drained per tick":      {metricnames.LastTickEventsDrained},
		"Actions by type":              {metricnames.LastTickActions},
		"Side effects":                 {metricnames.LastTickSideEffects},
		"Invariant violations":         {metricnames.InvariantViolations, metricnames.LastTickViolations},
		"Wall clock per tick":          {metricnames.LastTickWallClock},
		"Queue depth":                  {metricnames.LastTickPendingEvents, metricnames.QueueDepth},
		"Polls by result":              {metricnames.Polls},
		"Poll latency":                 {metricnames.PollDuration},
		"Sentry events by result":      {metricnames.SentryEvents},
		"Sentry outbox depth":          {metricnames.SentryOutbox},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("metrics by panel:\n got %v\nwant %v", got, want)
	}
}

// TestPerTownQueriesFilterByTown: every query over a mirrored reconciler_*
// metric must honour the town picker; the seed's did not.
func TestPerTownQueriesFilterByTown(t *testing.T) {
	queries, err := Queries(config.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queries {
		ast, err := parser.NewParser(parser.Options{}).ParseExpr(q.Expand("town-a", "1m"))
		if err != nil {
			t.Fatal(err)
		}
		parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
			vs, ok := n.(*parser.VectorSelector)
			if !ok || !strings.HasPrefix(vs.Name, "reconciler_") {
				return nil
			}
			if !slices.ContainsFunc(vs.LabelMatchers, func(m *labels.Matcher) bool {
				return m.Name == "town" && m.Value == "town-a"
			}) {
				t.Errorf("panel %q: %s does not filter on the town variable", q.Panel, vs)
			}
			return nil
		})
	}
}

func TestTownVariableQueryNamesServedMetric(t *testing.T) {
	m := regexp.MustCompile(`^label_values\((\w+), town\)$`).FindStringSubmatch(TownVariableQuery())
	if m == nil {
		t.Fatalf("town variable query %q is not label_values(metric, town)", TownVariableQuery())
	}
	if m[1] != metricnames.Up {
		t.Errorf("town variable lists towns of %q, want %q (served for every watched town)", m[1], metricnames.Up)
	}
}

func TestExpand(t *testing.T) {
	for _, tc := range []struct {
		expr, town, rate, want string
	}{
		{`up{town=~"$town"}`, ".+", "1m", `up{town=~".+"}`},
		{`rate(x[$__rate_interval])`, ".+", "2m", `rate(x[2m])`},
		{`sum(a{town=~"$town"}) / rate(b[$__rate_interval])`, "t1|t2", "30s", `sum(a{town=~"t1|t2"}) / rate(b[30s])`},
	} {
		if got := (Query{Expr: tc.expr}).Expand(tc.town, tc.rate); got != tc.want {
			t.Errorf("Expand(%q) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// TestQueriesAreThePanelTargets ties Queries (what the end-to-end test runs
// through Prometheus) to the targets in the dashboard JSON, one for one.
func TestQueriesAreThePanelTargets(t *testing.T) {
	raw, err := DashboardJSON(config.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Panels []struct {
			Title   string
			Targets []struct {
				RefID        string `json:"refId"`
				Expr         string `json:"expr"`
				LegendFormat string `json:"legendFormat"`
				Instant      bool   `json:"instant"`
			}
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var fromJSON []string
	for _, p := range doc.Panels {
		for _, tg := range p.Targets {
			fromJSON = append(fromJSON, fmt.Sprintf("%s/%s %s %q instant=%v", p.Title, tg.RefID, tg.Expr, tg.LegendFormat, tg.Instant))
		}
	}
	queries, err := Queries(config.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	var fromQueries []string
	for _, q := range queries {
		fromQueries = append(fromQueries, fmt.Sprintf("%s/%s %s %q instant=%v", q.Panel, q.RefID, q.Expr, q.Legend, q.Instant))
	}
	if !slices.Equal(fromJSON, fromQueries) {
		t.Errorf("dashboard targets:\n%s\nQueries:\n%s", strings.Join(fromJSON, "\n"), strings.Join(fromQueries, "\n"))
	}
	if len(fromQueries) != 19 {
		t.Errorf("%d queries, want 19 (16 panels, poll latency has three quantiles, invariant violations two)", len(fromQueries))
	}
}

package grafana

import (
	"strings"
	"testing"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/internal/seriesneeds"
	"github.com/tickwatch/tickwatch/metricnames"
)

// TestPanelsReadDefaultSeries holds the dashboard to the series budget:
// every metric a panel query selects is served, and by default, or the
// panel's text names the metrics.* setting that serves it (and the query
// does not expect data from a default sidecar).
func TestPanelsReadDefaultSeries(t *testing.T) {
	queries, err := Queries(config.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	needing := 0
	for _, q := range queries {
		settings, unknown, err := seriesneeds.Needs(q.Expand(TownAllValue, "1m"))
		if err != nil {
			t.Errorf("panel %q query %s: %v", q.Panel, q.RefID, err)
			continue
		}
		if len(unknown) > 0 {
			t.Errorf("panel %q query %s selects %v, which nothing serves", q.Panel, q.RefID, unknown)
		}
		for _, s := range settings {
			needing++
			if !strings.Contains(q.Description, "`metrics."+s+": true`") {
				t.Errorf("panel %q needs metrics.%s, and its description does not say so: %s", q.Panel, s, q.Description)
			}
			if q.ExpectData {
				t.Errorf("panel %q query %s expects data, but a default sidecar serves none (it needs metrics.%s)", q.Panel, q.RefID, s)
			}
		}
	}
	if needing != 1 {
		t.Errorf("%d panel queries need a setting, want 1 (side effects)", needing)
	}
	if settings, _, _ := seriesneeds.Needs(strings.NewReplacer("label_values(", "group by (town) (", ", town)", ")").Replace(TownVariableQuery())); len(settings) > 0 {
		t.Errorf("the town picker reads a series a default sidecar does not serve: %s", TownVariableQuery())
	}
	if metricnames.Setting(metricnames.Up) != "" {
		t.Error("reconciler_up is optional")
	}
}

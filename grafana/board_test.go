package grafana

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tickwatch/tickwatch/config"
)

func TestBoardRejectsBadThresholds(t *testing.T) {
	staleAfter := config.DefaultThresholds().StaleAfter
	for _, tc := range []struct {
		name    string
		th      config.Thresholds
		wantErr string
	}{
		{"zero wall clock", config.Thresholds{WallClockSeconds: 0, QueueDepthWarning: 25, QueueDepthCritical: 50, StaleAfter: staleAfter}, "thresholds.wall_clock_seconds must be > 0"},
		{"negative warning", config.Thresholds{WallClockSeconds: 1, QueueDepthWarning: -1, QueueDepthCritical: 50, StaleAfter: staleAfter}, "thresholds.queue_depth_warning must be >= 0"},
		{"critical below warning", config.Thresholds{WallClockSeconds: 1, QueueDepthWarning: 50, QueueDepthCritical: 25, StaleAfter: staleAfter}, "thresholds.queue_depth_warning (50) must not be above thresholds.queue_depth_critical (25)"},
		{"zero critical", config.Thresholds{WallClockSeconds: 1, QueueDepthWarning: 0, QueueDepthCritical: 0, StaleAfter: staleAfter}, "thresholds.queue_depth_critical must be > 0: it pages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DashboardJSON(tc.th)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
			if _, err := Queries(tc.th); err == nil {
				t.Fatal("Queries accepted the thresholds")
			}
		})
	}
}

type gridPanel struct {
	ID      int    `json:"id"`
	Title   string `json:"title"`
	Type    string `json:"type"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
}

// TestLayout: rows in the order of SPEC section 6, unique ids, every panel
// inside the 24-column grid and none overlapping another.
func TestLayout(t *testing.T) {
	raw, err := DashboardJSON(config.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		UID    string      `json:"uid"`
		Title  string      `json:"title"`
		Panels []gridPanel `json:"panels"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.UID != "tickwatch-reconciler" || doc.Title != "Reconciler" {
		t.Errorf("uid %q title %q", doc.UID, doc.Title)
	}
	var rowTitles []string
	underRow := map[string][]string{}
	current := ""
	ids := map[int]bool{}
	for i, p := range doc.Panels {
		if ids[p.ID] || p.ID != i+1 {
			t.Errorf("panel %q has id %d, want %d and unique", p.Title, p.ID, i+1)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q is off the grid: %+v", p.Title, g)
		}
		for _, o := range doc.Panels[:i] {
			h := o.GridPos
			if g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				t.Errorf("panels %q %+v and %q %+v overlap", p.Title, g, o.Title, h)
			}
		}
		if p.Type == "row" {
			rowTitles = append(rowTitles, p.Title)
			current = p.Title
			continue
		}
		underRow[current] = append(underRow[current], p.Type+":"+p.Title)
	}
	want := map[string][]string{
		"Fleet": {"stat:Towns up", "stat:Towns down", "stat:Towns not ticking", "stat:Dry runs failing", "timeseries:Open violations by invariant", "bargauge:Top towns by queue depth"},
		"Reconciler": {"timeseries:Events drained per tick", "timeseries:Actions by type", "timeseries:Side effects",
			"stat:Invariant violations", "timeseries:Wall clock per tick", "gauge:Queue depth"},
		"Sidecar": {"timeseries:Polls by result", "timeseries:Poll latency", "timeseries:Sentry events by result", "timeseries:Sentry outbox depth"},
	}
	if strings.Join(rowTitles, ",") != "Fleet,Reconciler,Sidecar" {
		t.Errorf("rows = %v", rowTitles)
	}
	for row, panels := range want {
		if strings.Join(underRow[row], ",") != strings.Join(panels, ",") {
			t.Errorf("row %s:\n got %v\nwant %v", row, underRow[row], panels)
		}
	}
}

// TestVariables: datasource picker, and a multi-value town picker with All.
func TestVariables(t *testing.T) {
	raw, err := DashboardJSON(config.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Templating struct {
			List []struct {
				Name, Type string
				Query      string
				Multi      bool
				IncludeAll bool
				AllValue   string
				Datasource map[string]string
			}
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	vars := doc.Templating.List
	if len(vars) != 2 {
		t.Fatalf("got %d variables, want 2", len(vars))
	}
	if ds := vars[0]; ds.Name != "datasource" || ds.Type != "datasource" || ds.Query != "prometheus" {
		t.Errorf("datasource variable = %+v", ds)
	}
	town := vars[1]
	if town.Name != "town" || town.Type != "query" || !town.Multi || !town.IncludeAll || town.AllValue != ".+" ||
		town.Query != "label_values(reconciler_up, town)" || town.Datasource["uid"] != "${datasource}" {
		t.Errorf("town variable = %+v", town)
	}
}

// TestSideEffectColors: attempted/succeeded/failed are blue/green/red.
func TestSideEffectColors(t *testing.T) {
	raw, err := DashboardJSON(config.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Panels []struct {
			Title       string
			FieldConfig fieldConfig
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range doc.Panels {
		if p.Title != "Side effects" {
			continue
		}
		got := map[string]string{}
		for _, o := range p.FieldConfig.Overrides {
			c := o.Properties[0].Value.(map[string]any)
			got[o.Matcher.ID+"="+o.Matcher.Options] = o.Properties[0].ID + ":" + c["mode"].(string) + ":" + c["fixedColor"].(string)
		}
		want := map[string]string{
			"byName=attempted": "color:fixed:blue",
			"byName=succeeded": "color:fixed:green",
			"byName=failed":    "color:fixed:red",
		}
		if len(got) != len(want) {
			t.Fatalf("overrides = %v, want %v", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("override %s = %q, want %q", k, got[k], v)
			}
		}
		return
	}
	t.Fatal("no Side effects panel")
}

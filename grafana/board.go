// Package grafana builds tickwatch's Grafana dashboard from code with
// grafana-tools/sdk, writes its file-provisioning config and pushes it
// through Grafana's HTTP API.
package grafana

import (
	"fmt"

	"github.com/grafana-tools/sdk"

	"github.com/tickwatch/tickwatch/config"
)

const (
	UID   = config.DashboardUID
	Title = "Reconciler"
	// SchemaVersion is Grafana 11.0's; Grafana 11-13 load it and migrate it forward.
	SchemaVersion = 39
	gridWidth     = 24
)

// Board builds the dashboard. It is deterministic: the same thresholds give
// the same board, with a stable uid and id 0.
func Board(th config.Thresholds) (*sdk.Board, error) {
	if err := checkThresholds(th); err != nil {
		return nil, err
	}
	// Not sdk.NewBoard: it numbers boards from a package-level counter,
	// which is neither stable nor safe to call concurrently.
	b := &sdk.Board{Title: Title, UID: UID, Timezone: "browser", Editable: true}
	b.Tags = []string{"tickwatch", "gastown"}
	b.SchemaVersion = SchemaVersion
	b.GraphTooltip = 1 // shared crosshair across the per-town panels
	b.Time = sdk.Time{From: "now-1h", To: "now"}
	b.Timepicker = sdk.Timepicker{RefreshIntervals: []string{"5s", "10s", "30s", "1m", "5m"}}
	b.Refresh = &sdk.BoolString{Value: "30s"}
	b.Templating = sdk.Templating{List: []sdk.TemplateVar{datasourceVariable(), townVariable()}}
	b.Panels = layout(rows(th))
	return b, nil
}

// layout numbers panels from 1 and places them left to right under their row
// header, wrapping at the grid width.
func layout(rs []row) []*sdk.Panel {
	var out []*sdk.Panel
	id, y := uint(1), 0
	for _, r := range rs {
		out = append(out, rowPanel(id, r.title, y))
		id++
		y++
		x, lineHeight := 0, 0
		for _, p := range r.panels {
			if x+p.w > gridWidth {
				x, y, lineHeight = 0, y+lineHeight, 0
			}
			assignRefIDs(p)
			out = append(out, p.sdkPanel(id, x, y))
			id++
			x += p.w
			lineHeight = max(lineHeight, p.h)
		}
		y += lineHeight
	}
	return out
}

func assignRefIDs(p *panel) {
	for i := range p.queries {
		p.queries[i].RefID = string(rune('A' + i))
		p.queries[i].Panel = p.title
		p.queries[i].Description = p.description
	}
}

// Queries lists every panel query of the dashboard, in panel order.
func Queries(th config.Thresholds) ([]Query, error) {
	if err := checkThresholds(th); err != nil {
		return nil, err
	}
	var out []Query
	for _, r := range rows(th) {
		for _, p := range r.panels {
			assignRefIDs(p)
			out = append(out, p.queries...)
		}
	}
	return out, nil
}

func checkThresholds(th config.Thresholds) error {
	if err := th.Check(); err != nil {
		return fmt.Errorf("dashboard thresholds: %w", err)
	}
	return nil
}

// datasourceVariable lets the viewer pick any Prometheus datasource.
func datasourceVariable() sdk.TemplateVar {
	return sdk.TemplateVar{
		Name: VarDatasource, Label: "Data source", Type: "datasource", Query: "prometheus",
		Refresh: sdk.BoolInt{Value: ptr(int64(1))},
		Options: []sdk.Option{},
	}
}

// townVariable lists the towns the sidecar reports; several or all may be picked.
func townVariable() sdk.TemplateVar {
	return sdk.TemplateVar{
		Name: VarTown, Label: "Town", Type: "query",
		Datasource: datasourceRef(),
		Query:      TownVariableQuery(),
		Refresh:    sdk.BoolInt{Value: ptr(int64(2))}, // on time range change: towns come and go
		Multi:      true, IncludeAll: true, AllValue: TownAllValue,
		Sort:    1,
		Options: []sdk.Option{},
		Current: sdk.Current{
			Text:  &sdk.StringSliceString{Value: []string{"All"}, Valid: true},
			Value: []string{"$__all"},
		},
	}
}

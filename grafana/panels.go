package grafana

import (
	"github.com/grafana-tools/sdk"
)

// panel is one visualization before layout: what it shows and how.
type panel struct {
	kind        string // Grafana panel plugin id
	title       string
	description string
	queries     []Query
	options     any
	fieldConfig fieldConfig
	w, h        int
}

func ptr[T any](v T) *T { return &v }

// steps are threshold steps: base color first, then (value, color) pairs.
func steps(base string, more ...step) sdk.Thresholds {
	s := []sdk.ThresholdStep{{Color: base}}
	for _, m := range more {
		s = append(s, sdk.ThresholdStep{Color: m.color, Value: ptr(m.value)})
	}
	return sdk.Thresholds{Mode: "absolute", Steps: s}
}

type step struct {
	value float64
	color string
}

// graph is the timeseries field style: drawn as lines or bars, optionally
// stacked, optionally with the thresholds drawn as a line and area.
func graph(draw, stack, thresholdsStyle string, fill int) *sdk.FieldConfigCustom {
	c := &sdk.FieldConfigCustom{
		AxisPlacement:     "auto",
		DrawStyle:         draw,
		FillOpacity:       fill,
		GradientMode:      "none",
		LineInterpolation: "linear",
		LineWidth:         1,
		PointSize:         4,
		ShowPoints:        "never",
	}
	c.LineStyle.Fill = "solid"
	c.ScaleDistribution.Type = "linear"
	c.Stacking.Group = "A"
	c.Stacking.Mode = stack
	c.ThresholdsStyle.Mode = thresholdsStyle
	return c
}

func tableLegend() legend {
	return legend{ShowLegend: true, DisplayMode: "table", Placement: "right", Calcs: []string{"lastNotNull", "max"}}
}

// timeseries is a time series panel with a table legend of last and max.
func timeseries(title, description, unit string, decimals int, queries ...Query) *panel {
	return &panel{
		kind: "timeseries", title: title, description: description, queries: queries, w: 12, h: 8,
		options: timeseriesOptions{Legend: tableLegend(), Tooltip: tooltip{Mode: "multi", Sort: "desc"}},
		fieldConfig: fieldConfig{
			Defaults: fieldDefaults{
				Unit: unit, Decimals: ptr(decimals), Min: ptr(0.0),
				Color:      sdk.FieldConfigColor{Mode: "palette-classic"},
				Thresholds: steps("green"),
				Custom:     graph("line", "none", "off", 10),
			},
			Overrides: []override{},
		},
	}
}

// stat is a big number per query, the newest value, colored by thresholds.
func stat(title, description, unit string, colorMode string, th sdk.Thresholds, qs ...Query) *panel {
	return &panel{
		kind: "stat", title: title, description: description, queries: qs, w: 4, h: 6,
		options: statOptions{
			ReduceOptions: lastNotNull, Orientation: "auto", TextMode: "value", ColorMode: colorMode,
			GraphMode: "area", JustifyMode: "center", WideLayout: true, PercentChangeColorMode: "standard",
		},
		fieldConfig: fieldConfig{
			Defaults: fieldDefaults{
				Unit: unit, Decimals: ptr(0), Min: ptr(0.0),
				Color: sdk.FieldConfigColor{Mode: "thresholds"}, Thresholds: th, NoValue: "0",
			},
			Overrides: []override{},
		},
	}
}

// gauge shows one dial per series, its newest value against thresholds.
func gauge(title, description, unit string, max float64, th sdk.Thresholds, q Query) *panel {
	return &panel{
		kind: "gauge", title: title, description: description, queries: []Query{q}, w: 12, h: 8,
		options: gaugeOptions{
			ReduceOptions: lastNotNull, Orientation: "auto", ShowThresholdLabels: false,
			ShowThresholdMarkers: true, Sizing: "auto", MinVizWidth: 75, MinVizHeight: 75,
		},
		fieldConfig: fieldConfig{
			Defaults: fieldDefaults{
				Unit: unit, Decimals: ptr(0), Min: ptr(0.0), Max: ptr(max),
				Color: sdk.FieldConfigColor{Mode: "thresholds"}, Thresholds: th,
			},
			Overrides: []override{},
		},
	}
}

// barGauge ranks series by their newest value, one horizontal bar each.
func barGauge(title, description, unit string, max float64, th sdk.Thresholds, q Query) *panel {
	return &panel{
		kind: "bargauge", title: title, description: description, queries: []Query{q}, w: 8, h: 6,
		options: barGaugeOptions{
			ReduceOptions: lastNotNull, Orientation: "horizontal", DisplayMode: "gradient",
			ValueMode: "color", NamePlacement: "auto", ShowUnfilled: true, Sizing: "auto",
			MinVizWidth: 8, MinVizHeight: 16, MaxVizHeight: 300,
			Legend: legend{ShowLegend: false, DisplayMode: "list", Placement: "bottom", Calcs: []string{}},
		},
		fieldConfig: fieldConfig{
			Defaults: fieldDefaults{
				Unit: unit, Decimals: ptr(0), Min: ptr(0.0), Max: ptr(max),
				Color: sdk.FieldConfigColor{Mode: "thresholds"}, Thresholds: th,
			},
			Overrides: []override{},
		},
	}
}

// datasourceRef points a panel or target at the dashboard's datasource variable.
func datasourceRef() map[string]string {
	return map[string]string{"type": "prometheus", "uid": "${" + VarDatasource + "}"}
}

// sdkPanel turns a laid-out panel into the SDK's CustomPanel.
func (p *panel) sdkPanel(id uint, x, y int) *sdk.Panel {
	targets := make([]sdk.Target, 0, len(p.queries))
	for _, q := range p.queries {
		targets = append(targets, sdk.Target{
			RefID: q.RefID, Datasource: datasourceRef(), Expr: q.Expr,
			LegendFormat: q.Legend, Instant: q.Instant, Format: "time_series",
		})
	}
	out := sdk.NewCustom(p.title)
	out.ID = id
	out.Type = p.kind
	out.Description = ptr(p.description)
	out.Datasource = datasourceRef()
	out.GridPos.X, out.GridPos.Y, out.GridPos.W, out.GridPos.H = ptr(x), ptr(y), ptr(p.w), ptr(p.h)
	*out.CustomPanel = sdk.CustomPanel{
		"targets":     targets,
		"options":     p.options,
		"fieldConfig": p.fieldConfig,
	}
	return out
}

// rowPanel is an expanded row header; the panels under it follow it in the list.
func rowPanel(id uint, title string, y int) *sdk.Panel {
	return &sdk.Panel{
		CommonPanel: sdk.CommonPanel{
			OfType: sdk.RowType, ID: id, Title: title, Type: "row",
			GridPos: struct {
				H *int `json:"h,omitempty"`
				W *int `json:"w,omitempty"`
				X *int `json:"x,omitempty"`
				Y *int `json:"y,omitempty"`
			}{H: ptr(1), W: ptr(24), X: ptr(0), Y: ptr(y)},
		},
		RowPanel: &sdk.RowPanel{Panels: []sdk.Panel{}, Collapsed: false},
	}
}

package grafana

import "github.com/grafana-tools/sdk"

// The SDK models Grafana 8 panels: its stat options carry empty legacy enums,
// it has no gauge, and its timeseries lacks legend visibility, tooltip sort
// and field overrides. These are the current (Grafana 11-13) shapes; they go
// into the SDK's CustomPanel, reusing its threshold, color and graph types.

// fieldConfig is a panel's fieldConfig: defaults plus per-series overrides.
type fieldConfig struct {
	Defaults  fieldDefaults `json:"defaults"`
	Overrides []override    `json:"overrides"`
}

type fieldDefaults struct {
	Unit       string                 `json:"unit"`
	Decimals   *int                   `json:"decimals,omitempty"`
	Min        *float64               `json:"min,omitempty"`
	Max        *float64               `json:"max,omitempty"`
	Color      sdk.FieldConfigColor   `json:"color"`
	Thresholds sdk.Thresholds         `json:"thresholds"`
	Custom     *sdk.FieldConfigCustom `json:"custom,omitempty"`
	NoValue    string                 `json:"noValue,omitempty"`
}

type override struct {
	Matcher    matcher    `json:"matcher"`
	Properties []property `json:"properties"`
}

type matcher struct {
	ID      string `json:"id"`
	Options string `json:"options"`
}

type property struct {
	ID    string `json:"id"`
	Value any    `json:"value"`
}

// colorByName paints the series called name in a fixed color.
func colorByName(name, color string) override {
	return override{
		Matcher:    matcher{ID: "byName", Options: name},
		Properties: []property{{ID: "color", Value: sdk.FieldConfigColor{Mode: "fixed", FixedColor: color}}},
	}
}

type legend struct {
	ShowLegend  bool     `json:"showLegend"`
	DisplayMode string   `json:"displayMode"`
	Placement   string   `json:"placement"`
	Calcs       []string `json:"calcs"`
}

type tooltip struct {
	Mode string `json:"mode"`
	Sort string `json:"sort"`
}

type reduceOptions struct {
	Values bool     `json:"values"`
	Calcs  []string `json:"calcs"`
	Fields string   `json:"fields,omitempty"` // empty: numeric fields
}

// lastNotNull shows the newest sample of each series, never an average over
// the time range: a gauge of "now" must not smooth a queue that just filled.
var lastNotNull = reduceOptions{Values: false, Calcs: []string{"lastNotNull"}}

type timeseriesOptions struct {
	Legend  legend  `json:"legend"`
	Tooltip tooltip `json:"tooltip"`
}

type statOptions struct {
	ReduceOptions          reduceOptions `json:"reduceOptions"`
	Orientation            string        `json:"orientation"`
	TextMode               string        `json:"textMode"`
	ColorMode              string        `json:"colorMode"`
	GraphMode              string        `json:"graphMode"`
	JustifyMode            string        `json:"justifyMode"`
	WideLayout             bool          `json:"wideLayout"`
	ShowPercentChange      bool          `json:"showPercentChange"`
	PercentChangeColorMode string        `json:"percentChangeColorMode"`
}

type gaugeOptions struct {
	ReduceOptions        reduceOptions `json:"reduceOptions"`
	Orientation          string        `json:"orientation"`
	ShowThresholdLabels  bool          `json:"showThresholdLabels"`
	ShowThresholdMarkers bool          `json:"showThresholdMarkers"`
	Sizing               string        `json:"sizing"`
	MinVizWidth          int           `json:"minVizWidth"`
	MinVizHeight         int           `json:"minVizHeight"`
}

type barGaugeOptions struct {
	ReduceOptions reduceOptions `json:"reduceOptions"`
	Orientation   string        `json:"orientation"`
	DisplayMode   string        `json:"displayMode"`
	ValueMode     string        `json:"valueMode"`
	NamePlacement string        `json:"namePlacement"`
	ShowUnfilled  bool          `json:"showUnfilled"`
	Sizing        string        `json:"sizing"`
	MinVizWidth   int           `json:"minVizWidth"`
	MinVizHeight  int           `json:"minVizHeight"`
	MaxVizHeight  int           `json:"maxVizHeight"`
	Legend        legend        `json:"legend"`
}

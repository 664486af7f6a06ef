package grafana

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/tickwatch/tickwatch/config"
)

var update = flag.Bool("update", false, "rewrite golden files and deploy/grafana from the code")

// shape is what a panel does with its numbers: the settings that the
// thresholds drive and the reduction that picks the value shown.
type shape struct {
	Title           string          `json:"title"`
	Type            string          `json:"type"`
	Unit            string          `json:"unit"`
	Decimals        *int            `json:"decimals"`
	Min             *float64        `json:"min"`
	Max             *float64        `json:"max,omitempty"`
	Color           string          `json:"color"`
	Thresholds      json.RawMessage `json:"thresholds"`
	ThresholdsStyle string          `json:"thresholdsStyle,omitempty"`
	Reduce          json.RawMessage `json:"reduce,omitempty"`
	ColorMode       string          `json:"colorMode,omitempty"`
}

func shapes(t *testing.T, raw []byte) []shape {
	t.Helper()
	var doc struct {
		Panels []struct {
			Title       string `json:"title"`
			Type        string `json:"type"`
			FieldConfig struct {
				Defaults struct {
					Unit     string   `json:"unit"`
					Decimals *int     `json:"decimals"`
					Min      *float64 `json:"min"`
					Max      *float64 `json:"max"`
					Color    struct {
						Mode string `json:"mode"`
					} `json:"color"`
					Thresholds json.RawMessage `json:"thresholds"`
					Custom     struct {
						ThresholdsStyle struct {
							Mode string `json:"mode"`
						} `json:"thresholdsStyle"`
					} `json:"custom"`
				} `json:"defaults"`
			} `json:"fieldConfig"`
			Options struct {
				ReduceOptions json.RawMessage `json:"reduceOptions"`
				ColorMode     string          `json:"colorMode"`
			} `json:"options"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out []shape
	for _, p := range doc.Panels {
		if p.Type == "row" {
			continue
		}
		d := p.FieldConfig.Defaults
		out = append(out, shape{
			Title: p.Title, Type: p.Type, Unit: d.Unit, Decimals: d.Decimals, Min: d.Min, Max: d.Max,
			Color: d.Color.Mode, Thresholds: compact(t, d.Thresholds), ThresholdsStyle: d.Custom.ThresholdsStyle.Mode,
			Reduce: compact(t, p.Options.ReduceOptions), ColorMode: p.Options.ColorMode,
		})
	}
	return out
}

func compact(t *testing.T, raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestThresholdAndReduceGolden pins, per panel, the thresholds, units and
// reductions for non-default thresholds, so a change to any of them shows up
// in review as a diff of testdata/thresholds.golden.json.
func TestThresholdAndReduceGolden(t *testing.T) {
	th := config.Thresholds{WallClockSeconds: 1.25, QueueDepthWarning: 10, QueueDepthCritical: 40, StaleAfter: config.DefaultThresholds().StaleAfter}
	raw, err := DashboardJSON(th)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(shapes(t, raw), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	golden := filepath.Join("testdata", "thresholds.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./grafana -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("panel shapes differ from %s (go test ./grafana -update rewrites it):\n%s", golden, got)
	}
}

// TestThresholdsComeFromConfig spells out the settings the issue names, for
// two threshold sets, so they hold whatever the golden file says.
func TestThresholdsComeFromConfig(t *testing.T) {
	staleAfter := config.DefaultThresholds().StaleAfter
	for _, th := range []config.Thresholds{
		config.DefaultThresholds(),
		{WallClockSeconds: 1.25, QueueDepthWarning: 10, QueueDepthCritical: 40, StaleAfter: staleAfter},
	} {
		raw, err := DashboardJSON(th)
		if err != nil {
			t.Fatal(err)
		}
		byTitle := map[string]shape{}
		for _, s := range shapes(t, raw) {
			byTitle[s.Title] = s
		}
		lastNotNull := `{"calcs":["lastNotNull"],"values":false}`
		queueSteps := fmtSteps("green", "yellow", th.QueueDepthWarning, "red", th.QueueDepthCritical)
		for _, tc := range []struct {
			title, thresholds, style, reduce, colorMode string
			max                                         *float64
		}{
			{"Queue depth", queueSteps, "", lastNotNull, "", ptr(2 * th.QueueDepthCritical)},
			{"Top towns by queue depth", queueSteps, "", lastNotNull, "", ptr(2 * th.QueueDepthCritical)},
			{"Wall clock per tick", fmtSteps("green", "red", th.WallClockSeconds), "line+area", "", "", nil},
			{"Invariant violations", fmtSteps("green", "red", 1), "", lastNotNull, "background", nil},
			{"Towns down", fmtSteps("green", "red", 1), "", lastNotNull, "background", nil},
		} {
			s, ok := byTitle[tc.title]
			if !ok {
				t.Fatalf("no panel %q", tc.title)
			}
			if string(s.Thresholds) != tc.thresholds || s.ThresholdsStyle != tc.style ||
				string(s.Reduce) != tc.reduce || s.ColorMode != tc.colorMode {
				t.Errorf("%q: thresholds %s style %q reduce %s colorMode %q; want %s %q %s %q",
					tc.title, s.Thresholds, s.ThresholdsStyle, s.Reduce, s.ColorMode,
					tc.thresholds, tc.style, tc.reduce, tc.colorMode)
			}
			if s.Min == nil || *s.Min != 0 {
				t.Errorf("%q: min = %v, want 0", tc.title, s.Min)
			}
			if tc.max != nil && (s.Max == nil || *s.Max != *tc.max) {
				t.Errorf("%q: max = %v, want %g", tc.title, s.Max, *tc.max)
			}
		}
	}
}

// fmtSteps renders threshold steps the way the dashboard JSON holds them:
// base color with a null value, then color/value pairs.
func fmtSteps(base string, pairs ...any) string {
	steps := []map[string]any{{"color": base, "value": nil}}
	for i := 0; i+1 < len(pairs); i += 2 {
		steps = append(steps, map[string]any{"color": pairs[i], "value": pairs[i+1]})
	}
	b, _ := json.Marshal(map[string]any{"mode": "absolute", "steps": steps})
	return string(b)
}

package grafana

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/tickwatch/tickwatch/config"
)

// TestDashboardPassesGrafanaSchema decodes the generated JSON with Grafana's
// own schema types, strictly: unknown (legacy) fields, missing required
// fields and wrong types are errors, and with the default plugins registered
// the panel options and field configs of every panel type are checked too.
func TestDashboardPassesGrafanaSchema(t *testing.T) {
	staleAfter := config.DefaultThresholds().StaleAfter
	plugins.RegisterDefaultPlugins()
	for name, th := range map[string]config.Thresholds{
		"defaults": config.DefaultThresholds(),
		"custom":   {WallClockSeconds: 1.25, QueueDepthWarning: 10, QueueDepthCritical: 40, StaleAfter: staleAfter},
		// config.Validate accepts a warning equal to the critical threshold.
		"warning equals critical": {WallClockSeconds: 0.5, QueueDepthWarning: 30, QueueDepthCritical: 30, StaleAfter: staleAfter},
	} {
		t.Run(name, func(t *testing.T) {
			raw, err := DashboardJSON(th)
			if err != nil {
				t.Fatal(err)
			}
			var d dashboard.Dashboard
			if err := schemaErr(d.UnmarshalJSONStrict(raw)); err != nil {
				t.Fatalf("strict decode: %v", err)
			}
			if err := schemaErr(d.Validate()); err != nil {
				t.Fatalf("validate: %v", err)
			}
			if got := *d.Uid; got != UID {
				t.Errorf("uid = %q, want %q", got, UID)
			}
			if d.SchemaVersion != SchemaVersion {
				t.Errorf("schemaVersion = %d, want %d", d.SchemaVersion, SchemaVersion)
			}
			if d.Id == nil || *d.Id != 0 {
				t.Errorf("id = %v, want 0", d.Id)
			}
			// The union decoder of v0.0.22 drops what it decoded (it takes its
			// own empty error list for a failure), so decode each panel again.
			var rows, panels int
			for i, rawPanel := range rawPanels(t, raw) {
				if panelType(t, rawPanel) == "row" {
					var r dashboard.RowPanel
					if err := schemaErr(r.UnmarshalJSONStrict(rawPanel)); err != nil {
						t.Errorf("row %d: %v", i, err)
					}
					rows++
					continue
				}
				panels++
				var p dashboard.Panel
				if err := schemaErr(p.UnmarshalJSONStrict(rawPanel)); err != nil {
					t.Errorf("panel %d: %v", i, err)
					continue
				}
				// Panel reads fieldConfig leniently besides its custom part; check it strictly too.
				var fc dashboard.FieldConfigSource
				if err := schemaErr(fc.UnmarshalJSONStrict(panelField(t, rawPanel, "fieldConfig"))); err != nil {
					t.Errorf("panel %q fieldConfig: %v", *p.Title, err)
				}
				if p.Description == nil || *p.Description == "" {
					t.Errorf("panel %q has no description", *p.Title)
				}
				if p.FieldConfig == nil || p.FieldConfig.Defaults.Unit == nil || p.FieldConfig.Defaults.Decimals == nil {
					t.Errorf("panel %q lacks unit or decimals", *p.Title)
				}
				// Decoded options and targets are dropped by the same quirk: look at the JSON.
				if len(panelField(t, rawPanel, "options")) < 3 || len(panelField(t, rawPanel, "targets")) < 3 {
					t.Errorf("panel %q lacks options or targets", *p.Title)
				}
			}
			if rows != 3 || panels != 16 {
				t.Errorf("got %d rows and %d panels, want 3 and 16", rows, panels)
			}
		})
	}
}

// TestSchemaCheckBites makes sure the strict decode above would catch what
// the old SDK emits: each mutation of the generated JSON must be rejected.
func TestSchemaCheckBites(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	good, err := DashboardJSON(config.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	board, err := Board(config.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	sdkOutput, err := json.Marshal(board)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, wantErr string
		raw           []byte
	}{
		{"SDK output before rewriting", "unexpected field 'rows'", sdkOutput},
		{"legacy panel span", "unexpected field 'span'", mutate(t, good, func(d map[string]any) { panelAt(d, 1)["span"] = 4 })},
		{"unknown gauge option", "unexpected field 'bogus'", mutate(t, good, func(d map[string]any) {
			panelByType(t, d, "gauge")["options"].(map[string]any)["bogus"] = true
		})},
		{"unknown timeseries field option", "unexpected field 'bogus'", mutate(t, good, func(d map[string]any) {
			custom := panelByType(t, d, "timeseries")["fieldConfig"].(map[string]any)["defaults"].(map[string]any)["custom"]
			custom.(map[string]any)["bogus"] = 1
		})},
		{"stat without reduce options", "reduceOptions: required field is missing", mutate(t, good, func(d map[string]any) {
			delete(panelByType(t, d, "stat")["options"].(map[string]any), "reduceOptions")
		})},
		{"no schemaVersion", "schemaVersion: required field is missing", mutate(t, good, func(d map[string]any) { delete(d, "schemaVersion") })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d dashboard.Dashboard
			err := schemaErr(d.UnmarshalJSONStrict(tc.raw))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("strict decode error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func mutate(t *testing.T, raw []byte, f func(map[string]any)) []byte {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	f(d)
	out, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func panelAt(d map[string]any, i int) map[string]any {
	return d["panels"].([]any)[i].(map[string]any)
}

func panelByType(t *testing.T, d map[string]any, kind string) map[string]any {
	t.Helper()
	for _, p := range d["panels"].([]any) {
		if p.(map[string]any)["type"] == kind {
			return p.(map[string]any)
		}
	}
	t.Fatalf("no %s panel", kind)
	return nil
}

// TestDashboardHasNoEmptyStrings: an empty string in Grafana JSON is an unset
// enum or a meaningless default, exactly what the old SDK used to emit.
func TestDashboardHasNoEmptyStrings(t *testing.T) {
	raw, err := DashboardJSON(config.DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				walk(path+"."+k, e)
			}
		case []any:
			for _, e := range v {
				walk(path+"[]", e)
			}
		case string:
			if strings.TrimSpace(v) == "" {
				t.Errorf("%s is an empty string", path)
			}
		}
	}
	walk("$", doc)
}

func rawPanels(t *testing.T, raw []byte) []json.RawMessage {
	t.Helper()
	var doc struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Panels
}

func panelType(t *testing.T, raw []byte) string {
	t.Helper()
	var p struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	return p.Type
}

func panelField(t *testing.T, rawPanel []byte, field string) []byte {
	t.Helper()
	var p map[string]json.RawMessage
	if err := json.Unmarshal(rawPanel, &p); err != nil {
		t.Fatal(err)
	}
	return p[field]
}

// schemaErr drops the empty cog.BuildErrors that the strict decoders return
// as a non-nil error when they found nothing wrong.
func schemaErr(err error) error {
	var errs cog.BuildErrors
	if errors.As(err, &errs) && len(errs) == 0 {
		return nil
	}
	return err
}

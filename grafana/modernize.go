package grafana

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana-tools/sdk"

	"github.com/tickwatch/tickwatch/config"
)

// Fields the SDK always emits that current Grafana's schema no longer has:
// Grafana 4 rows and spans, the dark/light style, slugs, Grafana 8 panel flags.
var (
	legacyBoardFields    = []string{"rows", "style", "slug", "originalTitle", "hideControls", "sharedCrosshair"}
	legacyPanelFields    = []string{"span", "editable", "error", "isNew", "renderer", "height", "minSpan", "scopedVars", "repeatPanelId", "alert"}
	legacyVariableFields = []string{"allFormat", "multiFormat"}
	// Variable fields whose empty value means "unset" to Grafana: drop them
	// rather than send empty enums.
	optionalVariableFields = []string{"regex", "allValue", "label"}
)

// DashboardJSON is the dashboard as Grafana 11-13 loads it from a file or the API.
func DashboardJSON(th config.Thresholds) ([]byte, error) {
	b, err := Board(th)
	if err != nil {
		return nil, err
	}
	return JSON(b)
}

// JSON marshals a board with the SDK and rewrites what the SDK emits in
// legacy shape. Keys come out sorted and indented, so the output is stable.
func JSON(b *sdk.Board) ([]byte, error) {
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("marshal dashboard %q: %w", b.UID, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decode dashboard %q: %w", b.UID, err)
	}
	modernize(doc)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // PromQL has no business being HTML-escaped
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encode dashboard %q: %w", b.UID, err)
	}
	return out.Bytes(), nil
}

func modernize(doc map[string]any) {
	deleteKeys(doc, legacyBoardFields)
	// id 0 (the SDK omits a zero id): Grafana assigns its own database id,
	// the uid is what identifies the board across installs.
	doc["id"] = 0
	if tp, ok := doc["timepicker"].(map[string]any); ok {
		delete(tp, "time_options")
	}
	doc["annotations"] = map[string]any{"list": []any{}}
	if doc["links"] == nil {
		doc["links"] = []any{}
	}
	if t, ok := doc["templating"].(map[string]any); ok {
		for _, v := range asList(t["list"]) {
			modernizeVariable(v)
		}
	}
	for _, p := range asList(doc["panels"]) {
		modernizePanel(p)
	}
}

func modernizeVariable(v map[string]any) {
	deleteKeys(v, legacyVariableFields)
	for _, k := range optionalVariableFields {
		if v[k] == "" {
			delete(v, k)
		}
	}
	if v["datasource"] == nil {
		delete(v, "datasource")
	}
	// An unset current serializes as the string "null": let Grafana pick.
	if cur, ok := v["current"].(map[string]any); ok && (cur["text"] == nil || cur["text"] == "null") {
		delete(v, "current")
	}
}

func modernizePanel(p map[string]any) {
	deleteKeys(p, legacyPanelFields)
	if p["type"] == "row" {
		// Rows carry no datasource or description of their own.
		delete(p, "datasource")
		delete(p, "transparent")
		for _, child := range asList(p["panels"]) {
			modernizePanel(child)
		}
	}
}

func deleteKeys(m map[string]any, keys []string) {
	for _, k := range keys {
		delete(m, k)
	}
}

// asList returns the objects of a JSON array, skipping anything else.
func asList(v any) []map[string]any {
	arr, _ := v.([]any)
	out := make([]map[string]any, 0, len(arr))
	for _, e := range arr {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

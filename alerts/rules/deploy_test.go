package rules_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/tickwatch/tickwatch/alerts/rules"
	"github.com/tickwatch/tickwatch/config"
)

var update = flag.Bool("update", false, "rewrite the checked-in files under deploy/ from the code")

const deployDir = "../../deploy"

// deployed lists every generated file checked in under deploy/, built from
// the default thresholds.
func deployed(t *testing.T) map[string][]byte {
	t.Helper()
	th := config.DefaultThresholds()
	files, err := rules.Files(th, rules.Options{}, rules.FormatPrometheus)
	if err != nil {
		t.Fatal(err)
	}
	op, err := rules.GenerateOperator(th)
	if err != nil {
		t.Fatal(err)
	}
	am, err := rules.AlertmanagerConfig(rules.DefaultAlertmanagerOptions())
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"prometheus/" + files[0].Name:             files[0].Data,
		"prometheus/" + files[1].Name:             files[1].Data,
		"kubernetes/tickwatch-prometheusrule.yml": op,
		"alertmanager/alertmanager.yml":           am,
	}
}

// TestDeployedFilesMatchCode fails when a checked-in file under deploy/ is
// not what the code generates now. `go test ./alerts/rules -update`
// rewrites them.
func TestDeployedFilesMatchCode(t *testing.T) {
	for name, want := range deployed(t) {
		path := filepath.Join(deployDir, name)
		if *update {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (run: go test ./alerts/rules -update)", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("deploy/%s drifted from the code; run: go test ./alerts/rules -update", name)
		}
	}
}

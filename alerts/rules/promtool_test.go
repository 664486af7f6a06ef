package rules_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/tickwatch/tickwatch/alerts/rules"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/internal/promtest"
)

// runTool runs one of Prometheus's command-line tools in dir and returns
// its stdout, stderr and exit code.
func runTool(t *testing.T, dir, name string, args ...string) (string, string, int) {
	t.Helper()
	return promtest.Run(t, time.Minute, dir, promtest.Binary(t, name), args...)
}

// TestDeployedFilesPassTheirTools runs promtool and amtool on the files
// checked in under deploy/, as an operator would before shipping them.
func TestDeployedFilesPassTheirTools(t *testing.T) {
	for _, tc := range []struct {
		dir, tool string
		args      []string
		want      []string // lines the tool must print
	}{
		{"prometheus", promtest.PromtoolBin, []string{"check", "rules", "tickwatch-rules.yml"}, []string{"SUCCESS: 18 rules found"}},
		{"prometheus", promtest.PromtoolBin, []string{"test", "rules", "tickwatch-rules.test.yml"}, []string{"SUCCESS"}},
		{"prometheus", promtest.PromtoolBin, []string{"check", "config", "prometheus.yml"}, []string{"SUCCESS: 1 rule files found", "SUCCESS: 18 rules found"}},
		{"alertmanager", promtest.AmtoolBin, []string{"check-config", "alertmanager.yml"}, []string{"Checking 'alertmanager.yml'  SUCCESS", " - 6 inhibit rules", " - 2 receivers"}},
	} {
		t.Run(tc.tool+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			stdout, stderr, code := runTool(t, filepath.Join(deployDir, tc.dir), tc.tool, tc.args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
			}
			lines := strings.Split(stdout, "\n")
			for _, w := range tc.want {
				found := false
				for _, l := range lines {
					found = found || strings.TrimSpace(l) == strings.TrimSpace(w)
				}
				if !found {
					t.Errorf("output lacks the line %q:\n%s", w, stdout)
				}
			}
		})
	}
}

// TestAlertmanagerRoutesBySeverity asks amtool where the checked-in routing
// tree sends alerts: pages to PagerDuty, everything else to the warnings.
func TestAlertmanagerRoutesBySeverity(t *testing.T) {
	for _, tc := range []struct {
		labels []string
		want   string
	}{
		{[]string{"alertname=ReconcilerQueueDepthCritical", "severity=page", "town=town-a"}, rules.ReceiverPagerDuty},
		{[]string{"alertname=TickwatchDown", "severity=page"}, rules.ReceiverPagerDuty},
		{[]string{"alertname=ReconcilerStale", "severity=page", "town=town-a"}, rules.ReceiverPagerDuty},
		{[]string{"alertname=ReconcilerQueueDepthHigh", "severity=warning", "town=town-a"}, rules.ReceiverWarnings},
		{[]string{"alertname=ReconcilerInvariantViolated", "severity=warning", "town=town-a", "invariant=7"}, rules.ReceiverWarnings},
		{[]string{"alertname=TickwatchTownsDown", "severity=page", "job=tickwatch"}, rules.ReceiverPagerDuty},
		{[]string{"alertname=TickwatchDryRunsFailing", "severity=warning", "job=tickwatch"}, rules.ReceiverWarnings},
		{[]string{"alertname=SomethingElse"}, rules.ReceiverWarnings},
	} {
		t.Run(strings.Join(tc.labels, ","), func(t *testing.T) {
			args := append([]string{"config", "routes", "test", "--config.file=alertmanager.yml"}, tc.labels...)
			stdout, stderr, code := runTool(t, filepath.Join(deployDir, "alertmanager"), promtest.AmtoolBin, args...)
			if code != 0 {
				t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
			}
			if got := strings.TrimSpace(stdout); got != tc.want {
				t.Errorf("routed to %q, want %q", got, tc.want)
			}
		})
	}
}

// TestUnitTestsFollowThresholds generates rules and their unit tests from
// several thresholds and formats, and lets promtool run them.
func TestUnitTestsFollowThresholds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		th     config.Thresholds
		opts   rules.Options
		format string
	}{
		{"defaults", config.DefaultThresholds(), rules.Options{}, rules.FormatPrometheus},
		{"small", config.Thresholds{WallClockSeconds: 0.25, QueueDepthWarning: 10, QueueDepthCritical: 20, StaleAfter: model.Duration(90 * time.Second)}, rules.Options{}, rules.FormatPrometheus},
		{"large", config.Thresholds{WallClockSeconds: 2, QueueDepthWarning: 100, QueueDepthCritical: 400, StaleAfter: model.Duration(15 * time.Minute)}, rules.Options{}, rules.FormatPrometheus},
		{"other job", config.DefaultThresholds(), rules.Options{Job: "gastown-watch", RunbookURL: "https://wiki.example/tickwatch"}, rules.FormatPrometheus},
		{"warning zero", config.Thresholds{WallClockSeconds: 0.5, QueueDepthWarning: 0, QueueDepthCritical: 0.5, StaleAfter: model.Duration(5 * time.Minute)}, rules.Options{}, rules.FormatPrometheus},
		{"warning equals critical", config.Thresholds{WallClockSeconds: 0.5, QueueDepthWarning: 30, QueueDepthCritical: 30, StaleAfter: model.Duration(5 * time.Minute)}, rules.Options{}, rules.FormatPrometheus},
		{"operator", config.DefaultThresholds(), rules.Options{}, rules.FormatOperator},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			files, err := rules.Files(tc.th, tc.opts, tc.format)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			stdout, stderr, code := runTool(t, dir, promtest.PromtoolBin, "test", "rules", rules.TestFileName)
			if code != 0 || !strings.Contains(stdout, "  SUCCESS") {
				t.Fatalf("promtool test rules: exit %d\n%s%s", code, stdout, stderr)
			}
		})
	}
}

// TestUnitTestsCatchWrongRules pairs tests generated from one set of
// thresholds with rules from another: promtool must fail, naming the alert
// whose threshold moved. It shows the tests pin the thresholds down.
func TestUnitTestsCatchWrongRules(t *testing.T) {
	def := config.DefaultThresholds()
	for _, tc := range []struct {
		name  string
		rules func(*config.Thresholds)
		alert string
	}{
		{"critical raised", func(th *config.Thresholds) { th.QueueDepthCritical = 80 }, rules.AlertReconcilerQueueDepthCritical},
		{"warning raised", func(th *config.Thresholds) { th.QueueDepthWarning = 40 }, rules.AlertReconcilerQueueDepthHigh},
		{"wall clock raised", func(th *config.Thresholds) { th.WallClockSeconds = 1.5 }, rules.AlertReconcilerWallClockHigh},
		{"stale_after longer", func(th *config.Thresholds) { th.StaleAfter = model.Duration(10 * time.Minute) }, rules.AlertReconcilerStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			th := def
			tc.rules(&th)
			ruleFile, err := rules.Generate(th)
			if err != nil {
				t.Fatal(err)
			}
			tests, err := rules.UnitTests(def)
			if err != nil {
				t.Fatal(err)
			}
			for name, data := range map[string][]byte{rules.RuleFileName: ruleFile, rules.TestFileName: tests} {
				if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			stdout, stderr, code := runTool(t, dir, promtest.PromtoolBin, "test", "rules", rules.TestFileName)
			if code != 1 {
				t.Fatalf("promtool test rules: exit %d, want 1\n%s%s", code, stdout, stderr)
			}
			out := stdout + stderr
			if !strings.Contains(out, "alertname: "+tc.alert+",") {
				t.Errorf("failure does not name %s:\n%s", tc.alert, out)
			}
			for _, other := range rules.AlertNames() {
				if other != tc.alert && strings.Contains(out, "alertname: "+other+",") {
					t.Errorf("failure also names %s, whose threshold did not move", other)
				}
			}
		})
	}
}

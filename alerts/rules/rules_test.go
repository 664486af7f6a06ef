package rules_test

import (
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"
	"gopkg.in/yaml.v3"

	"github.com/tickwatch/tickwatch/alerts/rules"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/metricnames"
)

// TestAlertsQueryExporterMetrics parses every expression and checks that it
// reads only metrics the exporter serves (and Prometheus's own `up`).
func TestAlertsQueryExporterMetrics(t *testing.T) {
	known := append(metricnames.All(), "up")
	for _, r := range rules.Alerts(config.DefaultThresholds(), rules.Options{}) {
		expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr)
		if err != nil {
			t.Errorf("%s: %q: %v", r.Alert, r.Expr, err)
			continue
		}
		if _, ok := expr.(*parser.BinaryExpr); !ok && !strings.HasPrefix(r.Expr, "absent(") {
			t.Errorf("%s: %q is not a comparison", r.Alert, r.Expr)
		}
		parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok && !slices.Contains(known, vs.Name) {
				t.Errorf("%s: %q reads %q, which tickwatch does not serve", r.Alert, r.Expr, vs.Name)
			}
			return nil
		})
	}
}

// TestAlertsFollowThresholds pins each expression, for and keep_firing_for.
func TestAlertsFollowThresholds(t *testing.T) {
	small := config.Thresholds{WallClockSeconds: 0.25, QueueDepthWarning: 10, QueueDepthCritical: 20, StaleAfter: model.Duration(90 * time.Second)}
	type want struct{ expr, forD, keep, severity string }
	for _, tc := range []struct {
		name string
		th   config.Thresholds
		opts rules.Options
		want map[string]want
	}{
		{"defaults", config.DefaultThresholds(), rules.Options{}, map[string]want{
			"TickwatchDown/scrape-failed":      {`up{job="tickwatch"} == 0`, "2m", "0s", "page"},
			"TickwatchDown/no-target":          {`absent(up{job="tickwatch"})`, "2m", "0s", "page"},
			"ReconcilerTownDown":               {`max without (instance, pod) (reconciler_up) == 0`, "3m", "5m", "warning"},
			"ReconcilerStale/last-success-old": {`time() - max without (instance, pod) (reconciler_last_success_timestamp_seconds) > 300`, "1m", "0s", "page"},
			"ReconcilerStale/never-succeeded": {`max without (instance, pod) (reconciler_up) == 0 unless on (job, town) max without (instance, pod) (reconciler_last_success_timestamp_seconds)`,
				"6m", "0s", "page"},
			"ReconcilerQueueDepthHigh":     {`max without (instance, pod) (reconciler_queue_depth or reconciler_last_tick_pending_events) > 25`, "5m", "5m", "warning"},
			"ReconcilerQueueDepthCritical": {`max without (instance, pod) (reconciler_queue_depth or reconciler_last_tick_pending_events) > 50`, "2m", "5m", "page"},
			"ReconcilerWallClockHigh":      {`max without (instance, pod) (reconciler_last_tick_wall_clock_seconds) > 0.5`, "5m", "5m", "warning"},
			"ReconcilerInvariantViolated":  {`max without (instance, pod) (reconciler_invariant_violations) > 0`, "1m", "0s", "warning"},
			"TickwatchSentryDeliveryFailing": {`sum by (job, instance) (increase(tickwatch_sentry_events_total{result=~"failed|rate_limited"}[10m])) > 0 unless sum by (job, instance) (increase(tickwatch_sentry_events_total{result="sent"}[10m])) > 0`,
				"10m", "0s", "warning"},
			"ReconcilerDryRunFailing": {`max without (instance, pod) (reconciler_dry_run_status_code) and (max without (instance, pod) (reconciler_dry_run_up) == 0)`, "10m", "0s", "warning"},
			"ReconcilerNotTicking":    {`max without (instance, pod) (reconciler_ticking) == 0`, "5m", "0s", "warning"},
			"TickwatchTownsDown":      {`(count by (job) (max without (instance, pod) (reconciler_up) == 0) >= 2) / count by (job) (max without (instance, pod) (reconciler_up)) >= 0.5`, "2m", "6m", "page"},
			"TickwatchDryRunsFailing": {`(count by (job) (max without (instance, pod) (reconciler_dry_run_up) == 0) >= 2) / count by (job) (max without (instance, pod) (reconciler_up)) >= 0.5`, "8m", "11m", "warning"},
			"TickwatchPollsSkipped":   {`sum by (job, instance) (increase(tickwatch_polls_skipped_total[5m])) > 0`, "15m", "0s", "warning"},
			"TickwatchShardMissing": {`count by (job) (max by (job, shard) (tickwatch_shard_info{job="tickwatch"})) < max by (job) (tickwatch_shards{job="tickwatch"})`,
				"2m", "0s", "page"},
			"TickwatchShardingMismatch/count": {`max by (job) (tickwatch_shards{job="tickwatch"}) != min by (job) (tickwatch_shards{job="tickwatch"})`,
				"10m", "0s", "warning"},
			"TickwatchShardingMismatch/duplicate-shard": {`count by (job, shard) (tickwatch_shard_info{job="tickwatch"}) > 1`, "10m", "0s", "warning"},
		}},
		{"small thresholds, other job, time scaled for a test", small, rules.Options{Job: "tw", TimeScale: 1.0 / 60}, map[string]want{
			"TickwatchDown/scrape-failed":      {`up{job="tw"} == 0`, "2s", "0s", "page"},
			"TickwatchDown/no-target":          {`absent(up{job="tw"})`, "2s", "0s", "page"},
			"ReconcilerTownDown":               {`max without (instance, pod) (reconciler_up) == 0`, "3s", "5s", "warning"},
			"ReconcilerStale/last-success-old": {`time() - max without (instance, pod) (reconciler_last_success_timestamp_seconds) > 90`, "1s", "0s", "page"},
			"ReconcilerStale/never-succeeded": {`max without (instance, pod) (reconciler_up) == 0 unless on (job, town) max without (instance, pod) (reconciler_last_success_timestamp_seconds)`,
				"3s", "0s", "page"},
			"ReconcilerQueueDepthHigh":       {`max without (instance, pod) (reconciler_queue_depth or reconciler_last_tick_pending_events) > 10`, "5s", "5s", "warning"},
			"ReconcilerQueueDepthCritical":   {`max without (instance, pod) (reconciler_queue_depth or reconciler_last_tick_pending_events) > 20`, "2s", "5s", "page"},
			"ReconcilerWallClockHigh":        {`max without (instance, pod) (reconciler_last_tick_wall_clock_seconds) > 0.25`, "5s", "5s", "warning"},
			"ReconcilerInvariantViolated":    {`max without (instance, pod) (reconciler_invariant_violations) > 0`, "1s", "0s", "warning"},
			"TickwatchSentryDeliveryFailing": {`sum by (job, instance) (increase(tickwatch_sentry_events_total{result=~"failed|rate_limited"}[10m])) > 0 unless sum by (job, instance) (increase(tickwatch_sentry_events_total{result="sent"}[10m])) > 0`, "10s", "0s", "warning"},
			"ReconcilerDryRunFailing":        {`max without (instance, pod) (reconciler_dry_run_status_code) and (max without (instance, pod) (reconciler_dry_run_up) == 0)`, "10s", "0s", "warning"},
			"ReconcilerNotTicking":           {`max without (instance, pod) (reconciler_ticking) == 0`, "5s", "0s", "warning"},
			"TickwatchTownsDown":             {`(count by (job) (max without (instance, pod) (reconciler_up) == 0) >= 2) / count by (job) (max without (instance, pod) (reconciler_up)) >= 0.5`, "1s", "6s", "page"},
			"TickwatchDryRunsFailing":        {`(count by (job) (max without (instance, pod) (reconciler_dry_run_up) == 0) >= 2) / count by (job) (max without (instance, pod) (reconciler_up)) >= 0.5`, "8s", "11s", "warning"},
			"TickwatchPollsSkipped":          {`sum by (job, instance) (increase(tickwatch_polls_skipped_total[5m])) > 0`, "15s", "0s", "warning"},
			"TickwatchShardMissing": {`count by (job) (max by (job, shard) (tickwatch_shard_info{job="tw"})) < max by (job) (tickwatch_shards{job="tw"})`,
				"2s", "0s", "page"},
			"TickwatchShardingMismatch/count": {`max by (job) (tickwatch_shards{job="tw"}) != min by (job) (tickwatch_shards{job="tw"})`,
				"10s", "0s", "warning"},
			"TickwatchShardingMismatch/duplicate-shard": {`count by (job, shard) (tickwatch_shard_info{job="tw"}) > 1`, "10s", "0s", "warning"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := map[string]want{}
			for _, r := range rules.Alerts(tc.th, tc.opts) {
				key := r.Alert
				if c := r.Labels["cause"]; c != "" {
					key += "/" + c
				}
				if _, dup := got[key]; dup {
					t.Errorf("two rules %s", key)
				}
				got[key] = want{r.Expr, r.For.String(), r.KeepFiringFor.String(), r.Labels["severity"]}
			}
			for key, w := range tc.want {
				if got[key] != w {
					t.Errorf("%s:\n got %+v\nwant %+v", key, got[key], w)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("%d rules, want %d", len(got), len(tc.want))
			}
		})
	}
}

// TestAnnotationsNameTownValueAndRunbook checks every rule's annotations and
// that each runbook link lands on a heading of docs/runbook.md.
func TestAnnotationsNameTownValueAndRunbook(t *testing.T) {
	doc, err := os.ReadFile("../../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (\S+)$`).FindAllStringSubmatch(string(doc), -1) {
		headings[strings.ToLower(m[1])] = true
	}
	for _, r := range rules.Alerts(config.DefaultThresholds(), rules.Options{}) {
		a := r.Annotations
		if len(a) != 3 || a["summary"] == "" || a["description"] == "" {
			t.Errorf("%s: annotations %v, want summary, description, runbook_url", r.Alert, a)
		}
		perTown := strings.HasPrefix(r.Alert, "Reconciler")
		for _, k := range []string{"summary", "description"} {
			if perTown && !strings.Contains(a[k], "{{ $labels.town }}") {
				t.Errorf("%s: %s %q does not name the town", r.Alert, k, a[k])
			}
		}
		if r.Labels["cause"] != "no-target" && !strings.Contains(a["description"], "$value") {
			t.Errorf("%s: description %q does not give the value", r.Alert, a["description"])
		}
		anchor, ok := strings.CutPrefix(a["runbook_url"], rules.DefaultRunbookURL+"#")
		if !ok || !headings[anchor] {
			t.Errorf("%s: runbook_url %q has no heading in docs/runbook.md", r.Alert, a["runbook_url"])
		}
	}
	for _, name := range rules.AlertNames() {
		if !headings[strings.ToLower(name)] {
			t.Errorf("docs/runbook.md has no section ## %s", name)
		}
	}
}

func TestBadThresholdsAreRefused(t *testing.T) {
	def := config.DefaultThresholds()
	for _, tc := range []struct {
		name   string
		change func(*config.Thresholds)
		want   string
	}{
		{"zero wall clock", func(th *config.Thresholds) { th.WallClockSeconds = 0 }, "thresholds.wall_clock_seconds must be > 0"},
		{"negative warning", func(th *config.Thresholds) { th.QueueDepthWarning = -1 }, "thresholds.queue_depth_warning must be >= 0"},
		{"NaN critical", func(th *config.Thresholds) { th.QueueDepthCritical = math.NaN() }, "thresholds.queue_depth_critical must be > 0: it pages"},
		{"critical below warning", func(th *config.Thresholds) { th.QueueDepthCritical = 20 }, "thresholds.queue_depth_warning (25) must not be above thresholds.queue_depth_critical (20)"},
		{"no stale_after", func(th *config.Thresholds) { th.StaleAfter = 0 }, "thresholds.stale_after must be > 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := def
			tc.change(&th)
			for name, gen := range map[string]func(config.Thresholds) ([]byte, error){
				"Generate": rules.Generate, "GenerateOperator": rules.GenerateOperator, "UnitTests": rules.UnitTests,
			} {
				if _, err := gen(th); err == nil || err.Error() != "alert rule thresholds: "+tc.want {
					t.Errorf("%s: error %v, want %q", name, err, tc.want)
				}
			}
		})
	}
}

func TestFilesByFormat(t *testing.T) {
	th := config.DefaultThresholds()
	for _, tc := range []struct {
		format    string
		wantNames []string
		wantErr   string
	}{
		{rules.FormatPrometheus, []string{"tickwatch-rules.yml", "tickwatch-rules.test.yml"}, ""},
		{rules.FormatOperator, []string{"tickwatch-rules.yml", "tickwatch-rules.test.yml", "tickwatch-rules.prometheus.yml"}, ""},
		{"jsonnet", nil, `unknown rules format "jsonnet" (want prometheus or operator)`},
	} {
		t.Run(tc.format, func(t *testing.T) {
			files, err := rules.Files(th, rules.Options{}, tc.format)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, f := range files {
				names = append(names, f.Name)
			}
			if !slices.Equal(names, tc.wantNames) {
				t.Errorf("files %v, want %v", names, tc.wantNames)
			}
		})
	}
}

// TestOperatorResourceCarriesTheSameGroup decodes the PrometheusRule and
// compares its groups with the plain rule file's.
func TestOperatorResourceCarriesTheSameGroup(t *testing.T) {
	th := config.DefaultThresholds()
	plainYAML, err := rules.Generate(th)
	if err != nil {
		t.Fatal(err)
	}
	opYAML, err := rules.GenerateOperator(th)
	if err != nil {
		t.Fatal(err)
	}
	var plain rules.RuleFile
	var op struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name   string            `yaml:"name"`
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec map[string]any `yaml:"spec"`
	}
	if err := yaml.Unmarshal(plainYAML, &plain); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(opYAML, &op); err != nil {
		t.Fatal(err)
	}
	if op.APIVersion != "monitoring.coreos.com/v1" || op.Kind != "PrometheusRule" || op.Metadata.Name != "tickwatch" {
		t.Errorf("resource header %s %s %s", op.APIVersion, op.Kind, op.Metadata.Name)
	}
	var plainAny map[string]any
	yaml.Unmarshal(plainYAML, &plainAny)
	if a, b := mustYAML(t, op.Spec["groups"]), mustYAML(t, plainAny["groups"]); a != b {
		t.Errorf("spec.groups differ from the rule file:\n%s\nvs\n%s", a, b)
	}
	if len(plain.Groups) != 1 || plain.Groups[0].Name != rules.GroupName || len(plain.Groups[0].Rules) != 18 {
		t.Errorf("rule file has %d groups; first %q with %d rules", len(plain.Groups), plain.Groups[0].Name, len(plain.Groups[0].Rules))
	}
}

func mustYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFleetAlertsCoverTheTowns: a fleet's alert must reach Alertmanager no
// later than the first of the town alerts it holds back, and end no earlier
// than the last, whose towns fail and recover up to a default idle or
// dry-run interval (a minute) apart. Otherwise those notify one by one.
// (Alerts of one evaluation arrive together, and the group wait covers
// them.) It holds for a stale_after of 90s and more.
func TestFleetAlertsCoverTheTowns(t *testing.T) {
	def := config.Default()
	spread := max(time.Duration(def.Poll.IdleInterval), time.Duration(def.Poll.DryRunInterval))
	for _, staleAfter := range []time.Duration{90 * time.Second, 2 * time.Minute, 3 * time.Minute, 5 * time.Minute, time.Hour} {
		th := config.DefaultThresholds()
		th.StaleAfter = model.Duration(staleAfter)
		waits, keeps := map[string]time.Duration{}, map[string]time.Duration{}
		for _, r := range rules.Alerts(th, rules.Options{}) {
			w := time.Duration(r.For)
			if r.Labels["cause"] == "last-success-old" {
				// It becomes true stale_after after the last success,
				// which can be an idle interval before the outage.
				w += staleAfter - time.Duration(def.Poll.IdleInterval)
			}
			if seen, ok := waits[r.Alert]; !ok || w < seen {
				waits[r.Alert] = w
			}
			keeps[r.Alert] = max(keeps[r.Alert], time.Duration(r.KeepFiringFor))
		}
		for _, tc := range []struct {
			fleet, town string
			held        time.Duration // how long the town's gauges may outlast the cause
		}{
			{rules.AlertTickwatchTownsDown, rules.AlertReconcilerTownDown, 0},
			{rules.AlertTickwatchTownsDown, rules.AlertReconcilerStale, 0},
			// A failed status call ends a dry run's back-off: the first
			// poll after the outage tries it.
			{rules.AlertTickwatchTownsDown, rules.AlertReconcilerDryRunFailing, 0},
			// A failing dry run's gauges are held through its back-off.
			{rules.AlertTickwatchDryRunsFailing, rules.AlertReconcilerDryRunFailing, config.MaxDryRunWait},
		} {
			if waits[tc.fleet]+spread > waits[tc.town] {
				t.Errorf("stale_after %s: %s waits %s, not at least %s less than %s (%s)", th.StaleAfter, tc.fleet, model.Duration(waits[tc.fleet]), model.Duration(spread), tc.town, model.Duration(waits[tc.town]))
			}
			if last := keeps[tc.town] + tc.held + spread; keeps[tc.fleet] < last {
				t.Errorf("stale_after %s: %s fires on for %s once its cause is gone, less than %s may (%s)", th.StaleAfter, tc.fleet, model.Duration(keeps[tc.fleet]), tc.town, model.Duration(last))
			}
		}
	}
}

// TestDryRunAlertOutlastsTheBackoff: a dry run that keeps failing is called
// at most every config.MaxDryRunWait. The alert must wait at least that long,
// so that every window it judges holds an attempt: after a fix it resolves
// within its own `for`, and it never fires on a verdict no attempt has
// renewed since.
func TestDryRunAlertOutlastsTheBackoff(t *testing.T) {
	for _, r := range rules.Alerts(config.DefaultThresholds(), rules.Options{}) {
		if r.Alert != rules.AlertReconcilerDryRunFailing {
			continue
		}
		if time.Duration(r.For) < config.MaxDryRunWait {
			t.Errorf("%s waits %s, less than the dry-run back-off's cap %s", r.Alert, r.For, model.Duration(config.MaxDryRunWait))
		}
		if !strings.Contains(r.Annotations["description"], "at most every "+model.Duration(config.MaxDryRunWait).String()) {
			t.Errorf("%s does not say how often a failing dry run is tried: %q", r.Alert, r.Annotations["description"])
		}
		return
	}
	t.Fatalf("no %s rule", rules.AlertReconcilerDryRunFailing)
}

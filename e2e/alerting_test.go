package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/tickwatch/tickwatch/alerts/rules"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/internal/promtest"
)

const (
	routingKey = "R0UT1NGKEY0000000000000000000000" // a 32-character Events v2 integration key
	sickTown   = "town-02"
	// Bounds of the waits below; the whole test takes well under a minute.
	alertTimeout = 60 * time.Second
)

var towns = []string{"town-01", "town-02", "town-03"}

// e2eThresholds are small enough for simtown's quiet towns (0-3 pending
// events at --speed 10) to stay clear of both queue thresholds.
var e2eThresholds = config.Thresholds{
	WallClockSeconds:   2,
	QueueDepthWarning:  10,
	QueueDepthCritical: 20,
	StaleAfter:         model.Duration(30 * time.Second),
}

// e2eTimeScale turns the rules' minutes into seconds (for: 2m -> 2s).
const e2eTimeScale = 1.0 / 60

type alertingStack struct {
	sim   *promtest.Simtown
	tw    *promtest.TickwatchRun
	prom  *promtest.Prometheus
	am    *promtest.Alertmanager
	pd    *promtest.Receiver[promtest.PagerDutyEvent]
	hook  *promtest.Receiver[promtest.WebhookMessage]
	slack *promtest.Receiver[promtest.SlackMessage]
}

// startAlertmanager runs the generated Alertmanager config with the
// receivers pointed at local servers and second-long group timings.
func startAlertmanager(t *testing.T, s *alertingStack) {
	dir := t.TempDir()
	s.pd = promtest.NewPagerDuty(t, routingKey)
	s.hook = promtest.NewWebhook(t)
	s.slack = promtest.NewSlack(t)
	keyFile := filepath.Join(dir, "pagerduty-routing-key")
	slackFile := filepath.Join(dir, "slack-webhook-url")
	if err := os.WriteFile(keyFile, []byte(routingKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(slackFile, []byte(s.slack.URL+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := rules.DefaultAlertmanagerOptions()
	o.PagerDutyRoutingKeyFile = keyFile
	o.PagerDutyURL = s.pd.URL
	o.WebhookURL = s.hook.URL
	o.SlackAPIURLFile = slackFile
	o.GroupWait, o.GroupInterval = time.Second, time.Second
	amConfig, err := rules.AlertmanagerConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	s.am = promtest.StartAlertmanager(t, amConfig)
}

func startAlertingStack(t *testing.T) *alertingStack {
	return startAlertingStackWith(t, e2eTimeScale, "")
}

// startAlertingStackWith runs the stack with the rules' durations
// multiplied by timeScale and more lines for tickwatch's poll section.
func startAlertingStackWith(t *testing.T, timeScale float64, poll string) *alertingStack {
	s := &alertingStack{}
	s.sim = promtest.StartSimtown(t, "--towns=3", "--seed=7", "--speed=10", "--fault-rate=0", "--side-effect.failure-rate=0")
	s.tw = promtest.StartTickwatchRun(t, fmt.Sprintf(`target:
  url: %s
  towns: [%s]
  timeout: 800ms
poll:
  interval: 1s
  idle_interval: 2s
%sdedupe:
  open_after: 2
  resolve_after: 2
  state_dir: %s
thresholds:
  wall_clock_seconds: %v
  queue_depth_warning: %v
  queue_depth_critical: %v
  stale_after: %s
`, s.sim.URL, strings.Join(towns, ", "), poll, t.TempDir(),
		e2eThresholds.WallClockSeconds, e2eThresholds.QueueDepthWarning, e2eThresholds.QueueDepthCritical, e2eThresholds.StaleAfter))
	startAlertmanager(t, s)
	ruleFile, err := rules.GenerateWith(e2eThresholds, rules.Options{TimeScale: timeScale})
	if err != nil {
		t.Fatal(err)
	}
	s.prom = promtest.StartPrometheus(t, promtest.PrometheusConfig{
		Targets:      []string{s.tw.Addr},
		RuleFiles:    map[string][]byte{rules.RuleFileName: ruleFile},
		Alertmanager: s.am.Addr,
	})
	return s
}

// TestQueueFaultPagesAndResolves is the whole path: simtown keeps one town's
// queue above the critical threshold with invariant #7 broken; tickwatch
// polls it; Prometheus scrapes tickwatch and evaluates the generated rules;
// Alertmanager pages PagerDuty for that town only, sends the violation to
// the webhook and Slack, holds back the queue warning, and resolves the page
// once the town is healed.
func TestQueueFaultPagesAndResolves(t *testing.T) {
	start := time.Now()
	s := startAlertingStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	t.Logf("stack up in %s (simtown %s, tickwatch %s, prometheus %s, alertmanager %s)",
		time.Since(start).Round(time.Millisecond), s.sim.URL, s.tw.URL, s.prom.URL, s.am.URL)

	s.waitAllUp(t, ctx)

	faultAt := time.Now()
	if err := s.sim.SetFault(ctx, sickTown, `{"queue_depth":40,"break_invariant":7}`); err != nil {
		t.Fatal(err)
	}

	// The page: one PagerDuty trigger for the sick town.
	var trigger promtest.PagerDutyEvent
	promtest.Eventually(t, alertTimeout, "the PagerDuty trigger for "+sickTown, func() error {
		for _, e := range s.pd.Received() {
			if e.EventAction == "trigger" {
				trigger = e
				return nil
			}
		}
		return fmt.Errorf("received %d events, no trigger; rejected %v", len(s.pd.Received()), s.pd.Rejected())
	})
	pageAfter := time.Since(faultAt)
	// The rule's `for` (2m scaled to 2s) must have held the page back.
	criticalRule := e2eRule(t, rules.AlertReconcilerQueueDepthCritical)
	if pageAfter < time.Duration(criticalRule.For) {
		t.Errorf("paged %s after the fault, before the rule's for of %s", pageAfter, criticalRule.For)
	}
	summary := regexp.MustCompile(`^\[FIRING\] ReconcilerQueueDepthCritical town town-02: Town town-02 queue depth (\d+) is above 20$`)
	m := summary.FindStringSubmatch(trigger.Payload.Summary)
	if m == nil {
		t.Fatalf("page summary %q does not match %s", trigger.Payload.Summary, summary)
	}
	if depth, _ := strconv.Atoi(m[1]); depth < 40 {
		t.Errorf("page reports queue depth %d, the fault keeps it at 40 or more", depth)
	}
	if trigger.RoutingKey != routingKey || trigger.Payload.Severity != "critical" || trigger.DedupKey == "" || trigger.Client != "Alertmanager" {
		t.Errorf("page routing_key %q severity %q dedup_key %q client %q", trigger.RoutingKey, trigger.Payload.Severity, trigger.DedupKey, trigger.Client)
	}
	details := trigger.Payload.CustomDetails
	wantDetails := map[string]string{
		"town":        sickTown,
		"summary":     "Town town-02 queue depth " + m[1] + " is above 20",
		"description": "Town town-02 has " + m[1] + " pending events in its reconciler queue, above the critical threshold of 20 for more than 2s. Work in this town is piling up faster than the reconciler drains it.",
		"runbook_url": rules.DefaultRunbookURL + "#reconcilerqueuedepthcritical",
		"num_firing":  "1",
	}
	for k, want := range wantDetails {
		if details[k] != want {
			t.Errorf("custom_details[%s] = %q, want %q", k, details[k], want)
		}
	}

	// Prometheus's view of the same alert: labels from the rule and the scrape.
	critical := findAlert(t, ctx, s.prom, rules.AlertReconcilerQueueDepthCritical, sickTown)
	wantLabels := map[string]string{"alertname": rules.AlertReconcilerQueueDepthCritical, "severity": "page",
		"job": "tickwatch", "town": sickTown}
	if !maps.Equal(critical.Labels, wantLabels) {
		t.Errorf("alert labels %v, want %v", critical.Labels, wantLabels)
	}

	// The violation goes to the warnings receiver (webhook and Slack).
	var violation promtest.WebhookMessage
	promtest.Eventually(t, alertTimeout, "the webhook for the broken invariant", func() error {
		for _, msg := range s.hook.Received() {
			if msg.CommonLabels["alertname"] == rules.AlertReconcilerInvariantViolated && msg.Status == "firing" {
				violation = msg
				return nil
			}
		}
		return fmt.Errorf("no firing %s among %d webhook messages", rules.AlertReconcilerInvariantViolated, len(s.hook.Received()))
	})
	if violation.Receiver != rules.ReceiverWarnings || len(violation.Alerts) != 1 {
		t.Fatalf("webhook message to %q with %d alerts", violation.Receiver, len(violation.Alerts))
	}
	va := violation.Alerts[0]
	wantViolation := map[string]string{"alertname": rules.AlertReconcilerInvariantViolated, "severity": "warning",
		"job": "tickwatch", "town": sickTown, "invariant": "7"}
	if !maps.Equal(va.Labels, wantViolation) {
		t.Errorf("violation labels %v, want %v", va.Labels, wantViolation)
	}
	if got, want := va.Annotations["summary"], "Town town-02 violates invariant #7"; got != want {
		t.Errorf("violation summary %q, want %q", got, want)
	}
	if got, want := violation.GroupLabels, map[string]string{"alertname": rules.AlertReconcilerInvariantViolated, "job": "tickwatch", "town": sickTown}; !maps.Equal(got, want) {
		t.Errorf("webhook group labels %v, want %v", got, want)
	}
	promtest.Eventually(t, alertTimeout, "the Slack message for the broken invariant", func() error {
		for _, msg := range s.slack.Received() {
			if len(msg.Attachments) == 1 && msg.Attachments[0].Title == "[FIRING:1] ReconcilerInvariantViolated town town-02" {
				a := msg.Attachments[0]
				if msg.Channel != "#tickwatch-alerts" || a.TitleLink != rules.DefaultRunbookURL+"#reconcilerinvariantviolated" ||
					!strings.HasPrefix(a.Text, "Town town-02 has 1 open violation(s) of reconciler invariant #7 for more than 1s.") {
					return promtest.Permanent(fmt.Errorf("slack message %+v", msg))
				}
				return nil
			}
		}
		return fmt.Errorf("no Slack message for the violation among %d", len(s.slack.Received()))
	})

	// The queue warning fires in Prometheus but Alertmanager holds it back
	// behind the page for the same town.
	promtest.Eventually(t, alertTimeout, "Alertmanager to inhibit the queue warning", func() error {
		alerts, err := s.am.Alerts(ctx)
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if a.Labels["alertname"] == rules.AlertReconcilerQueueDepthHigh && a.Labels["town"] == sickTown {
				if a.Status.State != "suppressed" || len(a.Status.InhibitedBy) != 1 {
					return promtest.Permanent(fmt.Errorf("queue warning is %s, inhibited by %v", a.Status.State, a.Status.InhibitedBy))
				}
				return nil
			}
		}
		return fmt.Errorf("Alertmanager has no %s for %s yet", rules.AlertReconcilerQueueDepthHigh, sickTown)
	})

	// Heal the town: the queue drains, the violation resolves, and after
	// keep_firing_for the page resolves under the same dedup key.
	healAt := time.Now()
	if err := s.sim.Heal(ctx, sickTown); err != nil {
		t.Fatal(err)
	}
	promtest.Eventually(t, alertTimeout, "the PagerDuty resolve", func() error {
		for _, e := range s.pd.Received() {
			if e.EventAction == "resolve" {
				return nil
			}
		}
		return fmt.Errorf("no resolve among %d events", len(s.pd.Received()))
	})
	resolveAfter := time.Since(healAt)
	// keep_firing_for (5m scaled to 5s) holds the page after the queue drains.
	if resolveAfter < time.Duration(criticalRule.KeepFiringFor) {
		t.Errorf("resolved %s after healing, before keep_firing_for of %s", resolveAfter, criticalRule.KeepFiringFor)
	}
	promtest.Eventually(t, alertTimeout, "the webhook resolve of the violation", func() error {
		for _, msg := range s.hook.Received() {
			if msg.CommonLabels["alertname"] == rules.AlertReconcilerInvariantViolated && msg.Status == "resolved" {
				return nil
			}
		}
		return fmt.Errorf("no resolved %s", rules.AlertReconcilerInvariantViolated)
	})

	// Everything PagerDuty got: one trigger and one resolve, for the sick
	// town only, under one dedup key. Nothing paged for the healthy towns.
	var got []string
	for _, e := range s.pd.Received() {
		got = append(got, e.EventAction+" "+e.Payload.CustomDetails["town"]+" "+e.DedupKey)
	}
	want := []string{"trigger town-02 " + trigger.DedupKey, "resolve town-02 " + trigger.DedupKey}
	if !slices.Equal(got, want) {
		t.Errorf("PagerDuty events %q, want %q", got, want)
	}
	for name, bad := range map[string][]string{"pagerduty": s.pd.Rejected(), "webhook": s.hook.Rejected(), "slack": s.slack.Rejected()} {
		if len(bad) != 0 {
			t.Errorf("%s receiver rejected %q", name, bad)
		}
	}
	// The warnings receiver heard about the sick town's violation only: the
	// queue warning stayed inhibited, and no healthy town raised anything.
	for _, msg := range s.hook.Received() {
		if msg.GroupLabels["town"] != sickTown || msg.CommonLabels["alertname"] != rules.AlertReconcilerInvariantViolated {
			t.Errorf("unexpected webhook message %s %v", msg.Status, msg.GroupLabels)
		}
	}
	t.Logf("page %s after the fault, resolve %s after healing; whole test %s",
		pageAfter.Round(time.Millisecond), resolveAfter.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// waitAllUp waits until Prometheus sees every town up, and checks that no
// alert fires before anything breaks.
func (s *alertingStack) waitAllUp(t *testing.T, ctx context.Context) {
	t.Helper()
	promtest.Eventually(t, alertTimeout, "Prometheus to scrape all towns up", func() error {
		v, err := s.prom.Query(ctx, `reconciler_up{job="tickwatch"} == 1`)
		if err != nil {
			return err
		}
		if len(v) != len(towns) {
			return fmt.Errorf("%d towns up, want %d: %v", len(v), len(towns), v)
		}
		return nil
	})
	if firing := firingAlerts(t, ctx, s.prom); len(firing) != 0 {
		t.Fatalf("alerts firing before any fault: %v", firing)
	}
}

// paged lists what PagerDuty received, in order: each event's action and
// its summary up to the alert's own words ("trigger [FIRING] TickwatchDown").
func (s *alertingStack) paged() []string {
	var out []string
	for _, e := range s.pd.Received() {
		out = append(out, e.EventAction+" "+strings.SplitN(e.Payload.Summary, ":", 2)[0])
	}
	return out
}

// TestFleetFailuresNotifyOnce is a worker whose every dry run fails with
// HTTP 500 (as a real Gastown worker's does), which then stops answering, and
// comes back. Each failure is one notification, the fleet's alert, with the
// towns' own alerts held back by Alertmanager (ReconcilerStale's pages among
// them) while they fail and after they recover.
func TestFleetFailuresNotifyOnce(t *testing.T) {
	start := time.Now()
	// The rules' minutes become tenths: the fleet's alerts wait 3s (the
	// 30s stale_after) and 48s, the towns' 12s, 36s (ReconcilerStale)
	// and 60s; the towns' ReconcilerTownDown keeps firing 30s after they
	// recover, the fleet's 36s. Room for a busy machine.
	s := startAlertingStackWith(t, 1.0/10, "  dry_run_interval: 2s\n")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	s.waitAllUp(t, ctx)

	// heldBack waits until Alertmanager holds `active` and, for every town,
	// each of townAlerts, and holds back all but `active`. (What reached
	// the receivers meanwhile is checked at the end.)
	heldBack := func(what string, active []string, townAlerts ...string) {
		t.Helper()
		promtest.Eventually(t, 2*alertTimeout, what, func() error {
			alerts, err := s.am.Alerts(ctx)
			if err != nil {
				return err
			}
			states := map[string]string{}
			for _, a := range alerts {
				states[a.Labels["alertname"]+" "+a.Labels["town"]] = a.Status.State
			}
			for _, name := range active {
				if states[name+" "] != "active" {
					return fmt.Errorf("%s is %q; all: %v", name, states[name+" "], states)
				}
			}
			for _, name := range townAlerts {
				for _, town := range towns {
					if states[name+" "+town] == "" {
						return fmt.Errorf("no %s for %s yet; all: %v", name, town, states)
					}
				}
			}
			for key, state := range states {
				if !slices.Contains(active, strings.TrimSuffix(key, " ")) && state != "suppressed" {
					return fmt.Errorf("%s is %s, not held back; all: %v", key, state, states)
				}
			}
			return nil
		})
	}

	for _, town := range towns {
		if err := s.sim.SetFault(ctx, town, `{"savepoint_refused":true}`); err != nil {
			t.Fatal(err)
		}
	}
	heldBack("the dry runs' fleet alert, and every town's held back", []string{rules.AlertTickwatchDryRunsFailing}, rules.AlertReconcilerDryRunFailing)
	dryRuns := time.Since(start)

	// A worker that stops answering: every poll times out.
	if err := s.sim.Proc.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			s.sim.Proc.Signal(syscall.SIGCONT) // so that it can be stopped
		}
	}()
	// (A town that is down serves its dry run's gauges only from the polls
	// that made one: its ReconcilerDryRunFailing comes and goes.)
	heldBack("the outage's page, and every town's alerts held back", []string{rules.AlertTickwatchTownsDown},
		rules.AlertReconcilerTownDown, rules.AlertReconcilerStale)
	outage := time.Since(start)

	// Back: the fleet's page resolves once the towns' alerts are over.
	if err := s.sim.Proc.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	resolve := "resolve [RESOLVED] " + rules.AlertTickwatchTownsDown
	promtest.Eventually(t, 2*alertTimeout, "the outage's page to resolve", func() error {
		if got := s.paged(); !slices.Contains(got, resolve) {
			return fmt.Errorf("paged %q", got)
		}
		return nil
	})
	v, err := s.prom.Query(ctx, `ALERTS{alertname="`+rules.AlertReconcilerTownDown+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 0 {
		t.Errorf("the fleet's page resolved while the towns' %s still fire: %v", rules.AlertReconcilerTownDown, v)
	}

	if got, want := s.paged(), []string{"trigger [FIRING] " + rules.AlertTickwatchTownsDown, resolve}; !slices.Equal(got, want) {
		t.Errorf("paged %q, want %q", got, want)
	}
	var warned []string
	for _, msg := range s.hook.Received() {
		warned = append(warned, msg.Status+" "+msg.CommonLabels["alertname"])
	}
	if want := []string{"firing " + rules.AlertTickwatchDryRunsFailing}; !slices.Equal(warned, want) {
		t.Errorf("warnings %q, want %q", warned, want)
	}
	t.Logf("dry runs' alert after %s, the outage's page and the towns' alerts held back after %s, resolved after %s",
		dryRuns.Round(time.Millisecond), outage.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}

// TestTickwatchDownInhibitsShardMissing posts alerts to the real
// Alertmanager the way Prometheus does: while TickwatchDown fires for one
// replica of a job, the job's TickwatchShardMissing (the same outage) is held
// back, and a town's page (which names no replica) is not.
func TestTickwatchDownInhibitsShardMissing(t *testing.T) {
	s := &alertingStack{}
	startAlertmanager(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	down := map[string]string{"alertname": rules.AlertTickwatchDown, "cause": "scrape-failed", "severity": "page", "job": "tickwatch", "instance": "tickwatch-0:9917"}
	missing := map[string]string{"alertname": rules.AlertTickwatchShardMissing, "severity": "page", "job": "tickwatch"}
	town := map[string]string{"alertname": rules.AlertReconcilerQueueDepthCritical, "severity": "page", "job": "tickwatch", "town": "town-a"}
	if err := s.am.PostAlerts(ctx, promtest.PostableAlert{Labels: down}); err != nil {
		t.Fatal(err)
	}
	// The inhibiting alert must be known before the ones it inhibits.
	promtest.Eventually(t, alertTimeout, "Alertmanager to hold TickwatchDown", func() error {
		alerts, err := s.am.Alerts(ctx)
		if err != nil || len(alerts) != 1 {
			return fmt.Errorf("%d alerts (%v)", len(alerts), err)
		}
		return nil
	})
	if err := s.am.PostAlerts(ctx, promtest.PostableAlert{Labels: missing}, promtest.PostableAlert{Labels: town}); err != nil {
		t.Fatal(err)
	}
	promtest.Eventually(t, alertTimeout, "two PagerDuty triggers", func() error {
		if n := len(s.pd.Received()); n < 2 {
			return fmt.Errorf("%d events", n)
		}
		return nil
	})
	states := map[string]string{}
	promtest.Eventually(t, alertTimeout, "Alertmanager to settle the inhibition", func() error {
		alerts, err := s.am.Alerts(ctx)
		if err != nil {
			return err
		}
		for _, a := range alerts {
			states[a.Labels["alertname"]] = a.Status.State
		}
		if len(states) != 3 {
			return fmt.Errorf("alert states %v", states)
		}
		return nil
	})
	wantStates := map[string]string{
		rules.AlertTickwatchDown:                "active",
		rules.AlertTickwatchShardMissing:        "suppressed",
		rules.AlertReconcilerQueueDepthCritical: "active",
	}
	if !maps.Equal(states, wantStates) {
		t.Errorf("alert states %v, want %v", states, wantStates)
	}
	paged := s.paged()
	slices.Sort(paged)
	wantPaged := []string{"trigger [FIRING] ReconcilerQueueDepthCritical town town-a", "trigger [FIRING] TickwatchDown"}
	if !slices.Equal(paged, wantPaged) {
		t.Errorf("paged %q, want %q", paged, wantPaged)
	}
}

// TestRulesCommandWritesGeneratedFiles runs `tickwatch rules` into a
// directory that does not exist yet and compares what it writes with the
// package's output for the same thresholds.
func TestRulesCommandWritesGeneratedFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tickwatch.yml")
	if err := os.WriteFile(cfg, []byte("thresholds:\n  queue_depth_critical: 70\n  stale_after: 10m\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	th := config.DefaultThresholds()
	th.QueueDepthCritical = 70
	th.StaleAfter = model.Duration(10 * time.Minute)
	for _, format := range []string{rules.FormatPrometheus, rules.FormatOperator} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(dir, format, "rules")
			p := promtest.Start(t, promtest.Tickwatch(t), "rules", "--config.file="+cfg, "--format="+format, "--out="+out)
			promtest.Eventually(t, 30*time.Second, "tickwatch rules to finish", func() error {
				if done, err := p.Exited(); done {
					if err != nil {
						return promtest.Permanent(fmt.Errorf("tickwatch rules: %v\n%s", err, p.Output()))
					}
					return nil
				}
				return fmt.Errorf("still running")
			})
			want, err := rules.Files(th, rules.Options{}, format)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != len(want) {
				t.Errorf("wrote %d files, want %d", len(entries), len(want))
			}
			for _, f := range want {
				got, err := os.ReadFile(filepath.Join(out, f.Name))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(f.Data) {
					t.Errorf("%s differs from rules.Files", f.Name)
				}
			}
		})
	}
}

// e2eRule is the rule the e2e Prometheus evaluates for an alert.
func e2eRule(t *testing.T, alert string) rules.Rule {
	t.Helper()
	for _, r := range rules.Alerts(e2eThresholds, rules.Options{TimeScale: e2eTimeScale}) {
		if r.Alert == alert {
			return r
		}
	}
	t.Fatalf("no rule %s", alert)
	return rules.Rule{}
}

func firingAlerts(t *testing.T, ctx context.Context, p *promtest.Prometheus) []map[string]string {
	t.Helper()
	alerts, err := p.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]string
	for _, a := range alerts {
		if a.State == "firing" {
			out = append(out, a.Labels)
		}
	}
	return out
}

func findAlert(t *testing.T, ctx context.Context, p *promtest.Prometheus, name, town string) promtest.Alert {
	t.Helper()
	alerts, err := p.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if a.Labels["alertname"] == name && a.Labels["town"] == town && a.State == "firing" {
			return a
		}
	}
	t.Fatalf("Prometheus has no firing %s for %s: %v", name, town, alerts)
	return promtest.Alert{}
}

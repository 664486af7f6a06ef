package sidecar

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/exporter"
	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/gastowntest"
	"github.com/tickwatch/tickwatch/metricnames"
	"github.com/tickwatch/tickwatch/statuspage"
)

type sidecarFixture struct {
	url    string // the fake Gastown's
	fake   *gastowntest.Fake
	sc     *Sidecar
	web    *httptest.Server
	cfg    string
	sentry *sentrytest.Server
}

func writeConfig(t *testing.T, path, url, towns, dsn string) {
	t.Helper()
	yml := "target:\n  url: " + url + "\n  towns: " + towns + "\n  timeout: 100ms\npoll:\n  interval: 200ms\n" +
		"dedupe:\n  open_after: 2\n  resolve_after: 2\n  state_dir: state\n" +
		"sentry:\n  dsn: " + dsn + "\n  max_events_per_second: 100\n"
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newSidecarFixture(t *testing.T) *sidecarFixture {
	t.Helper()
	f := &sidecarFixture{fake: gastowntest.NewFake(), sentry: sentrytest.NewServer()}
	t.Cleanup(f.sentry.Close)
	srv := httptest.NewServer(f.fake)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	f.cfg = filepath.Join(t.TempDir(), "tickwatch.yml")
	writeConfig(t, f.cfg, srv.URL, "[calm, broken]", f.sentry.DSN())
	f.sc = f.restart(t)
	f.web = httptest.NewServer(f.sc.Handler())
	t.Cleanup(f.web.Close)
	f.fake.DryRun["calm"], f.fake.Status["calm"] = gastowntest.Sample(t, "dry-run.json"), gastowntest.Sample(t, "status-after-restart.json")
	f.fake.DryRun["broken"], f.fake.Status["broken"] = gastowntest.Sample(t, "dry-run-with-violations.json"), gastowntest.Sample(t, "status.json")
	return f
}

// restart starts a sidecar on the fixture's config and state (a second one
// as a new process would after the first stopped or died); it is closed
// with the test.
func (f *sidecarFixture) restart(t *testing.T) *Sidecar {
	t.Helper()
	return f.restartAt(t, nil)
}

// restartAt is restart on the clock now (nil: the wall clock).
func (f *sidecarFixture) restartAt(t *testing.T, now func() time.Time) *Sidecar {
	t.Helper()
	cfg, err := config.Load(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := New(cfg, Options{ConfigFile: f.cfg, TelemetryPath: "/metrics", Logger: slog.New(slog.DiscardHandler), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Violations.Tracker.Close(); sc.Violations.Notifier.Close() })
	return sc
}

// failWith500 makes every call to town answer Gastown's 500.
func (f *sidecarFixture) failWith500(t *testing.T, town string) {
	f.fake.Mu.Lock()
	defer f.fake.Mu.Unlock()
	f.fake.Handlers[town] = func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(500)
		w.Write(gastowntest.Sample(t, "error-500.json"))
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSidecarReadyMetricsAndSentry(t *testing.T) {
	f := newSidecarFixture(t)
	if code, _ := get(t, f.web.URL+"/-/ready"); code != 503 {
		t.Errorf("ready before the first tick: %d", code)
	}
	if code, body := get(t, f.web.URL+"/-/healthy"); code != 200 || body != "Healthy\n" {
		t.Errorf("healthy: %d %q", code, body)
	}
	ctx := context.Background()
	f.sc.Poller.Tick(ctx)
	if code, _ := get(t, f.web.URL+"/-/ready"); code != 200 {
		t.Errorf("ready after a tick: %d", code)
	}
	// One observation is below open_after: nothing open, nothing sent.
	if err := f.sc.Violations.Notifier.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := len(f.sentry.Events()); n != 0 {
		t.Fatalf("%d events after one observation", n)
	}
	for i := 0; i < 5; i++ {
		f.sc.Poller.Tick(ctx)
	}
	if err := f.sc.Violations.Notifier.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	evs := f.sentry.Events()
	if len(evs) != 2 {
		t.Fatalf("events = %d, want one per violation", len(evs))
	}
	got := map[string]string{}
	for _, e := range evs {
		got[e.Message] = e.Tags["town"] + "/" + e.Tags["transition"] + "/" + e.Level
	}
	want := map[string]string{
		"Reconciler invariant #7 violated: Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook": "broken/opened/error",
		"Reconciler invariant #3 violated: Rig rig-main has 2 in_progress MR beads (should be at most 1)":  "broken/opened/error",
	}
	for m, w := range want {
		if got[m] != w {
			t.Errorf("event %q: got %q, want %q", m, got[m], w)
		}
	}

	wantMetrics := `
# HELP reconciler_invariant_violations Invariant violations open now, after hysteresis.
# TYPE reconciler_invariant_violations gauge
reconciler_invariant_violations{invariant="3",town="broken"} 1
reconciler_invariant_violations{invariant="7",town="broken"} 1
# HELP tickwatch_violation_transitions_total Violation transitions (opened, resolved, repeated) since start.
# TYPE tickwatch_violation_transitions_total counter
tickwatch_violation_transitions_total{transition="opened"} 2
tickwatch_violation_transitions_total{transition="repeated"} 0
tickwatch_violation_transitions_total{transition="resolved"} 0
# HELP tickwatch_sentry_outbox_events Transitions waiting in the durable outbox for Sentry.
# TYPE tickwatch_sentry_outbox_events gauge
tickwatch_sentry_outbox_events 0
`
	if err := testutil.GatherAndCompare(f.sc.Gatherer, strings.NewReader(wantMetrics),
		metricnames.InvariantViolations, metricnames.ViolationTransitions, metricnames.SentryOutbox); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(f.sc.Gatherer); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}

	// Everything served is in metricnames, with its help text, and
	// everything in it is served.
	mfs, err := f.sc.Gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	served := []string{}
	for _, mf := range mfs {
		if n := mf.GetName(); !strings.HasPrefix(n, "go_") && !strings.HasPrefix(n, "process_") {
			served = append(served, n)
			if mf.GetHelp() != metricnames.Help(n) {
				t.Errorf("%s: HELP %q, metricnames has %q", n, mf.GetHelp(), metricnames.Help(n))
			}
		}
	}
	var names []string // by default, all but what a metrics.* setting turns on
	for _, n := range metricnames.All() {
		if metricnames.Setting(n) == "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if !slices.Equal(served, names) {
		t.Errorf("served families:\n%v\nmetricnames without a setting:\n%v", served, names)
	}

	fleet := fleetJSON(t, f.web.URL)
	if o := fleet.Outbox; o == nil || o.Pending != 0 || o.Sent != 2 {
		t.Errorf("outbox on the status = %+v, want 0 pending, 2 sent", o)
	}
	broken := fleet.town(t, "broken")
	if !slices.ContainsFunc(broken.OpenViolations, func(v string) bool { return strings.HasPrefix(v, "#3 Rig rig-main has 2 in_progress MR beads") }) ||
		broken.OpenViolationCount != 2 || broken.State != "violations" {
		t.Errorf("broken on the status: %+v", broken)
	}
	if calm := fleet.town(t, "calm"); calm.OpenViolationCount != 0 {
		t.Errorf("calm on the status: %+v", calm)
	}
	_, page := get(t, f.web.URL+"/")
	for _, s := range []string{`data-town="broken"`, `data-town="calm"`, `<span class="chip">2 sent</span>`} {
		if !strings.Contains(page, s) {
			t.Errorf("status page lacks %q", s)
		}
	}
}

type fleetView struct{ statuspage.Fleet }

func fleetJSON(t *testing.T, base string) fleetView {
	t.Helper()
	code, body := get(t, base+"/status.json")
	var f fleetView
	if err := json.Unmarshal([]byte(body), &f.Fleet); code != 200 || err != nil {
		t.Fatalf("/status.json: %d %v\n%s", code, err, body)
	}
	return f
}

func (f fleetView) town(t *testing.T, town string) statuspage.TownRow {
	t.Helper()
	for _, r := range f.Towns {
		if r.Town == town {
			return r
		}
	}
	t.Fatalf("/status.json lacks town %q", town)
	return statuspage.TownRow{}
}

func TestReloadRejectsBadConfigAndAppliesGoodOne(t *testing.T) {
	f := newSidecarFixture(t)
	before := f.sc.Poller.Settings()
	os.WriteFile(f.cfg, []byte("poll:\n  intervall: 5s\n"), 0o644)
	resp, err := http.Post(f.web.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), `tickwatch.yml:2: unknown key "intervall" in poll`) {
		t.Errorf("bad reload: %d %s", resp.StatusCode, body)
	}
	if f.sc.Poller.Settings() != before {
		t.Error("a rejected config replaced the running settings")
	}
	started := sample(t, f.sc.Gatherer, metricnames.ReloadSuccessTime, nil)
	if ok := sample(t, f.sc.Gatherer, metricnames.ReloadSuccessful, nil); ok != 0 || started <= 0 {
		t.Errorf("after a rejected reload: successful %v, last success at %v; want 0 and the start", ok, started)
	}

	writeConfig(t, f.cfg, f.url, "[calm]", f.sentry.DSN())
	resp, err = http.Post(f.web.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("good reload: %d", resp.StatusCode)
	}
	if ok, at := sample(t, f.sc.Gatherer, metricnames.ReloadSuccessful, nil), sample(t, f.sc.Gatherer, metricnames.ReloadSuccessTime, nil); ok != 1 || at < started {
		t.Errorf("after a good reload: successful %v, last success at %v (start %v)", ok, at, started)
	}
	if res := f.sc.Poller.Tick(context.Background()); res.Towns != 1 {
		t.Errorf("after reload the tick watched %d towns, want 1", res.Towns)
	}
	if code, _ := get(t, f.web.URL+"/-/reload"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /-/reload = %d", code)
	}
}

// TestReloadSaysWhatRunsOn: a reload whose parts need a restart warns
// against what runs, not against the last reload: the state directory in
// use, and the Sentry the events still go to, which the status pages link.
func TestReloadSaysWhatRunsOn(t *testing.T) {
	f := newSidecarFixture(t)
	var logs bytes.Buffer
	f.sc.logger = slog.New(slog.NewTextHandler(&logs, nil))
	townJSON := func() string {
		_, body := get(t, f.web.URL+"/towns/calm.json")
		return body
	}
	f.sc.Poller.Tick(context.Background())
	sentryLink := `"sentry":"` + f.sentry.URL
	if !strings.Contains(townJSON(), sentryLink) {
		t.Fatalf("no link to %s in the town's JSON before the reloads: %s", f.sentry.URL, townJSON())
	}
	good := func(yml string) {
		t.Helper()
		if err := os.WriteFile(f.cfg, []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := f.sc.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	base, _ := os.ReadFile(f.cfg)
	moved := strings.Replace(string(base), "state_dir: state\n", "state_dir: elsewhere\n", 1)
	warnings := func() int {
		return strings.Count(logs.String(), "dedupe.state_dir changes take effect at the next restart")
	}
	good(moved)
	good(moved + "metrics:\n  alarm_interval: true\n")
	if n := warnings(); n != 2 {
		t.Errorf("%d warnings after two reloads naming another state directory than the one in use, want 2:\n%s", n, logs.String())
	}
	good(string(base))
	if n := warnings(); n != 2 {
		t.Errorf("a reload back to the state directory in use warned too:\n%s", logs.String())
	}
	good(strings.Replace(string(base), "dsn: "+f.sentry.DSN(), `dsn: ""`, 1))
	if !strings.Contains(logs.String(), "switching between log-only mode and Sentry needs a restart") {
		t.Errorf("the refused switch to log-only was not logged:\n%s", logs.String())
	}
	if !strings.Contains(townJSON(), sentryLink) {
		t.Errorf("after a refused switch to log-only, the town's JSON lost its link to the Sentry its events still go to: %s", townJSON())
	}
}

// TestReloadSaysTheCommandLineFixesTheShardCount: a resize in the config
// file does nothing on a replica started with --shard.count, and the log
// says so; a shard index the command line leaves to the file follows it.
func TestReloadSaysTheCommandLineFixesTheShardCount(t *testing.T) {
	f := newSidecarFixture(t)
	var logs bytes.Buffer
	two := 2
	cfg, err := config.Load(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dedupe.StateDir = t.TempDir()
	sc, err := New(cfg, Options{ConfigFile: f.cfg, TelemetryPath: "/metrics", Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Shard: config.ShardOverride{Count: &two, CountFrom: "--shard.count"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Violations.Tracker.Close(); sc.Violations.Notifier.Close() })
	base, _ := os.ReadFile(f.cfg)
	for _, shard := range []string{"shard:\n  index: 1\n  count: 2\n", "shard:\n  index: 1\n  count: 3\n"} {
		if err := os.WriteFile(f.cfg, append(append([]byte{}, base...), shard...), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := sc.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	if got := sc.cfg.Shard; got != (config.Shard{Index: 1, Count: 2}) {
		t.Errorf("running shard %+v, want index 1 from the file and count 2 from the command line", got)
	}
	if n := strings.Count(logs.String(), "shard.count changed in the config file, but --shard.count or TICKWATCH_SHARD_COUNT fixes this replica's"); n != 1 {
		t.Errorf("%d warnings of the overridden count, want 1 (for 2 -> 3; the file's first 2 is what runs):\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "shard.index changed") {
		t.Errorf("warned of an index the command line does not fix:\n%s", logs.String())
	}
}

// TestPromtoolFindsNothingToSay runs the real promtool over a scrape.
func TestPromtoolFindsNothingToSay(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed; `make deps` installs it")
		}
		t.Skip("promtool not installed")
	}
	f := newSidecarFixture(t)
	f.sc.Poller.Tick(context.Background())
	for _, groups := range []config.Metrics{{}, {AgentsByStatus: true, BeadsByStatus: true, SideEffectsByOutcome: true, DryRunDetail: true, AlarmInterval: true}} {
		f.sc.Towns.SetMetrics(groups)
		_, body := get(t, f.web.URL+"/metrics")
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		out, err := cmd.CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("promtool check metrics with %+v: %v\n%s", groups, err, out)
		}
	}
}

// The metrics section applies on reload: a group turned on serves its
// families from the next scrape, turned off it leaves no series behind.
func TestMetricsGroupsApplyOnReload(t *testing.T) {
	f := newSidecarFixture(t)
	f.sc.Poller.Tick(context.Background())
	reload := func(extra string) {
		t.Helper()
		writeConfig(t, f.cfg, f.url, "[calm, broken]", f.sentry.DSN())
		cfg, err := os.OpenFile(f.cfg, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		cfg.WriteString(extra)
		cfg.Close()
		resp, err := http.Post(f.web.URL+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("reload with %q: %d %s", extra, resp.StatusCode, body)
		}
	}
	families := func() map[string]int {
		_, body := get(t, f.web.URL+"/metrics")
		out := map[string]int{}
		for _, line := range strings.Split(body, "\n") {
			if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
				out[strings.Fields(name)[0]]++
			}
		}
		return out
	}
	if got := families(); got[metricnames.Agents] != 0 || got[metricnames.Up] != 1 {
		t.Fatalf("default scrape: %v", got)
	}
	reload("metrics:\n  agents_by_status: true\n  dry_run_detail: true\n")
	got := families()
	for _, name := range []string{metricnames.Agents, metricnames.QueueDepth, metricnames.DryRunDuration, metricnames.Up, "go_goroutines"} {
		if got[name] != 1 {
			t.Errorf("with agents_by_status and dry_run_detail, %s has %d blocks", name, got[name])
		}
	}
	if got[metricnames.Beads] != 0 {
		t.Error("beads served without beads_by_status")
	}
	reload("")
	if got := families(); got[metricnames.Agents] != 0 || got[metricnames.QueueDepth] != 0 {
		t.Errorf("after turning the groups off again: %v", got)
	}
	writeConfig(t, f.cfg, f.url, "[calm, broken]", f.sentry.DSN())
	os.WriteFile(f.cfg, append(must(os.ReadFile(f.cfg)), "metrics:\n  agents: true\n"...), 0o644)
	resp, err := http.Post(f.web.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), `unknown key "agents" in metrics`) {
		t.Errorf("reload with an unknown group: %d %s", resp.StatusCode, body)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// openBroken runs ticks until both violations of the "broken" town are open.
func (f *sidecarFixture) openBroken(t *testing.T) {
	t.Helper()
	for i := 0; i < 3; i++ {
		f.sc.Poller.Tick(context.Background())
	}
	if got := f.sc.Violations.Tracker.OpenCounts()["broken"]; got[3] != 1 || got[7] != 1 {
		t.Fatalf("open violations of broken = %v", got)
	}
}

func TestFailedPollsNeverResolve(t *testing.T) {
	f := newSidecarFixture(t)
	f.openBroken(t)
	f.failWith500(t, "broken")
	for i := 0; i < 10; i++ {
		f.sc.Poller.Tick(context.Background())
	}
	if got := f.sc.Violations.Tracker.OpenCounts()["broken"]; got[3] != 1 || got[7] != 1 {
		t.Errorf("failed polls resolved violations: %v", got)
	}
	if c := f.sc.Violations.Tracker.TransitionCounts(); c["resolved"] != 0 {
		t.Errorf("transitions = %v", c)
	}
	fleet := fleetJSON(t, f.web.URL)
	// Down first, with its reason, and its last dry run's queue depth
	// still shown (the town's state is unknown, not empty).
	if len(fleet.Towns) != 2 || fleet.Towns[0].Town != "broken" {
		t.Fatalf("towns in order: %+v", fleet.Towns)
	}
	broken := fleet.Towns[0]
	if broken.State != "down" || broken.Up || !strings.Contains(broken.Error, `status of town "broken": HTTP 500: Internal server error`) {
		t.Errorf("broken: %+v", broken)
	}
	// calm's status is the after-restart sample: no alarm, no last tick.
	calm := fleet.Towns[1]
	if calm.State != "not_ticking" || calm.QueueDepth == nil || *calm.QueueDepth != 3 {
		t.Errorf("calm: %+v", calm)
	}
	if s := fleet.Summary; s.Towns != 2 || s.Down != 1 || s.NotTicking != 1 || s.WithOpenViolations != 1 || s.OpenViolations != 2 {
		t.Errorf("summary %+v", s)
	}
	_, page := get(t, f.web.URL+"/")
	for _, want := range []string{
		`<tr class="bad" data-town="broken">`,
		`status of town &#34;broken&#34;: HTTP 500: Internal server error`,
		`<span class="badge warn" title="not ticking">not ticking</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}

func TestTownLeavingDropsItsViolations(t *testing.T) {
	f := newSidecarFixture(t)
	f.openBroken(t)
	writeConfig(t, f.cfg, f.url, "[calm]", f.sentry.DSN())
	if err := f.sc.Reload(); err != nil {
		t.Fatal(err)
	}
	f.sc.Poller.Tick(context.Background())
	if n, err := testutil.GatherAndCount(f.sc.Gatherer, metricnames.InvariantViolations); err != nil || n != 0 {
		t.Errorf("%d violation series left for a town no longer watched (%v)", n, err)
	}
	if _, page := get(t, f.web.URL+"/"); strings.Contains(page, "broken") {
		t.Error("status page still lists the town that left")
	}
}

// TestTownRemovedWhileDownIsForgotten restarts the sidecar on the same state
// with a config that no longer names the town with open violations.
func TestTownRemovedWhileDownIsForgotten(t *testing.T) {
	f := newSidecarFixture(t)
	f.openBroken(t)
	if err := errors.Join(f.sc.Violations.Tracker.Close(), f.sc.Violations.Notifier.Close()); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, f.cfg, f.url, "[calm]", f.sentry.DSN())
	cfg, err := config.Load(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := New(cfg, Options{ConfigFile: f.cfg, TelemetryPath: "/metrics"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { sc.Violations.Tracker.Close(); sc.Violations.Notifier.Close() }()
	if got := sc.Violations.Tracker.OpenCounts()["broken"]; got[7] != 1 {
		t.Fatalf("state did not survive the restart: %v", got)
	}
	sc.Poller.Tick(context.Background())
	if got := sc.Violations.Tracker.OpenCounts(); len(got) != 0 {
		t.Errorf("open violations after the first tick: %v", got)
	}
}

func TestReloadKeepsClientAndTownListWhenTargetUnchanged(t *testing.T) {
	f := newSidecarFixture(t)
	before := f.sc.Poller.Settings()
	body, _ := os.ReadFile(f.cfg)
	os.WriteFile(f.cfg, append(body, []byte("shard: {index: 0, count: 1}\n")...), 0o644)
	if err := f.sc.Reload(); err != nil {
		t.Fatal(err)
	}
	after := f.sc.Poller.Settings()
	if after == before || after.Client != before.Client || after.Towns != before.Towns {
		t.Errorf("reload with the same target replaced the client or the town source")
	}
}

func TestTelemetryPathMustNotShadowOtherEndpoints(t *testing.T) {
	for _, path := range []string{"/", "metrics", "/-/ready", "/status.json"} {
		_, err := NewHandler(ServerOptions{TelemetryPath: path})
		want := fmt.Sprintf("--web.telemetry-path %q: want a path such as /metrics, not / or one of tickwatch's own", path)
		if err == nil || err.Error() != want {
			t.Errorf("%q: err = %v", path, err)
		}
	}
}

// TestNotReadySaysTheTownListFails: ticks that cannot read the town list
// are not complete, and /-/ready says why rather than only that.
func TestNotReadySaysTheTownListFails(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "towns.yml")
	s := exporter.Settings{Towns: exporter.NewTownSource(nil, missing, nil), Interval: time.Second, Shard: config.Shard{Count: 1}}
	p := exporter.NewPoller(s, exporter.NewSnapshot(), time.Now, slog.New(slog.DiscardHandler))
	h, err := NewHandler(ServerOptions{TelemetryPath: "/metrics", Poller: p, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ready := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/-/ready", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := ready(); code != 503 || body != "Not ready: no complete tick yet\n" {
		t.Errorf("before a tick: %d %q", code, body)
	}
	p.Tick(context.Background())
	if code, body := ready(); code != 503 || !strings.HasPrefix(body, "Not ready: no tick could read the town list yet: ") || !strings.Contains(body, missing) {
		t.Errorf("after a tick that could not read %s: %d %q", missing, code, body)
	}
	if err := os.WriteFile(missing, []byte("[]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Tick(context.Background())
	if p.ListError() != nil {
		t.Errorf("list error %v after a tick that read the list", p.ListError())
	}
	if code, body := ready(); code != 200 || body != "Ready\n" {
		t.Errorf("after a tick that read the list: %d %q", code, body)
	}
}

// TestRealWorkerShape is a town as the real worker serves it: the dry run
// answers 500 on every call (workerd refuses its SAVEPOINT), the status
// works and carries the reconciler's count. The town is up, its status
// gauges are served, the dry-run failure is counted with its code and shown
// with its reason, violations come from the rows plus an unnamed remainder,
// and nothing resolves because the dry run fails.
func TestRealWorkerShape(t *testing.T) {
	f := newSidecarFixture(t)
	// The reconciler counts 3; the rows name one (#7): two more, unnamed.
	status := bytes.Replace(gastowntest.Sample(t, "status.json"), []byte(`"invariantViolations": 1`), []byte(`"invariantViolations": 3`), 1)
	f.fake.Mu.Lock()
	f.fake.Handlers["broken"] = func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/status") {
			w.Write(status)
			return
		}
		w.WriteHeader(500)
		w.Write(gastowntest.Sample(t, "error-500.json"))
	}
	f.fake.Mu.Unlock()
	for i := 0; i < 10; i++ {
		f.sc.Poller.Tick(context.Background())
	}
	if err := f.sc.Violations.Notifier.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	f.sc.Towns.SetMetrics(config.Metrics{DryRunDetail: true}) // reconciler_queue_depth
	want := `
# HELP reconciler_dry_run_status_code HTTP status of the town's last dry-run answer; 0 when none came (timeout, refused connection).
# TYPE reconciler_dry_run_status_code gauge
reconciler_dry_run_status_code{town="broken"} 500
reconciler_dry_run_status_code{town="calm"} 200
# HELP reconciler_dry_run_up 1 if the last dry-run call to the town succeeded, else 0.
# TYPE reconciler_dry_run_up gauge
reconciler_dry_run_up{town="broken"} 0
reconciler_dry_run_up{town="calm"} 1
# HELP reconciler_invariant_violations Invariant violations open now, after hysteresis.
# TYPE reconciler_invariant_violations gauge
reconciler_invariant_violations{invariant="7",town="broken"} 1
reconciler_invariant_violations{invariant="unnamed",town="broken"} 1
# HELP reconciler_last_tick_invariant_violations Invariant violations the town's last real alarm tick found.
# TYPE reconciler_last_tick_invariant_violations gauge
reconciler_last_tick_invariant_violations{town="broken"} 3
# HELP reconciler_queue_depth Events pending in the town's queue now (dry run eventsDrained).
# TYPE reconciler_queue_depth gauge
reconciler_queue_depth{town="calm"} 3
# HELP reconciler_up 1 if the town's reconciler was readable at the last poll (its status call succeeded), else 0.
# TYPE reconciler_up gauge
reconciler_up{town="broken"} 1
reconciler_up{town="calm"} 1
`
	if err := testutil.GatherAndCompare(f.sc.Gatherer, strings.NewReader(want), metricnames.DryRunStatusCode, metricnames.DryRunUp,
		metricnames.InvariantViolations, metricnames.LastTickViolations, metricnames.QueueDepth, metricnames.Up); err != nil {
		t.Error(err)
	}
	if n := sample(t, f.sc.Gatherer, metricnames.Polls, map[string]string{"call": "dry_run", "result": "error"}); n < 1 {
		t.Errorf("dry-run errors counted: %v", n)
	}
	got := map[string]string{}
	for _, e := range f.sentry.Events() {
		got[e.Message] = e.Tags["invariant"] + "/" + e.Tags["transition"]
	}
	wantEvents := map[string]string{
		"Reconciler invariant #7 violated: Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook":                        "7/opened",
		"Reconciler invariant (unnamed) violated: The reconciler counted 2 invariant violations that the status rows do not name": "unnamed/opened",
	}
	if !maps.Equal(got, wantEvents) {
		t.Errorf("events %v, want %v", got, wantEvents)
	}
	_, page := get(t, f.web.URL+"/")
	if !strings.Contains(page, `dry run: dry run of town &#34;broken&#34;: HTTP 500: Internal server error (on a real Gastown worker`) {
		t.Errorf("status page does not show the dry-run failure with its reason:\n%s", page)
	}
}

// TestNamedViolationsHoldWhileTheDryRunFails: a town whose dry run names
// its violations keeps them open while the dry run fails, though the status
// rows cannot name #3.
func TestNamedViolationsHoldWhileTheDryRunFails(t *testing.T) {
	open, resolved := brokenAfterItsDryRunChanged(t, nil) // 404 from now on; the status still answers
	if open[3] != 1 || open[7] != 1 {
		t.Errorf("a failing dry run resolved what only it names: %v", open)
	}
	if resolved != 0 {
		t.Errorf("%d resolved, want none", resolved)
	}
}

// TestTownWhoseDryRunStopsNamingIsJudgedByItsRows: a dry run that answers
// without a violations list (a worker that no longer names them) hands the
// town back to its status rows: what only the dry run named resolves, what
// the rows show stays open.
func TestTownWhoseDryRunStopsNamingIsJudgedByItsRows(t *testing.T) {
	open, resolved := brokenAfterItsDryRunChanged(t, gastowntest.Sample(t, "dry-run.json")) // no "violations"
	if open[3] != 0 || open[7] != 1 {
		t.Errorf("open violations %v, want #7 (in the rows) only", open)
	}
	if resolved != 1 {
		t.Errorf("%d resolved, want #3", resolved)
	}
}

// brokenAfterItsDryRunChanged opens broken's two violations (#3 named by
// its dry run only, #7 in its rows too), then has its dry run answer
// answer (nil: 404) for six ticks, and returns broken's open violations by
// invariant and the resolves made.
func brokenAfterItsDryRunChanged(t *testing.T, answer []byte) (map[int]int, uint64) {
	t.Helper()
	f := newSidecarFixture(t)
	f.openBroken(t)
	f.fake.Mu.Lock()
	f.fake.DryRun["broken"] = answer
	f.fake.Mu.Unlock()
	for i := 0; i < 6; i++ {
		f.sc.Poller.Tick(context.Background())
	}
	return f.sc.Violations.Tracker.OpenCounts()["broken"], f.sc.Violations.Tracker.TransitionCounts()["resolved"]
}

// TestSavedTransitionsReachTheOutboxAtStart: a process that died after
// saving a tick's transitions and before writing them to the outbox. The
// next start writes them, and sends them once; what the outbox already
// had is not sent again.
func TestSavedTransitionsReachTheOutboxAtStart(t *testing.T) {
	f := newSidecarFixture(t)
	f.openBroken(t)
	if err := f.sc.Violations.Notifier.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := len(f.sentry.Events()); n != 2 {
		t.Fatalf("%d events for broken's two violations", n)
	}
	// The tick that died: its transition is in the saved state only.
	tr := f.sc.Violations.Tracker
	convoy := []gastown.Violation{{Invariant: 5, Message: "Convoy bead b-convoy-0003 is in_progress (should only be open or closed)", Source: gastown.NamedByDryRun}}
	var opened []dedupe.Transition
	for i := 0; i < 3 && len(opened) == 0; i++ {
		opened = tr.Observe("calm", true, convoy)
	}
	if len(opened) != 1 {
		t.Fatalf("calm's violation did not open: %v", opened)
	}
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	f.sc.Violations.Notifier.Close()
	tr.CloseUnsaved()

	sc := f.restart(t)
	if err := sc.Violations.Notifier.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	evs := f.sentry.Events()
	if len(evs) != 3 || evs[2].Tags["town"] != "calm" || evs[2].Tags["invariant"] != "5" {
		var tags []map[string]string
		for _, e := range evs {
			tags = append(tags, e.Tags)
		}
		t.Fatalf("events after the start: %v; want broken's two and calm's", tags)
	}
	ids := map[string]bool{}
	for _, e := range evs {
		ids[e.EventID] = true
	}
	if len(ids) != 3 {
		t.Errorf("%d distinct event ids in 3 events", len(ids))
	}
}

// TestLastSuccessOutlivesARestart: a town that is down when tickwatch
// starts again keeps the last success of the run before (kept in the state
// directory at shutdown), so its age, and ReconcilerStale, go on from it.
func TestLastSuccessOutlivesARestart(t *testing.T) {
	f := newSidecarFixture(t)
	f.sc.Poller.Tick(context.Background())
	before := sample(t, f.sc.Gatherer, metricnames.LastSuccess, map[string]string{"town": "calm"})
	if before <= 0 {
		t.Fatalf("calm's last success %v after a tick", before)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Run stops at once: what it does at shutdown is what this test wants
	if err := f.sc.Run(ctx); err != nil {
		t.Fatal(err)
	}

	f.failWith500(t, "calm")
	sc := f.restart(t)
	sc.Poller.Tick(context.Background())
	if up := sample(t, sc.Gatherer, metricnames.Up, map[string]string{"town": "calm"}); up != 0 {
		t.Fatalf("calm up = %v after the restart, want 0", up)
	}
	if got := sample(t, sc.Gatherer, metricnames.LastSuccess, map[string]string{"town": "calm"}); got != before {
		t.Errorf("calm's last success after the restart: %v, want the previous run's %v", got, before)
	}
	if got := sample(t, sc.Gatherer, metricnames.LastSuccess, map[string]string{"town": "broken"}); got <= before {
		t.Errorf("broken answered after the restart: last success %v, want later than %v", got, before)
	}
}

// TestLastSuccessOutlivesACrash: the last successes are written by the
// ticks too (the first at once, then once a minute), so a process that dies
// without its shutdown leaves them for the next start.
func TestLastSuccessOutlivesACrash(t *testing.T) {
	f := newSidecarFixture(t)
	f.sc.Poller.Tick(context.Background())
	before := sample(t, f.sc.Gatherer, metricnames.LastSuccess, map[string]string{"town": "calm"})
	f.sc.Violations.Tracker.CloseUnsaved() // the crash: no Run, no shutdown
	f.sc.Violations.Notifier.Close()

	f.fake.Mu.Lock()
	f.fake.Handlers["calm"] = func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }
	f.fake.Mu.Unlock()
	sc := f.restart(t)
	sc.Poller.Tick(context.Background())
	if got := sample(t, sc.Gatherer, metricnames.LastSuccess, map[string]string{"town": "calm"}); before <= 0 || got != before {
		t.Errorf("calm's last success after the crash: %v, want the first run's %v", got, before)
	}
}

// TestLastSuccessIsWrittenOnceAMinute: a tick writes the last successes
// when a minute has passed since the last write, not at every tick.
func TestLastSuccessIsWrittenOnceAMinute(t *testing.T) {
	f := newSidecarFixture(t)
	f.sc.Violations.Tracker.Close() // a second process takes the state over
	f.sc.Violations.Notifier.Close()
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	sc := f.restartAt(t, now)
	path := filepath.Join(sc.stateDir, LastSuccessFile)
	written := func() string {
		t.Helper()
		sc.Poller.Tick(context.Background())
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	first := written()
	advance(30 * time.Second)
	if got := written(); got != first {
		t.Errorf("rewritten 30s after the first write:\n%s\nthen\n%s", first, got)
	}
	advance(31 * time.Second)
	if got := written(); got == first {
		t.Errorf("not rewritten 61s after the first write: %s", got)
	}
}

// sample reads one series' value from a gatherer; -1 when it is absent.
func sample(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return -1
}

// TestTownPagesOfAwkwardIds: every watched id has a page and JSON at the
// path the fleet page links to, "/" and dots included, and an id or error
// holding HTML is escaped.
func TestTownPagesOfAwkwardIds(t *testing.T) {
	const html = `<img src=x onerror=alert(1)>`
	f := newSidecarFixture(t)
	ids := []string{"a/b", ".", "..", html, "x.json", "x", "100%"}
	quoted := make([]string, len(ids))
	for i, id := range ids {
		quoted[i] = strconv.Quote(id)
	}
	writeConfig(t, f.cfg, f.url, "["+strings.Join(quoted, ", ")+"]", f.sentry.DSN())
	if err := f.sc.Reload(); err != nil {
		t.Fatal(err)
	}
	f.fake.Mu.Lock()
	f.fake.Handlers[html] = func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(500)
		w.Write([]byte(`{"success":false,"error":"<script>alert(2)</script>"}`))
	}
	f.fake.Mu.Unlock()
	// A tick may run out of time for some towns on a loaded machine: tick
	// until each has been polled once.
	for i := 0; i < 50 && len(f.sc.Snapshot.Towns()) < len(ids); i++ {
		f.sc.Poller.Tick(context.Background())
	}

	for _, id := range ids {
		code, body := get(t, f.web.URL+statuspage.TownJSONPath(id))
		var town statuspage.Town
		if err := json.Unmarshal([]byte(body), &town); code != 200 || err != nil || town.Town != id {
			t.Errorf("%q: JSON at %s: %d %v town %q", id, statuspage.TownJSONPath(id), code, err, town.Town)
		}
		code, page := get(t, f.web.URL+statuspage.TownPath(id))
		if code != 200 || !strings.Contains(page, `<code id="town-id">`+template.HTMLEscapeString(id)+`</code>`) {
			t.Errorf("%q: page at %s: %d", id, statuspage.TownPath(id), code)
		}
	}
	// A ".json" suffix asks for JSON, unless a town has the whole name.
	if _, body := get(t, f.web.URL+"/towns/x.json"); !strings.Contains(body, `<code id="town-id">x.json</code>`) {
		t.Errorf("/towns/x.json is not the page of town x.json")
	}
	if code, body := get(t, f.web.URL+"/towns/a%2Fb.json"); code != 200 || !strings.HasPrefix(body, `{"town":"a/b"`) {
		t.Errorf("/towns/a%%2Fb.json: %d %.80s", code, body)
	}
	for _, path := range []string{"/towns/nope", "/towns/a/b", "/nope"} {
		if code, _ := get(t, f.web.URL+path); code != 404 {
			t.Errorf("%s: %d, want 404", path, code)
		}
	}
	for _, path := range []string{"/", statuspage.TownPath(html)} {
		_, page := get(t, f.web.URL+path)
		if strings.Contains(page, "<img src=x") || strings.Contains(page, "<script>alert") {
			t.Errorf("%s: HTML from a town id or error is not escaped", path)
		}
		if !strings.Contains(page, "&lt;script&gt;alert(2)&lt;/script&gt;") {
			t.Errorf("%s: the error text is not shown", path)
		}
	}
}

func TestWatchedTownsFollowsTheTownList(t *testing.T) {
	f := newSidecarFixture(t)
	var got []int
	path := filepath.Join(t.TempDir(), "tickwatch.yml") // the fixture's sidecar holds its state
	writeConfig(t, path, f.url, "[calm, broken]", f.sentry.DSN())
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := New(cfg, Options{ConfigFile: path, TelemetryPath: "/metrics", WatchedTowns: func(n int) { got = append(got, n) }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { sc.Violations.Tracker.Close(); sc.Violations.Notifier.Close() }()
	sc.Poller.Tick(context.Background())
	writeConfig(t, path, f.url, "[calm]", f.sentry.DSN())
	if err := sc.Reload(); err != nil {
		t.Fatal(err)
	}
	sc.Poller.Tick(context.Background())
	if !slices.Equal(got, []int{2, 1}) {
		t.Errorf("told %v, want [2 1]", got)
	}
}

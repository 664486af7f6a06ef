package sidecar

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/internal/gastowntest"
	"github.com/tickwatch/tickwatch/metricnames"
)

const sentryToken = "sntrys_sidecar-test"

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// newResolvingFixture is the sidecar fixture with a Sentry auth token whose
// scopes are given, and the two link bases configured.
func newResolvingFixture(t *testing.T, scopes ...string) (*sidecarFixture, *lockedBuffer) {
	t.Helper()
	f := &sidecarFixture{fake: gastowntest.NewFake(), sentry: sentrytest.NewServer()}
	t.Cleanup(f.sentry.Close)
	f.sentry.AddToken(sentryToken, scopes...)
	srv := httptest.NewServer(f.fake)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	dir := t.TempDir()
	f.cfg = filepath.Join(dir, "tickwatch.yml")
	if err := os.WriteFile(filepath.Join(dir, "sentry-token"), []byte(sentryToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := "target:\n  url: " + srv.URL + "\n  towns: [calm, broken]\n  timeout: 100ms\npoll:\n  interval: 200ms\n" +
		"dedupe:\n  open_after: 2\n  resolve_after: 2\n  state_dir: state\n" +
		"sentry:\n  dsn: " + f.sentry.DSN() + "\n  max_events_per_second: 100\n" +
		"  auth_token_file: sentry-token\n  organization: " + f.sentry.Org + "\n" +
		"web:\n  external_url: https://tickwatch.example\n  grafana_url: https://grafana.example\n"
	if err := os.WriteFile(f.cfg, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	f.sc, err = New(cfg, Options{ConfigFile: f.cfg, TelemetryPath: "/metrics", Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	f.web = httptest.NewServer(f.sc.Handler())
	t.Cleanup(f.web.Close)
	f.fake.DryRun["calm"], f.fake.Status["calm"] = gastowntest.Sample(t, "dry-run.json"), gastowntest.Sample(t, "status-after-restart.json")
	f.fake.DryRun["broken"], f.fake.Status["broken"] = gastowntest.Sample(t, "dry-run-with-violations.json"), gastowntest.Sample(t, "status.json")
	return f, logs
}

// heal makes the broken town's dry run name no violations.
func (f *sidecarFixture) heal() {
	f.fake.Mu.Lock()
	f.fake.DryRun["broken"] = []byte(`{"actions":[],"metrics":{"actionsEmitted":0,"actionsByType":{},"pendingEventCount":0,"eventsDrained":0},"violations":[]}`)
	f.fake.Mu.Unlock()
}

// TestSentryIssuesFollowTheTown runs the whole path from the fake Gastown to
// Sentry: each opened event carries what the poll saw (recent events, the
// rows it names, the last tick, links), and once the town heals each issue
// is resolved through the API, without a second event.
func TestSentryIssuesFollowTheTown(t *testing.T) {
	f, _ := newResolvingFixture(t, "org:read", "event:write")
	t.Cleanup(func() { f.sc.Violations.Tracker.Close(); f.sc.Violations.Notifier.Close() })
	ctx := context.Background()
	for range 3 {
		f.sc.Poller.Tick(ctx)
	}
	if err := f.sc.Violations.Notifier.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	evs := f.sentry.Events()
	if len(evs) != 2 {
		t.Fatalf("%d events, want the two opened", len(evs))
	}
	byInvariant := map[string]sentrytest.Event{}
	for _, e := range evs {
		byInvariant[e.Tags["invariant"]] = e
	}
	noHook, mrs := byInvariant["7"], byInvariant["3"]
	// From status.json: two recent events, the agent row, the last tick.
	crumbs := string(noHook.Raw)
	first, second := strings.Index(crumbs, "polecat-2 hooked to b-issue-0052"), strings.Index(crumbs, "b-issue-0042: in_progress")
	if first < 0 || second < first {
		t.Errorf("breadcrumbs missing or not oldest first: %s", crumbs)
	}
	wantAgent := map[string]any{"role": "polecat", "status": "working", "hook": nil, "dispatch_attempts": 1.0, "last_activity_at": "2026-11-28T08:59:50.12Z"}
	if got := noHook.Contexts["status_rows"]["agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90"]; !reflect.DeepEqual(got, wantAgent) {
		t.Errorf("agent row %v, want %v", got, wantAgent)
	}
	if got := noHook.Contexts["reconciler"]["wallClockMs"]; got != 41.0 {
		t.Errorf("last tick's wall clock %v, want 41", got)
	}
	if got := noHook.Contexts["links"]["town_page"]; got != "https://tickwatch.example/towns/broken" {
		t.Errorf("town page link %v", got)
	}
	if got, _ := noHook.Contexts["links"]["dashboard"].(string); !strings.HasPrefix(got, "https://grafana.example/d/tickwatch-reconciler?from=") || !strings.HasSuffix(got, "&var-town=broken") {
		t.Errorf("dashboard link %q", got)
	}
	if mrs.Tags["rig"] != "rig-main" || noHook.Tags["rig"] != "" {
		t.Errorf("rig tags %q and %q, want rig-main on #3 only", mrs.Tags["rig"], noHook.Tags["rig"])
	}
	for _, e := range evs {
		if strings.Contains(string(e.Raw), sentryToken) || strings.Contains(string(e.Raw), f.sentry.Key+"@") {
			t.Errorf("event holds a secret: %s", e.Raw)
		}
	}

	f.heal()
	for range 3 {
		f.sc.Poller.Tick(ctx)
	}
	if err := f.sc.Violations.Notifier.Flush(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := len(f.sentry.Events()); n != 2 {
		t.Errorf("%d events after the town healed, want still 2", n)
	}
	for _, is := range f.sentry.Issues() {
		if is.Status != "resolved" || is.Resolves != 1 {
			t.Errorf("issue %v: %+v, want resolved once", is.Fingerprint, is)
		}
	}
	if n := sample(t, f.sc.Gatherer, metricnames.SentryAPIRequests, map[string]string{"call": "resolve", "result": "success"}); n != 2 {
		t.Errorf("resolves counted: %v, want 2", n)
	}
	if n := sample(t, f.sc.Gatherer, metricnames.SentryAPIRequests, map[string]string{"call": "lookup", "result": "success"}); n != 2 {
		t.Errorf("lookups counted: %v, want 2", n)
	}
}

// TestScopelessTokenKeepsTheSidecarRunning: the token may look issues up
// but not resolve them. The running sidecar logs that once, stays healthy,
// and keeps sending the events of new violations.
func TestScopelessTokenKeepsTheSidecarRunning(t *testing.T) {
	f, logs := newResolvingFixture(t, "org:read")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.sc.Run(ctx) }()
	waitUntil(t, "the two opened events", func() bool { return len(f.sentry.Events()) == 2 }, logs)
	f.heal()
	waitUntil(t, "the refused resolve", func() bool { return strings.Contains(logs.String(), "sentry API refused the auth token") }, logs)
	// A new violation still reaches Sentry.
	f.fake.Mu.Lock()
	f.fake.DryRun["broken"] = []byte(`{"actions":[],"metrics":{"actionsEmitted":0,"actionsByType":{},"pendingEventCount":0,"eventsDrained":0},` +
		`"violations":[{"invariant":5,"message":"Convoy bead b-convoy-0003 is in_progress (should only be open or closed)"}]}`)
	f.fake.Mu.Unlock()
	waitUntil(t, "the new violation's event", func() bool { return len(f.sentry.Events()) == 3 }, logs)
	if code, _ := get(t, f.web.URL+"/-/healthy"); code != 200 {
		t.Errorf("healthy: %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if n := strings.Count(logs.String(), "sentry API refused the auth token"); n != 1 {
		t.Errorf("the refusal is logged %d times, want once:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "the resolve event:write") {
		t.Errorf("the log does not say which scope is missing:\n%s", logs.String())
	}
	for _, is := range f.sentry.Issues() {
		if is.Resolves != 0 {
			t.Errorf("issue %+v resolved with a token without the scope", is)
		}
	}
}

// waitUntil polls cond until it holds, with a bound generous enough for a
// loaded machine.
func waitUntil(t *testing.T, what string, cond func() bool, logs *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; log:\n%s", what, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

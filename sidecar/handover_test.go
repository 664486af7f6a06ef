package sidecar

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/exporter"
	"github.com/tickwatch/tickwatch/internal/gastowntest"
	"github.com/tickwatch/tickwatch/metricnames"
)

// TestHandOverWithoutNoise moves a town with open violations from one
// replica to another, as a resize does: the old owner drops it at its next
// tick without a resolve, the new one takes its violations as reported
// (no second opened event), and reports their resolve when they clear.
func TestHandOverWithoutNoise(t *testing.T) {
	fake := gastowntest.NewFake()
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	sentry := sentrytest.NewServer()
	t.Cleanup(sentry.Close)
	fake.DryRun["broken"], fake.Status["broken"] = gastowntest.Sample(t, "dry-run.json"), cleanStatus(t)

	owner := exporter.ShardOf("broken", 2)
	writeConfig := func(path, shard string) {
		yml := fmt.Sprintf("target:\n  url: %s\n  towns: [broken]\n  timeout: 100ms\npoll:\n  interval: 200ms\n%s\n"+
			"dedupe:\n  open_after: 2\n  resolve_after: 2\n  state_dir: state\nsentry:\n  dsn: %s\n  max_events_per_second: 100\n",
			srv.URL, shard, sentry.DSN())
		if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	start := func(shard string) (*Sidecar, string) {
		path := filepath.Join(t.TempDir(), "tickwatch.yml")
		writeConfig(path, shard)
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := New(cfg, Options{ConfigFile: path, TelemetryPath: "/metrics", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sc.Violations.Tracker.Close(); sc.Violations.Notifier.Close() })
		return sc, path
	}
	tick := func(sc *Sidecar, n int) {
		for range n {
			sc.Poller.Tick(context.Background())
		}
		if err := sc.Violations.Notifier.Flush(2 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	events := func() map[string]int {
		out := map[string]int{}
		for _, e := range sentry.Events() {
			out[e.Tags["transition"]+" shard "+e.Tags["shard"]]++
		}
		return out
	}

	// The old owner: one shard of one, so it owns broken. It sees the town
	// clean first, then the violation open (status.json names #7).
	old, oldPath := start("shard: {index: 0, count: 1}")
	tick(old, 1)
	fake.Mu.Lock()
	fake.Status["broken"] = gastowntest.Sample(t, "status.json")
	fake.Mu.Unlock()
	tick(old, 3)
	if got, want := events(), map[string]int{"opened shard 0": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events before the hand-over = %v, want %v", got, want)
	}
	firstID := sentry.Events()[0].EventID

	// Resize to two shards: the old owner becomes the shard that does not
	// own broken.
	writeConfig(oldPath, fmt.Sprintf("shard: {index: %d, count: 2}", 1-owner))
	if err := old.Reload(); err != nil {
		t.Fatal(err)
	}
	tick(old, 1)
	if got := sample(t, old.Gatherer, metricnames.Up, map[string]string{"town": "broken"}); got != -1 {
		t.Errorf("old owner still serves reconciler_up of broken (%v) a tick after the hand-over", got)
	}
	if got := sample(t, old.Gatherer, metricnames.InvariantViolations, map[string]string{"town": "broken"}); got != -1 {
		t.Errorf("old owner still serves the open violation (%v)", got)
	}

	// The new owner starts with no state: the violation is open at once,
	// no second opened event.
	nu, _ := start(fmt.Sprintf("shard: {index: %d, count: 2}", owner))
	tick(nu, 3)
	if got, want := events(), map[string]int{"opened shard 0": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events after the hand-over = %v, want %v: no second opened, no resolve from the old owner", got, want)
	}
	if got := sample(t, nu.Gatherer, metricnames.InvariantViolations, map[string]string{"town": "broken", "invariant": "7"}); got != 1 {
		t.Errorf("new owner serves reconciler_invariant_violations{invariant=7} = %v, want 1", got)
	}
	if got := sample(t, nu.Gatherer, metricnames.ViolationsAdopted, nil); got != 1 {
		t.Errorf("%s = %v, want 1", metricnames.ViolationsAdopted, got)
	}

	// It clears: the new owner reports the resolve, with an id of its own.
	fake.Mu.Lock()
	fake.Status["broken"] = cleanStatus(t)
	fake.Mu.Unlock()
	tick(nu, 3)
	want := map[string]int{"opened shard 0": 1, fmt.Sprintf("resolved shard %d", owner): 1}
	if got := events(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events after the violation cleared = %v, want %v", got, want)
	}
	evs := sentry.Events()
	resolved := evs[len(evs)-1]
	if resolved.EventID == firstID || resolved.Contexts["violation"]["taken_over"] != true {
		t.Errorf("resolve event id %s (opened was %s), taken_over %v", resolved.EventID, firstID, resolved.Contexts["violation"]["taken_over"])
	}
}

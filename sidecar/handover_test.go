package sidecar

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/exporter"
	"github.com/tickwatch/tickwatch/internal/gastowntest"
	"github.com/tickwatch/tickwatch/metricnames"
)

// cleanStatus is the status sample without its violation (#7: a working
// agent without a hook) and with a reconciler count of 0.
func cleanStatus(t *testing.T) []byte {
	clean := gastowntest.Sample(t, "status.json")
	clean = bytes.Replace(clean, []byte(`"invariantViolations": 1`), []byte(`"invariantViolations": 0`), 1)
	return bytes.Replace(clean, []byte(`"status": "working", "current_hook_bead_id": null`), []byte(`"status": "idle", "current_hook_bead_id": null`), 1)
}

// handOverFixture is replicas of one fleet watching one town, which shard
// 1 of 2 owns, and whose status rows name invariant #7 when broken.
type handOverFixture struct {
	t      *testing.T
	town   string
	fake   *gastowntest.Fake
	url    string
	sentry *sentrytest.Server
}

func newHandOverFixture(t *testing.T) *handOverFixture {
	f := &handOverFixture{t: t, fake: gastowntest.NewFake(), sentry: sentrytest.NewServer()}
	for i := 0; f.town == ""; i++ {
		if id := fmt.Sprintf("town-%d", i); exporter.ShardOf(id, 2) == 1 {
			f.town = id
		}
	}
	srv := httptest.NewServer(f.fake)
	t.Cleanup(srv.Close)
	t.Cleanup(f.sentry.Close)
	f.url = srv.URL
	f.fake.DryRun[f.town], f.fake.Status[f.town] = gastowntest.Sample(t, "dry-run.json"), cleanStatus(t)
	return f
}

func (f *handOverFixture) setBroken(broken bool) {
	st := cleanStatus(f.t)
	if broken {
		st = gastowntest.Sample(f.t, "status.json")
	}
	f.fake.Mu.Lock()
	f.fake.Status[f.town] = st
	f.fake.Mu.Unlock()
}

func (f *handOverFixture) config(shard config.Shard, stateDir string) string {
	return fmt.Sprintf("target:\n  url: %s\n  towns: [%s]\n  timeout: 100ms\npoll:\n  interval: 200ms\nshard: {index: %d, count: %d}\n"+
		"dedupe:\n  open_after: 2\n  resolve_after: 2\n  state_dir: %s\nsentry:\n  dsn: %s\n  max_events_per_second: 100\n",
		f.url, f.town, shard.Index, shard.Count, stateDir, f.sentry.DSN())
}

// replica starts a sidecar as shard sh with its own config file and state.
func (f *handOverFixture) replica(sh config.Shard) (*Sidecar, string) {
	t := f.t
	dir := t.TempDir()
	path := filepath.Join(dir, "tickwatch.yml")
	if err := os.WriteFile(path, []byte(f.config(sh, filepath.Join(dir, "state"))), 0o644); err != nil {
		t.Fatal(err)
	}
	sc := f.restart(path, sh)
	t.Cleanup(func() { sc.Violations.Tracker.Close(); sc.Violations.Notifier.Close() })
	return sc, path
}

// restart starts a sidecar again on a replica's config file and state, as
// shard sh (set in its environment); the caller closes it.
func (f *handOverFixture) restart(path string, sh config.Shard) *Sidecar {
	f.t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		f.t.Fatal(err)
	}
	cfg.Shard = sh
	sc, err := New(cfg, Options{ConfigFile: path, TelemetryPath: "/metrics", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.t.Fatal(err)
	}
	return sc
}

func (f *handOverFixture) reload(sc *Sidecar, path string, sh config.Shard) {
	f.t.Helper()
	if err := os.WriteFile(path, []byte(f.config(sh, filepath.Join(filepath.Dir(path), "state"))), 0o644); err != nil {
		f.t.Fatal(err)
	}
	if err := sc.Reload(); err != nil {
		f.t.Fatal(err)
	}
}

func (f *handOverFixture) tick(sc *Sidecar, n int) {
	f.t.Helper()
	for range n {
		sc.Poller.Tick(context.Background())
	}
	if err := sc.Violations.Notifier.Flush(10 * time.Second); err != nil {
		f.t.Fatal(err)
	}
}

// events lists what Sentry heard as "transition shard N".
func (f *handOverFixture) events() string {
	var out []string
	for _, e := range f.sentry.Events() {
		out = append(out, e.Tags["transition"]+" shard "+e.Tags["shard"])
	}
	return strings.Join(out, ", ")
}

// TestHandOverWithoutNoise moves a town with an open violation between
// running replicas, as a resize does: the old owner drops it at its next
// tick without a resolve, the replica that gains it takes its violation as
// reported (no second opened event), and reports the resolve when it clears.
func TestHandOverWithoutNoise(t *testing.T) {
	f := newHandOverFixture(t)
	old, oldPath := f.replica(config.Shard{Index: 1, Count: 2}) // owns the town
	gains, gainsPath := f.replica(config.Shard{Index: 0, Count: 2})
	f.tick(old, 1)
	f.tick(gains, 1)
	f.setBroken(true)
	f.tick(old, 3)
	f.tick(gains, 3)
	if got, want := f.events(), "opened shard 1"; got != want {
		t.Fatalf("events before the hand-over: %s, want %s", got, want)
	}
	firstID := f.sentry.Events()[0].EventID

	// The old owner stops owning the town: it drops its series at its next
	// tick and sends no resolve.
	f.reload(old, oldPath, config.Shard{Index: 0, Count: 2})
	f.tick(old, 1)
	if got := sample(t, old.Gatherer, metricnames.Up, map[string]string{"town": f.town}); got != -1 {
		t.Errorf("old owner still serves reconciler_up of the town (%v) a tick after the hand-over", got)
	}
	if got := sample(t, old.Gatherer, metricnames.InvariantViolations, map[string]string{"town": f.town}); got != -1 {
		t.Errorf("old owner still serves the open violation (%v)", got)
	}
	// The fleet shrinks to one shard: shard 0 gains the town and takes its
	// violation as reported.
	f.reload(gains, gainsPath, config.Shard{Index: 0, Count: 1})
	f.tick(gains, 3)
	if got, want := f.events(), "opened shard 1"; got != want {
		t.Fatalf("events after the hand-over: %s, want %s: no second opened, no resolve from the old owner", got, want)
	}
	if got := sample(t, gains.Gatherer, metricnames.InvariantViolations, map[string]string{"town": f.town, "invariant": "7"}); got != 1 {
		t.Errorf("the new owner serves reconciler_invariant_violations{invariant=7} = %v, want 1", got)
	}
	if got := sample(t, gains.Gatherer, metricnames.ViolationsAdopted, nil); got != 1 {
		t.Errorf("%s = %v, want 1", metricnames.ViolationsAdopted, got)
	}

	// It clears: the new owner reports the resolve, with an id of its own.
	f.setBroken(false)
	f.tick(gains, 3)
	if got, want := f.events(), "opened shard 1, resolved shard 0"; got != want {
		t.Fatalf("events after the violation cleared: %s, want %s", got, want)
	}
	evs := f.sentry.Events()
	resolved := evs[len(evs)-1]
	if resolved.EventID == firstID || resolved.Contexts["violation"]["taken_over"] != true {
		t.Errorf("resolve event id %s (opened was %s), taken_over %v", resolved.EventID, firstID, resolved.Contexts["violation"]["taken_over"])
	}
}

// TestShardRecordHandsOverAcrossARestart: a replica restarted with another
// shard (a count set in its environment) knows from its state directory
// which towns it gained; one on a fresh state directory (a first
// deployment, or a pod added by a resize) reports what it finds.
func TestShardRecordHandsOverAcrossARestart(t *testing.T) {
	f := newHandOverFixture(t)
	f.setBroken(true)
	sc, path := f.replica(config.Shard{Index: 0, Count: 2}) // does not own the town
	f.tick(sc, 1)
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(path), "state", ShardFile)); err != nil || string(b) != "0/2\n" {
		t.Fatalf("shard record %q (%v)", b, err)
	}
	sc.Violations.Tracker.Close()
	sc.Violations.Notifier.Close()

	// Restart as the only shard: the town is gained, taken over silently.
	restarted := f.restart(path, config.Shard{Index: 0, Count: 1})
	t.Cleanup(func() { restarted.Violations.Tracker.Close(); restarted.Violations.Notifier.Close() })
	f.tick(restarted, 3)
	if got := f.events(); got != "" {
		t.Errorf("events after a restart that gained the town: %s, want none", got)
	}

	// A fresh replica that owns it reports it: it cannot know that another
	// replica did (see "Sharding" in the README).
	fresh, _ := f.replica(config.Shard{Index: 0, Count: 1})
	f.tick(fresh, 3)
	if got := f.events(); got != "opened shard 0" {
		t.Errorf("events of a fresh replica: %s, want opened shard 0", got)
	}
}

// TestHandOverSurvivesARestartBeforeItsFirstPoll: the shard record waits
// for the towns a replica gained. A restart before their first poll still
// hands them over (their open violations are not reported again); once they
// were polled, the record holds the new shard.
func TestHandOverSurvivesARestartBeforeItsFirstPoll(t *testing.T) {
	f := newHandOverFixture(t)
	f.setBroken(true)
	sc, path := f.replica(config.Shard{Index: 0, Count: 2}) // does not own the town
	f.tick(sc, 1)
	sc.Violations.Tracker.Close()
	sc.Violations.Notifier.Close()
	record := func() string {
		b, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "state", ShardFile))
		return string(b)
	}
	start := func() *Sidecar { return f.restart(path, config.Shard{Index: 0, Count: 1}) }

	first := start() // as the only shard, and gone before its first tick
	first.Violations.Tracker.Close()
	first.Violations.Notifier.Close()
	if got := record(); got != "0/2\n" {
		t.Fatalf("shard record %q before the gained town was polled, want the old shard", got)
	}
	second := start()
	t.Cleanup(func() { second.Violations.Tracker.Close(); second.Violations.Notifier.Close() })
	f.tick(second, 3)
	if got := f.events(); got != "" {
		t.Errorf("events after the second start: %q, want none: the town's violation was reported by its old owner", got)
	}
	if got := record(); got != "0/1\n" {
		t.Errorf("shard record %q after the gained town was polled, want 0/1", got)
	}
}

package sidecar

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/internal/gastowntest"
)

// dryRunTown is one town of dryRunWorker: its answers, and the calls it got.
type dryRunTown struct {
	status     []byte
	dryRun     []byte
	dryRunCode int // 0: 200
	calls      []string
}

// dryRunWorker serves towns whose answers a test changes between ticks.
type dryRunWorker struct {
	mu    sync.Mutex
	towns map[string]*dryRunTown
}

func (w *dryRunWorker) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/debug/towns/"), "/")
	w.mu.Lock()
	t := w.towns[parts[0]]
	if t == nil || len(parts) != 2 {
		w.mu.Unlock()
		http.NotFound(rw, r)
		return
	}
	body, code := t.status, 0
	if parts[1] == "reconcile-dry-run" {
		body, code = t.dryRun, t.dryRunCode
		t.calls = append(t.calls, "dry_run")
	} else {
		t.calls = append(t.calls, "status")
	}
	w.mu.Unlock()
	if code != 0 {
		rw.WriteHeader(code)
	}
	rw.Write(body)
}

func (w *dryRunWorker) set(town string, f func(*dryRunTown)) {
	w.mu.Lock()
	f(w.towns[town])
	w.mu.Unlock()
}

// madeDryRun reports whether the town got a dry run since the last call.
func (w *dryRunWorker) madeDryRun(town string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	made := slices.Contains(w.towns[town].calls, "dry_run")
	w.towns[town].calls = nil
	return made
}

// quietStatus is the status sample with nothing left pending by the last
// tick and the reconciler's invariant count set. Its rows show invariant #7
// (a working agent without a hook).
func quietStatus(t *testing.T, counted int) []byte {
	t.Helper()
	var st map[string]any
	if err := json.Unmarshal(gastowntest.Sample(t, "status.json"), &st); err != nil {
		t.Fatal(err)
	}
	r := st["alarmStatus"].(map[string]any)["reconciler"].(map[string]any)
	r["pendingEventCount"], r["invariantViolations"] = 0, counted
	b, _ := json.Marshal(st)
	return b
}

const (
	namesNone = `{"actions":[],"metrics":{"actionsByType":{},"pendingEventCount":0,"eventsDrained":0},"violations":[]}`
	namesOne  = `{"actions":[],"metrics":{"actionsByType":{},"pendingEventCount":0,"eventsDrained":0},"violations":[{"invariant":5,"message":"Convoy b-convoy-0003 is in_progress"}]}`
)

// TestViolationsNamedByTheDryRunGetItsLook runs a sidecar on an injected
// clock, 5 s a tick, with poll.dry_run_interval 60s, and records which ticks
// made a dry run:
//   - "named": its dry run names its violations. Quiet, it gets one every 12
//     ticks; once a dry run names a violation, one on every tick until it has
//     resolved (open_after 2, resolve_after 3). While its dry run fails and
//     backs off, the polls without one leave the violation open.
//   - "counted": its dry run names violations and its last tick counted one:
//     a dry run on every tick.
//   - "rows": its dry run names nothing (the real worker's); its violation is
//     derived from the status rows on every poll, so it needs no dry run
//     beyond the interval.
func TestViolationsNamedByTheDryRunGetItsLook(t *testing.T) {
	w := &dryRunWorker{towns: map[string]*dryRunTown{
		"named":   {status: quietStatus(t, 0), dryRun: []byte(namesNone)},
		"counted": {status: quietStatus(t, 1), dryRun: []byte(namesOne)},
		"rows":    {status: quietStatus(t, 1), dryRun: gastowntest.Sample(t, "dry-run-idle.json")},
	}}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "tickwatch.yml")
	yml := "target:\n  url: " + srv.URL + "\n  towns: [named, counted, rows]\n  timeout: 4s\n" +
		"poll:\n  interval: 5s\n  dry_run_interval: 60s\n" +
		"dedupe:\n  open_after: 2\n  resolve_after: 3\n  state_dir: state\n"
	if err := os.WriteFile(cfgFile, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	now := start
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	sc, err := New(cfg, Options{ConfigFile: cfgFile, TelemetryPath: "/metrics", Logger: slog.New(slog.DiscardHandler), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Violations.Tracker.Close(); sc.Violations.Notifier.Close() })

	open := func(town string) int { return len(sc.Violations.Tracker.OpenViolations(town)) }
	dryRuns := map[string][]int{}
	for i := range 40 {
		mu.Lock()
		now = start.Add(time.Duration(i) * 5 * time.Second)
		mu.Unlock()
		sc.Poller.Tick(context.Background())
		for town := range w.towns {
			if w.madeDryRun(town) {
				dryRuns[town] = append(dryRuns[town], i)
			}
		}
		switch i {
		case 5: // the worker now has a violation; the status does not count it yet
			w.set("named", func(d *dryRunTown) { d.dryRun = []byte(namesOne) })
		case 16: // the dry run breaks: 500 on every call
			w.set("named", func(d *dryRunTown) { d.dryRun, d.dryRunCode = gastowntest.Sample(t, "error-500.json"), 500 })
		case 23: // it answers again, and the violation is gone
			w.set("named", func(d *dryRunTown) { d.dryRun, d.dryRunCode = []byte(namesNone), 0 })
		}
		wantOpen := 0
		if i >= 13 && i < 26 { // opened by tick 13's dry run; resolved by the third absence, tick 26's
			wantOpen = 1
		}
		if got := open("named"); got != wantOpen {
			t.Errorf("tick %d: named town has %d violations open, want %d", i, got, wantOpen)
		}
		if i >= 1 && (open("counted") != 1 || open("rows") != 1) {
			t.Errorf("tick %d: open violations counted %d, rows %d; want 1 each", i, open("counted"), open("rows"))
		}
	}
	want := map[string][]int{
		// 12: the interval; 13-16: pending, then open; 17, 18, 20: the
		// 500s, backing off after the second; 24-26: three absences;
		// then quiet again, next at 26+12.
		"named":   {0, 12, 13, 14, 15, 16, 17, 18, 20, 24, 25, 26, 38},
		"counted": ticksFrom(0, 40),
		"rows":    {0, 12, 24, 36},
	}
	for town, wt := range want {
		if !slices.Equal(dryRuns[town], wt) {
			t.Errorf("%s: dry runs at ticks %v, want %v", town, dryRuns[town], wt)
		}
	}

	// A reload ends a back-off: "counted" answers 500 from tick 40, is
	// tried at 40, 41, 43 and 47, then not before 55; after a reload, at 48.
	w.set("counted", func(d *dryRunTown) { d.dryRun, d.dryRunCode = gastowntest.Sample(t, "error-500.json"), 500 })
	var failing []int
	for i := 40; i < 50; i++ {
		if i == 48 {
			if err := sc.Reload(); err != nil {
				t.Fatal(err)
			}
		}
		mu.Lock()
		now = start.Add(time.Duration(i) * 5 * time.Second)
		mu.Unlock()
		sc.Poller.Tick(context.Background())
		if w.madeDryRun("counted") {
			failing = append(failing, i)
		}
	}
	if wt := []int{40, 41, 43, 47, 48, 49}; !slices.Equal(failing, wt) {
		t.Errorf("counted, its dry run failing, reloaded before tick 48: dry runs at ticks %v, want %v", failing, wt)
	}
}

func ticksFrom(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// Package conformance runs tickwatch against the real Gastown worker
// (wrangler dev --local, Durable Objects on SQLite), which simtown only
// models: the worker's own answers are the reference for every gauge.
package conformance

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/promtest"
)

func TestMain(m *testing.M) { os.Exit(promtest.Main(m)) }

const (
	neverCreated = "00000000-0000-4000-8000-00000000dead" // a well-formed id nobody created
	wrongFormat  = "not a uuid!"
	observeFor   = 62 * time.Second // more than ten real 5 s ticks
)

// TestRealWorker walks tickwatch through the real worker's life: the real
// code (every dry run answers 500), a persistent violation, a resolve made
// through the worker's API, a restart, and the patched variant whose dry run
// works. The steps share one worker and one tickwatch, in order.
func TestRealWorker(t *testing.T) {
	w := newWorker(t)
	w.start(t, "real", true)
	busy := w.seed(t, "invariants") // #5 (derivable) and #3 (not: no rig_id), counted 2
	basic := w.seed(t, "basic")
	created := []string{busy, basic}

	proxy := newCountingProxy(t, w.URL)
	sentry := sentrytest.NewServer()
	t.Cleanup(sentry.Close)
	towns := []string{busy, basic, neverCreated, wrongFormat}
	cfg := fmt.Sprintf(`target:
  url: %s
  towns: [%q, %q, %q, %q]
  timeout: 4s
poll:
  interval: 5s
  idle_interval: 60s
dedupe:
  open_after: 2
  resolve_after: 3
  state_dir: %s
sentry:
  dsn: %s
  max_events_per_second: 50
metrics: # every value the worker reports is compared, the optional ones too
  side_effects_by_outcome: true
  dry_run_detail: true
`, proxy.URL, towns[0], towns[1], towns[2], towns[3], filepath.Join(t.TempDir(), "state"), sentry.DSN())
	tw := promtest.StartTickwatchRun(t, cfg)

	// Real code: sample for more than ten ticks.
	obs := observeTicks(t, w, tw.URL, proxy, created, observeFor)
	for _, town := range created {
		o := obs[town]
		t.Logf("town %s: %d real ticks seen, %d compared, %d equal; %d status calls (%.2f per real tick)",
			town[:8], o.ticks, o.compared, o.equal, o.polls, float64(o.polls)/float64(max(1, o.ticks)))
		if o.compared < 5 || o.equal < o.compared-1 { // the first tick may be read before tickwatch's first poll
			t.Errorf("town %s: tickwatch's gauges equal the worker's status on %d of %d ticks compared:\n%s",
				town, o.equal, o.compared, strings.Join(o.diffs, "\n"))
		}
		if perTick := float64(o.polls) / float64(o.ticks); o.ticks < 2 || perTick < 0.75 || perTick > 1.25 {
			t.Errorf("town %s: %d status calls for %d real ticks, want one each", town, o.polls, o.ticks)
		}
	}
	// The seeded towns leave nothing pending and their dry run names nothing
	// (and answers 500): a dry run on the first poll, then one a
	// poll.dry_run_interval (60s), not one a tick like the status call.
	for _, town := range created {
		if n, polls := proxy.count(town, "reconcile-dry-run"), obs[town].polls; n < 1 || n > 3 || polls < 10 {
			t.Errorf("town %s: %d dry runs and %d status calls in %s, want 1 to 3 dry runs and a status call each tick", town, n, polls, observeFor)
		}
	}
	m, err := scrape(tw.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, town := range towns {
		// Every town answers its status: up, though the dry run fails.
		for _, e := range []error{
			expect(m, key("reconciler_up", "town="+town), 1),
			expect(m, key("reconciler_dry_run_up", "town="+town), 0),
			expect(m, key("reconciler_dry_run_status_code", "town="+town), 500),
		} {
			if e != nil {
				t.Error(e)
			}
		}
		ticking := 1.0
		if town == neverCreated || town == wrongFormat {
			ticking = 0 // answers, never ticks
		}
		if e := expect(m, key("reconciler_ticking", "town="+town), ticking); e != nil {
			t.Error(e)
		}
	}
	if n := m[key("tickwatch_polls_total", "call=dry_run", "result=error")]; n < float64(len(towns)) {
		t.Errorf("dry-run failures counted: %g", n)
	}

	// One event per violation: #5 derived from the rows, the rest of the
	// reconciler's count (#3 here) as the unnamed remainder.
	remainder := "Reconciler invariant (unnamed) violated: The reconciler counted 1 invariant violations that the status rows do not name"
	opened := eventsOf(sentry, busy)
	convoy := convoyOf(t, w, busy)
	want := []string{
		"opened Reconciler invariant #5 violated: " + fmt.Sprintf(gastown.MsgConvoyInProgress, convoy),
		"opened " + remainder,
	}
	if !equalSorted(opened, want) {
		t.Errorf("events after %s of real ticks:\n got %q\nwant %q", observeFor, opened, want)
	}
	// The #5 event describes the convoy as the worker's status showed it,
	// with the town's recent events as breadcrumbs and its last tick.
	for _, e := range sentry.Events() {
		if e.Tags["town"] != busy || e.Tags["invariant"] != "5" {
			continue
		}
		row, _ := e.Contexts["status_rows"]["bead "+convoy].(map[string]any)
		if row["type"] != "convoy" || row["status"] != "in_progress" {
			t.Errorf("#5 event: convoy row %v, want the convoy in_progress", row)
		}
		if _, ok := e.Contexts["reconciler"]["wallClockMs"]; !ok {
			t.Errorf("#5 event: no last tick: %v", e.Contexts["reconciler"])
		}
		if !strings.Contains(string(e.Raw), `"breadcrumbs":[{`) {
			t.Errorf("#5 event without the town's recent events: %s", e.Raw)
		}
	}
	for _, town := range []string{basic, neverCreated, wrongFormat} {
		if evs := eventsOf(sentry, town); len(evs) > 0 {
			t.Errorf("town %s: unexpected events %q", town, evs)
		}
	}

	// The convoy closes through the worker's API: #5 resolves, once.
	w.setBeadStatus(t, busy, "rig-b", convoy, "closed")
	resolved := "resolved Reconciler invariant #5 resolved: " + fmt.Sprintf(gastown.MsgConvoyInProgress, convoy)
	if err := within(60*time.Second, func() error {
		if evs := eventsOf(sentry, busy); !contains(evs, resolved) {
			return fmt.Errorf("events %q", evs)
		}
		return nil
	}); err != nil {
		t.Errorf("no resolve for #5 after the convoy closed: %v", err)
	}

	// tickwatch replay on the real code: the 500 is explained.
	from, to := time.Now().Add(-time.Hour).Format(time.RFC3339), time.Now().Add(time.Minute).Format(time.RFC3339)
	_, stderr, code := promtest.Run(t, 30*time.Second, "", promtest.Tickwatch(t), "replay", "--target.url", w.URL, "--town", busy, "--from", from, "--to", to)
	if code != 1 || !strings.Contains(stderr, "HTTP 500") || !strings.Contains(stderr, "SAVEPOINT") {
		t.Errorf("replay on the real code: exit %d, stderr %q", code, stderr)
	}

	// A restart: the towns go down and come back; nothing resolves while
	// they are down, and nothing is sent twice.
	before := len(sentry.Events())
	w.stop()
	if err := within(30*time.Second, func() error {
		m, err := scrape(tw.URL)
		if err != nil {
			return err
		}
		return expect(m, key("reconciler_up", "town="+busy), 0)
	}); err != nil {
		t.Fatalf("tickwatch did not see the worker stop: %v", err)
	}
	w.start(t, "patched", false)
	if err := within(60*time.Second, func() error {
		m, err := scrape(tw.URL)
		if err != nil {
			return err
		}
		for _, town := range created {
			if err := expect(m, key("reconciler_dry_run_up", "town="+town), 1); err != nil {
				return err
			}
			if err := expect(m, key("reconciler_up", "town="+town), 1); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("towns did not come back with a working dry run: %v", err)
	}

	// Patched: the dry-run gauges equal a direct dry run.
	for _, town := range created {
		var last string
		if err := within(30*time.Second, func() error {
			last = compareDryRun(w, tw.URL, town)
			if last != "" {
				return fmt.Errorf("%s", last)
			}
			return nil
		}); err != nil {
			t.Errorf("town %s: dry-run gauges never equalled a direct dry run: %v", town, err)
		}
	}
	stdout, stderr, code := promtest.Run(t, 30*time.Second, "", promtest.Tickwatch(t), "replay", "--target.url", w.URL, "--town", busy, "--from", from, "--to", to)
	if code != 0 || !strings.Contains(stdout, "events replayed") {
		t.Errorf("replay on the patched worker: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// Over the whole run: no id twice, nothing resolved but #5, no second
	// event for the remainder that stayed open through the restart.
	ids := map[string]int{}
	for _, e := range sentry.Events() {
		ids[e.EventID]++
		if ids[e.EventID] > 1 {
			t.Errorf("event %s sent twice: %s", e.EventID, e.Message)
		}
	}
	if after := eventsOf(sentry, busy); !equalSorted(after, append(want, resolved)) {
		t.Errorf("events over the run, %d before the restart:\n got %q\nwant %q", before, after, append(want, resolved))
	}
}

// tickObservation is what observeTicks saw of one town.
type tickObservation struct {
	ticks, compared, equal, polls int
	diffs                         []string
}

// observeTicks samples the worker's own status and tickwatch's gauges
// until d has passed. A sample compares the two when both describe the same
// real tick (the same armed alarm) and tickwatch did not poll in between.
func observeTicks(t *testing.T, w *worker, base string, proxy *countingProxy, towns []string, d time.Duration) map[string]*tickObservation {
	t.Helper()
	out := map[string]*tickObservation{}
	seen := map[string]map[time.Time]bool{}    // town -> real ticks (armed alarms) seen
	verdict := map[string]map[time.Time]bool{} // town -> tick -> all comparisons equal
	startPolls := map[string]int{}
	for _, town := range towns {
		out[town], seen[town], verdict[town] = &tickObservation{}, map[time.Time]bool{}, map[time.Time]bool{}
		startPolls[town] = proxy.count(town, "status")
	}
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(700 * time.Millisecond) {
		before, err1 := statusJSON(base)
		m, err2 := scrape(base)
		after, err3 := statusJSON(base)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("reading tickwatch: %v %v %v", err1, err2, err3)
		}
		for _, town := range towns {
			st, err := w.status(town)
			if err != nil {
				t.Fatalf("the worker's own status: %v", err)
			}
			next := st.AlarmStatus.Alarm.NextFireAt
			if next == nil {
				continue
			}
			seen[town][*next] = true
			b, a := before[town], after[town]
			if !b.LastPoll.Equal(a.LastPoll) || a.NextFireAt == nil || !a.NextFireAt.Equal(*next) {
				continue // tickwatch polled meanwhile, or read another tick
			}
			diff := compareLastTick(m, town, st.AlarmStatus.Reconciler)
			ok, known := verdict[town][*next]
			verdict[town][*next] = (ok || !known) && diff == ""
			if diff != "" {
				out[town].diffs = append(out[town].diffs, fmt.Sprintf("tick %s: %s", next.Format(time.RFC3339Nano), diff))
			}
		}
	}
	for _, town := range towns {
		o := out[town]
		o.ticks = len(seen[town])
		o.polls = proxy.count(town, "status") - startPolls[town]
		for _, eq := range verdict[town] {
			o.compared++
			if eq {
				o.equal++
			}
		}
	}
	return out
}

// compareLastTick lists where tickwatch's last-tick gauges differ from the
// worker's reconciler metrics; "" when they agree.
func compareLastTick(m series, town string, r *gastown.ReconcilerMetrics) string {
	if r == nil {
		if _, ok := m[key("reconciler_last_tick_events_drained", "town="+town)]; ok {
			return "the worker has no last tick, tickwatch serves one"
		}
		return ""
	}
	want := series{
		key("reconciler_last_tick_events_drained", "town="+town):                    float64(r.EventsDrained),
		key("reconciler_last_tick_wall_clock_seconds", "town="+town):                r.WallClockMs / 1000,
		key("reconciler_last_tick_pending_events", "town="+town):                    float64(r.PendingEventCount),
		key("reconciler_last_tick_invariant_violations", "town="+town):              float64(r.InvariantViolations),
		key("reconciler_last_tick_side_effects", "town="+town, "outcome=attempted"): float64(r.SideEffectsAttempted),
		key("reconciler_last_tick_side_effects", "town="+town, "outcome=succeeded"): float64(r.SideEffectsSucceeded),
		key("reconciler_last_tick_side_effects", "town="+town, "outcome=failed"):    float64(r.SideEffectsFailed),
	}
	for typ, n := range r.ActionsByType.All() {
		want[key("reconciler_last_tick_actions", "town="+town, "type="+typ)] = float64(n)
	}
	var diffs []string
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			diffs = append(diffs, fmt.Sprintf("%s: tickwatch %g (present %v), worker %g", k, got, ok, v))
		}
	}
	prefix := key("reconciler_last_tick_actions", "town="+town)
	prefix = prefix[:len(prefix)-1] + ","
	for k := range m {
		if _, ok := want[k]; !ok && strings.HasPrefix(k, prefix) {
			diffs = append(diffs, k+": served by tickwatch, not in the worker's actionsByType")
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}

// compareDryRun compares tickwatch's dry-run gauges with a direct dry run;
// "" when they agree.
func compareDryRun(w *worker, base, town string) string {
	m, err := scrape(base)
	if err != nil {
		return err.Error()
	}
	d, code, err := w.dryRun(town)
	if err != nil || code != 200 {
		return fmt.Sprintf("direct dry run: HTTP %d, %v", code, err)
	}
	want := series{
		key("reconciler_queue_depth", "town="+town):         float64(d.Metrics.EventsDrained),
		key("reconciler_pending_events", "town="+town):      float64(d.Metrics.PendingEventCount),
		key("reconciler_dry_run_status_code", "town="+town): 200,
	}
	for typ, n := range d.Metrics.ActionsByType.All() {
		want[key("reconciler_actions", "town="+town, "type="+typ)] = float64(n)
	}
	var diffs []string
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			diffs = append(diffs, fmt.Sprintf("%s: tickwatch %g (present %v), worker %g", k, got, ok, v))
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; ")
}

// convoyOf is the id of the town's convoy bead, from the worker's rows.
func convoyOf(t *testing.T, w *worker, town string) string {
	t.Helper()
	st, err := w.status(town)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range st.BeadSummary {
		if b.Type == "convoy" {
			return b.BeadID
		}
	}
	t.Fatalf("town %s has no convoy bead: %+v", town, st.BeadSummary)
	return ""
}

// eventsOf lists a town's Sentry events as "transition message".
func eventsOf(s *sentrytest.Server, town string) []string {
	var out []string
	for _, e := range s.Events() {
		if e.Tags["town"] == town {
			out = append(out, e.Tags["transition"]+" "+e.Message)
		}
	}
	return out
}

func equalSorted(a, b []string) bool {
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	return strings.Join(a, "\n") == strings.Join(b, "\n")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

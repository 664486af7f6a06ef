package statuspage

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/exporter"
	"github.com/tickwatch/tickwatch/gastown"
)

type townSpec struct {
	up, ticking, dryRunUp bool
	queue                 int
	wallSeconds           float64
	err                   string
}

func state(s townSpec, at time.Time) *exporter.TownState {
	st := &exporter.TownState{Up: s.up, LastPoll: at, Err: s.err}
	if s.up {
		st.LastSuccess = at
		st.Status = &exporter.StatusState{Ticking: s.ticking}
		if s.ticking {
			st.Status.NextFireAt = at.Add(5 * time.Second)
			st.Status.LastTick = &exporter.LastTick{WallClockSeconds: s.wallSeconds, PendingEvents: s.queue, EventsDrained: 1,
				Actions: []exporter.TypeCount{exporter.NewTypeCount("dispatch_agent", 2), exporter.NewTypeCount("close_bead", 1)}}
		}
	}
	st.DryRun = &exporter.DryRunState{Up: s.dryRunUp, At: at, Code: 200, QueueDepth: s.queue}
	if !s.dryRunUp {
		st.DryRun.Code, st.DryRun.Err = 500, "dry run: HTTP 500"
	}
	return st
}

// fixture is a small fleet: one town of each state, and a tracker with one
// violation open in "broken".
func fixture(t *testing.T) (*Pages, *dedupe.Tracker) {
	t.Helper()
	snap := exporter.NewSnapshot()
	now := t0.Add(time.Minute)
	for town, s := range map[string]townSpec{
		"calm":    {up: true, ticking: true, dryRunUp: true, queue: 2, wallSeconds: 0.002},
		"deep":    {up: true, ticking: true, dryRunUp: true, queue: 60, wallSeconds: 0.003},
		"high":    {up: true, ticking: true, dryRunUp: true, queue: 30, wallSeconds: 0.001},
		"slow":    {up: true, ticking: true, dryRunUp: true, queue: 1, wallSeconds: 0.9},
		"real":    {up: true, ticking: true, dryRunUp: false, queue: 4, wallSeconds: 0.004},
		"idle":    {up: true, ticking: false, dryRunUp: true},
		"gone":    {up: false, dryRunUp: false, err: `status of town "gone": connection refused`},
		"broken":  {up: true, ticking: true, dryRunUp: true, queue: 3, wallSeconds: 0.002},
		"town-10": {up: true, ticking: true, dryRunUp: true, queue: 0, wallSeconds: 0.001},
	} {
		snap.Put(town, state(s, now))
	}
	tr := dedupe.NewTracker(dedupe.Options{OpenAfter: 1}, func() time.Time { return t0 })
	tr.Observe("broken", true, []gastown.Violation{{Invariant: 7, Message: "Working agent ag-1 has no hook", Source: gastown.DerivedFromStatus}})
	cfg := config.Default()
	p := New(Options{Snapshot: snap, Tracker: tr, TelemetryPath: "/metrics", Now: func() time.Time { return now },
		Outbox: func() *OutboxStatus { return &OutboxStatus{Sent: 3, Pending: 1} }}, &cfg)
	return p, tr
}

func towns(f Fleet) []string {
	var out []string
	for _, r := range f.Towns {
		out = append(out, r.Town)
	}
	return out
}

func TestFleetProblemsFirst(t *testing.T) {
	p, _ := fixture(t)
	f := p.Fleet(ParseQuery(nil, 0))
	want := []string{"gone", "broken", "idle", "deep", "real", "high", "slow", "calm", "town-10"}
	if got := towns(f); !slices.Equal(got, want) {
		t.Errorf("default order %v, want %v", got, want)
	}
	if s := f.Summary; s != (Summary{Towns: 9, Up: 8, Down: 1, NotTicking: 1, DryRunFailing: 2, WithOpenViolations: 1, OpenViolations: 1, Problems: 7}) {
		t.Errorf("summary %+v", s)
	}
	byTown := map[string]TownRow{}
	for _, r := range f.Towns {
		byTown[r.Town] = r
	}
	if r := byTown["broken"]; r.OpenViolationCount != 1 || !r.OldestViolationSince.Equal(t0) ||
		!slices.Equal(r.OpenViolations, []string{"#7 Working agent ag-1 has no hook (since 2026-11-28T08:00:00Z)"}) {
		t.Errorf("broken: %+v", r)
	}
	if r := byTown["gone"]; !slices.Equal(r.Problems, []string{"down", "dry_run_failing"}) {
		t.Errorf("gone's problems %v", r.Problems)
	}
	if r := byTown["real"]; r.QueueDepth != nil || r.LastTick == nil || r.LastTick.Actions != 3 {
		t.Errorf("real: queue %v (want none: its dry run fails), last tick %+v", r.QueueDepth, r.LastTick)
	}
}

// TestDownTownKeepsOnlyThisPollsDryRun: as /metrics, a town that is down
// counts as failing its dry run only when this poll's failed; the dry run
// of an earlier poll says nothing of it now.
func TestDownTownKeepsOnlyThisPollsDryRun(t *testing.T) {
	snap := exporter.NewSnapshot()
	now := t0.Add(time.Minute)
	failedNow := state(townSpec{err: "timeout"}, now)
	earlier := state(townSpec{err: "timeout"}, now) // its dry run failed too, a poll ago
	earlier.DryRun.At = now.Add(-5 * time.Second)
	snap.Put("failed-now", failedNow)
	snap.Put("earlier", earlier)
	cfg := config.Default()
	p := New(Options{Snapshot: snap, Tracker: dedupe.NewTracker(dedupe.Options{}, time.Now), Now: func() time.Time { return now }}, &cfg)
	f := p.Fleet(ParseQuery(nil, 0))
	if f.Summary.Down != 2 || f.Summary.DryRunFailing != 1 {
		t.Errorf("summary %+v, want 2 down, 1 of them failing this poll's dry run", f.Summary)
	}
	for _, r := range f.Towns {
		switch want := map[string][]string{"failed-now": {"down", "dry_run_failing"}, "earlier": {"down"}}[r.Town]; {
		case !slices.Equal(r.Problems, want):
			t.Errorf("%s: problems %v, want %v", r.Town, r.Problems, want)
		case r.Town == "earlier" && (r.DryRunUp != nil || r.QueueDepth != nil):
			t.Errorf("earlier: dry run up %v, queue %v: the last dry run is shown as if it were now's", r.DryRunUp, r.QueueDepth)
		}
	}
}

// TestStatesAreAboveTheirThresholds: a town's state crosses a threshold
// where its alert rule does, above it (`>`), not at it; a warning of 0
// warns of any queue, as the rule would.
func TestStatesAreAboveTheirThresholds(t *testing.T) {
	now := t0.Add(time.Minute)
	for _, tc := range []struct {
		warning, queue int
		wall           float64
		want           string
	}{
		{25, 25, 0.5, "ok"},
		{25, 26, 0.5, "queue_high"},
		{25, 50, 0.5, "queue_high"},
		{25, 51, 0.5, "queue_critical"},
		{25, 1, 0.51, "wall_clock_high"},
		{0, 0, 0.1, "ok"},
		{0, 1, 0.1, "queue_high"},
	} {
		snap := exporter.NewSnapshot()
		snap.Put("t", state(townSpec{up: true, ticking: true, dryRunUp: true, queue: tc.queue, wallSeconds: tc.wall}, now))
		cfg := config.Default()
		cfg.Thresholds.QueueDepthWarning, cfg.Thresholds.QueueDepthCritical, cfg.Thresholds.WallClockSeconds = float64(tc.warning), 50, 0.5
		p := New(Options{Snapshot: snap, Tracker: dedupe.NewTracker(dedupe.Options{}, time.Now), Now: func() time.Time { return now }}, &cfg)
		if got := p.Fleet(ParseQuery(nil, 0)).Towns[0].State; got != tc.want {
			t.Errorf("warning %d, critical 50, wall clock threshold 0.5 s: queue %d, wall clock %v s: %s, want %s", tc.warning, tc.queue, tc.wall, got, tc.want)
		}
	}
}

func TestFleetSortFilterPages(t *testing.T) {
	p, _ := fixture(t)
	q := func(raw string) Fleet {
		v, _ := url.ParseQuery(raw)
		return p.Fleet(ParseQuery(v, 0))
	}
	for _, tc := range []struct{ query, want string }{
		// The deepest first; a failing dry run sorts by its last tick's
		// pending events; a town without either last.
		// Ties go to the town with the worse problem.
		{"sort=queue", "deep high real broken calm slow idle town-10 gone"},
		{"sort=queue&order=asc", "idle town-10 slow calm broken real high deep gone"},
		{"sort=town", "broken calm deep gone high idle real slow town-10"},
		{"sort=wall_clock", "slow real deep broken calm high town-10 gone idle"},
		{"q=TOWN-1", "town-10"},
		{"q=refused", "gone"},                  // the error text
		{"q=not+ticking", "idle"},              // the state, as the page words it
		{"state=dry_run_failing", "gone real"}, // also where a worse state applies
		{"state=queue_high", "deep high"},      // a critical queue is above the warning too
		{"state=problem&sort=town", "broken deep gone high idle real slow"},
		{"state=ok", "calm town-10"},
		{"sort=town&per_page=4&page=2", "high idle real slow"},
		{"sort=town&per_page=4&page=9", "town-10"}, // past the end: the last page
		{"sort=nonsense&state=nonsense", "gone broken idle deep real high slow calm town-10"},
	} {
		if got := strings.Join(towns(q(tc.query)), " "); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.query, got, tc.want)
		}
	}
	f := q("sort=town&per_page=4&page=2")
	if f.Matched != 9 || f.Pages != 3 || f.Query.Page != 2 || f.Summary.Towns != 9 {
		t.Errorf("paging: matched %d pages %d page %d", f.Matched, f.Pages, f.Query.Page)
	}
}

func get(t *testing.T, h http.HandlerFunc, target string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest(http.MethodGet, target, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b), rec.Result().Header
}

func TestFleetPageAndJSONShowTheSameTowns(t *testing.T) {
	p, _ := fixture(t)
	code, page, hdr := get(t, p.ServeFleet, "/?sort=queue&per_page=3")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("fleet page: %d %v", code, hdr)
	}
	var rows []string
	for _, part := range strings.Split(page, `data-town="`)[1:] {
		rows = append(rows, part[:strings.Index(part, `"`)])
	}
	_, body, _ := get(t, p.ServeFleetJSON, "/status.json?sort=queue&per_page=3")
	var f Fleet
	if err := json.Unmarshal([]byte(body), &f); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows, towns(f)) || !slices.Equal(rows, []string{"deep", "high", "real"}) {
		t.Errorf("page rows %v, JSON towns %v", rows, towns(f))
	}
	for _, want := range []string{
		`<a class="chip bad" href="/?state=down">1 down</a>`,
		`<span class="chip warn">1 pending</span>`,
		`<th class="num" aria-sort="descending"><a href="/?order=asc&amp;sort=queue" id="sort-queue">Queue depth</a></th>`,
		`<a href="/?page=2&amp;sort=queue" rel="next">next ›</a>`,
		`<span class="fallback" title="the last tick's pending events: the dry run is failing">4</span>`,
		`Version: `, `<a href="/metrics">Metrics</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("fleet page lacks %s", want)
		}
	}
	// /status.json lists every town unless asked for pages.
	_, body, _ = get(t, p.ServeFleetJSON, "/status.json")
	if err := json.Unmarshal([]byte(body), &f); err != nil || len(f.Towns) != 9 || f.Pages != 1 {
		t.Errorf("/status.json: %d towns, %d pages, %v", len(f.Towns), f.Pages, err)
	}
}

func TestLinks(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"https://k3yk3y@o4507.ingest.us.sentry.io/4508", `https://sentry.io/issues/?project=4508&query=town%3A%22a+b%2Fc%22`},
		{"http://k3yk3y:s3cr3t@sentry.example:9000/prefix/12", `http://sentry.example:9000/prefix/issues/?project=12&query=town%3A%22a+b%2Fc%22`},
		{"", ""},
		{"https://k3yk3y@sentry.example/", ""},
	} {
		cfg := config.Default()
		cfg.Sentry.DSN, cfg.Web.GrafanaURL = commoncfg.Secret(tc.dsn), "https://grafana.example/g/"
		l := linksFrom(&cfg).town("a b/c")
		if l.Sentry != tc.want || strings.Contains(l.Sentry, "k3yk3y") || strings.Contains(l.Sentry, "s3cr3t") {
			t.Errorf("%q: sentry link %q, want %q", tc.dsn, l.Sentry, tc.want)
		}
		if l.Grafana != "https://grafana.example/g/d/tickwatch-reconciler/?var-town=a+b%2Fc" {
			t.Errorf("grafana link %q", l.Grafana)
		}
	}
	for town, want := range map[string]string{
		"a/b": "/towns/a%2Fb", "..": "/towns/?id=..", ".": "/towns/?id=.", "x y?#": "/towns/x%20y%3F%23", "<b>": "/towns/%3Cb%3E",
	} {
		if got := TownPath(town); got != want {
			t.Errorf("TownPath(%q) = %q, want %q", town, got, want)
		}
	}
}

// TestDownTownPageSaysWhatIsUnknown: the page of a town whose status call
// fails says its alarm, dry run and last tick are unknown, not that it has
// none.
func TestDownTownPageSaysWhatIsUnknown(t *testing.T) {
	p, _ := fixture(t)
	_, page, _ := get(t, p.ServeTown, "/towns/gone")
	// Its alarm and last tick are unknown; this poll's dry run failed too.
	if n := strings.Count(page, "unknown while the status call fails"); n != 1 || !strings.Contains(page, "Unknown while the status call fails.") {
		t.Errorf("the down town's page names its unknown alarm %d times (want 1), and its last tick: %v", n, strings.Contains(page, "Unknown while the status call fails."))
	}
	for _, wrong := range []string{"none armed", "not called yet", "has not ticked since it started"} {
		if strings.Contains(page, wrong) {
			t.Errorf("the down town's page says %q", wrong)
		}
	}
	_, page, _ = get(t, p.ServeTown, "/towns/idle")
	if !strings.Contains(page, "none armed") || strings.Contains(page, "unknown while the status call fails") {
		t.Error("the page of a town that answers without an armed alarm does not say none is armed")
	}
}

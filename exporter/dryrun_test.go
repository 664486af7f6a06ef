package exporter

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/gastowntest"
	"github.com/tickwatch/tickwatch/metricnames"
)

// statusWith is the status sample with its last tick's pending events and
// invariant count set.
func statusWith(t *testing.T, pending, violations int) []byte {
	t.Helper()
	var st map[string]any
	if err := json.Unmarshal(gastowntest.Sample(t, "status.json"), &st); err != nil {
		t.Fatal(err)
	}
	r := st["alarmStatus"].(map[string]any)["reconciler"].(map[string]any)
	r["pendingEventCount"], r["invariantViolations"] = pending, violations
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// townAnswers is what one town of a callLog answers; change it under mu.
type townAnswers struct {
	status     []byte
	statusCode int // 0: 200
	dryRun     []byte
	dryRunCode int // 0: 200
}

// callLog is a Gastown town server that records which calls each town got.
type callLog struct {
	mu      sync.Mutex
	answers map[string]*townAnswers
	calls   map[string][]string // town -> "status", "dry_run" in arrival order
}

func newCallLog(f *fixture, towns map[string]*townAnswers) *callLog {
	l := &callLog{answers: towns, calls: map[string][]string{}}
	for town := range towns {
		f.fake.Handlers[town] = func(w http.ResponseWriter, r *http.Request) {
			call, body, code := "status", []byte(nil), 0
			l.mu.Lock()
			a := l.answers[town]
			if strings.HasSuffix(r.URL.Path, "/reconcile-dry-run") {
				call, body, code = "dry_run", a.dryRun, a.dryRunCode
			} else {
				body, code = a.status, a.statusCode
			}
			l.calls[town] = append(l.calls[town], call)
			l.mu.Unlock()
			if code != 0 {
				w.WriteHeader(code)
			}
			w.Write(body)
		}
	}
	return l
}

// set changes a town's answers.
func (l *callLog) set(town string, f func(*townAnswers)) {
	l.mu.Lock()
	f(l.answers[town])
	l.mu.Unlock()
}

// take returns and clears the calls each town got since the last take.
func (l *callLog) take() map[string][]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.calls
	l.calls = map[string][]string{}
	return out
}

// tick advances the injected clock to the i-th tick and runs it.
func (f *fixture) tickAt(t *testing.T, start time.Time, i int) {
	t.Helper()
	f.now = start.Add(time.Duration(i) * f.poller.Settings().Interval)
	f.poller.Tick(context.Background())
}

// gauge is the value of a town's series of the family name, as /metrics
// would serve it with the dry run's detail on; ok is false when it is absent.
func (f *fixture) gauge(t *testing.T, name, town string) (float64, bool) {
	t.Helper()
	tm := NewTownMetrics(f.snap, nil)
	tm.SetMetrics(config.Metrics{DryRunDetail: true})
	mfs, err := tm.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "town" && l.GetValue() == town {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// dryRunTicks runs ticks from..to-1 and returns, per town, the ticks whose
// poll made a dry run; every poll must have made its status call.
func (f *fixture) dryRunTicks(t *testing.T, l *callLog, start time.Time, from, to int, each func(i int)) map[string][]int {
	t.Helper()
	out := map[string][]int{}
	for i := from; i < to; i++ {
		f.tickAt(t, start, i)
		for town, calls := range l.take() {
			if calls[0] != "status" {
				t.Fatalf("tick %d: town %s got %v: the status call comes first, every poll", i, town, calls)
			}
			switch {
			case slices.Equal(calls, []string{"status", "dry_run"}):
				out[town] = append(out[town], i)
			case len(calls) != 1:
				t.Fatalf("tick %d: town %s got %v", i, town, calls)
			}
		}
		if each != nil {
			each(i)
		}
	}
	return out
}

func ticks(from, to, step int) []int {
	var out []int
	for i := from; i < to; i += step {
		out = append(out, i)
	}
	return out
}

// TestDryRunCadence: with a 5 s tick and a 60 s dry-run interval, a busy
// town (its last tick left events pending) gets a dry run on every poll, a
// quiet one every twelfth; one that turns busy gets them from its next poll
// until a poll after its backlog is gone, then falls back to the interval.
// The status call is made on every poll of every town.
func TestDryRunCadence(t *testing.T) {
	f := newFixture(t, []string{"busy", "quiet", "turns"}, func(s *Settings) { s.DryRunInterval = time.Minute })
	l := newCallLog(f, map[string]*townAnswers{
		"busy":  {status: statusWith(t, 3, 0), dryRun: gastowntest.Sample(t, "dry-run.json")},
		"quiet": {status: statusWith(t, 0, 0), dryRun: gastowntest.Sample(t, "dry-run-idle.json")},
		"turns": {status: statusWith(t, 0, 0), dryRun: gastowntest.Sample(t, "dry-run-idle.json")},
	})
	start := f.now
	got := f.dryRunTicks(t, l, start, 0, 30, func(i int) {
		switch i {
		case 14: // the tick just read leaves 7 events pending
			l.set("turns", func(a *townAnswers) { a.status = statusWith(t, 7, 0) })
		case 19: // drained
			l.set("turns", func(a *townAnswers) { a.status = statusWith(t, 0, 0) })
		}
		// Between its dry runs, the quiet town's dry-run gauges are its
		// last dry run's: not a failure, not absent.
		if v, ok := f.gauge(t, metricnames.DryRunUp, "quiet"); !ok || v != 1 {
			t.Errorf("tick %d: quiet town's %s = %v (present %v), want 1", i, metricnames.DryRunUp, v, ok)
		}
		if v, ok := f.gauge(t, metricnames.QueueDepth, "quiet"); !ok || v != 0 {
			t.Errorf("tick %d: quiet town's %s = %v (present %v), want its last dry run's 0", i, metricnames.QueueDepth, v, ok)
		}
	})
	want := map[string][]int{
		"busy":  ticks(0, 30, 1),
		"quiet": {0, 12, 24},
		// Tick 15's poll is the first to see the backlog: dry runs from the
		// next poll on, until the poll after the one that saw it gone (20);
		// the next is due 12 ticks after that.
		"turns": {0, 12, 16, 17, 18, 19, 20},
	}
	for town, w := range want {
		if !slices.Equal(got[town], w) {
			t.Errorf("%s: dry runs at ticks %v, want %v", town, got[town], w)
		}
	}
	deferred := `
# HELP tickwatch_dry_runs_deferred_total Polls that made no dry run, by reason: quiet (nothing calls for one before poll.dry_run_interval), backoff (it keeps failing with the same HTTP status).
# TYPE tickwatch_dry_runs_deferred_total counter
tickwatch_dry_runs_deferred_total{reason="backoff"} 0
tickwatch_dry_runs_deferred_total{reason="quiet"} 50
# HELP tickwatch_polls_total Calls to the towns by call (status, dry_run) and result.
# TYPE tickwatch_polls_total counter
tickwatch_polls_total{call="dry_run",result="error"} 0
tickwatch_polls_total{call="dry_run",result="success"} 40
tickwatch_polls_total{call="dry_run",result="timeout"} 0
tickwatch_polls_total{call="status",result="error"} 0
tickwatch_polls_total{call="status",result="success"} 90
tickwatch_polls_total{call="status",result="timeout"} 0
`
	if err := testutil.CollectAndCompare(f.poller, strings.NewReader(deferred), metricnames.DryRunsDeferred, metricnames.Polls); err != nil {
		t.Error(err)
	}
	if st := f.snap.Get("quiet"); st.DryRun == nil || !st.DryRun.At.Equal(start.Add(24*5*time.Second)) {
		t.Errorf("quiet town's last dry run: %+v, want the one of tick 24", st.DryRun)
	}
}

// TestDryRunEveryPollWhenItIsTheOnlyLook: without status calls the dry run
// is the heartbeat; with them, a town whose status call fails gets its dry
// run on every poll, and so does every town at dry_run_interval 0.
func TestDryRunEveryPollWhenItIsTheOnlyLook(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Settings)
	}{
		{"status off", func(s *Settings) { s.DryRunInterval, s.WithStatus = time.Minute, false }},
		{"interval 0", func(s *Settings) { s.DryRunInterval = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, []string{"quiet"}, tc.mod)
			l := newCallLog(f, map[string]*townAnswers{"quiet": {status: statusWith(t, 0, 0), dryRun: gastowntest.Sample(t, "dry-run-idle.json")}})
			for i := range 5 {
				f.tickAt(t, f.now, i)
				calls := l.take()["quiet"]
				if !slices.Contains(calls, "dry_run") {
					t.Errorf("tick %d: calls %v, want a dry run", i, calls)
				}
			}
		})
	}
	t.Run("status failing", func(t *testing.T) {
		f := newFixture(t, []string{"sick"}, func(s *Settings) { s.DryRunInterval = time.Minute })
		l := newCallLog(f, map[string]*townAnswers{"sick": {status: statusWith(t, 0, 0), dryRun: gastowntest.Sample(t, "dry-run-idle.json")}})
		start := f.now
		got := f.dryRunTicks(t, l, start, 0, 12, func(i int) {
			switch i {
			case 2:
				l.set("sick", func(a *townAnswers) { a.status, a.statusCode = gastowntest.Sample(t, "error-500.json"), 500 })
			case 6:
				l.set("sick", func(a *townAnswers) { a.status, a.statusCode = statusWith(t, 0, 0), 0 })
			}
		})
		// Tick 3's status fails: dry runs from tick 4 until the poll after
		// the status answers again (tick 7's saw it answer).
		if w := []int{0, 4, 5, 6, 7}; !slices.Equal(got["sick"], w) {
			t.Errorf("dry runs at ticks %v, want %v", got["sick"], w)
		}
	})
	// A status call that gets no answer in time adds no dry run: the worker
	// is too slow already, and the dry run costs it fifteen status calls.
	t.Run("status timing out", func(t *testing.T) {
		f := newFixture(t, []string{"slow"}, func(s *Settings) { s.DryRunInterval, s.Timeout = time.Minute, 100*time.Millisecond })
		l := newCallLog(f, map[string]*townAnswers{"slow": {status: statusWith(t, 0, 0), dryRun: gastowntest.Sample(t, "dry-run-idle.json")}})
		release := make(chan struct{})
		defer close(release)
		answer := f.fake.Handlers["slow"]
		var slow atomic.Bool
		f.fake.Handlers["slow"] = func(w http.ResponseWriter, r *http.Request) {
			if slow.Load() && strings.HasSuffix(r.URL.Path, "/status") {
				l.mu.Lock()
				l.calls["slow"] = append(l.calls["slow"], "status")
				l.mu.Unlock()
				select { // past the poll's timeout
				case <-r.Context().Done():
				case <-release:
				}
				return
			}
			answer(w, r)
		}
		got := f.dryRunTicks(t, l, f.now, 0, 15, func(i int) {
			slow.Store(i >= 2 && i < 8)
			// Not answering, the town has no dry-run values to serve: its
			// last dry run's queue is not known to be its queue now.
			if i >= 3 && i < 9 {
				for _, name := range []string{metricnames.DryRunUp, metricnames.QueueDepth} {
					if v, ok := f.gauge(t, name, "slow"); ok {
						t.Errorf("tick %d: the town timing out serves %s %v", i, name, v)
					}
				}
			}
		})
		// Ticks 3-8 time out: nothing but the interval (tick 12).
		if w := []int{0, 12}; !slices.Equal(got["slow"], w) {
			t.Errorf("dry runs at ticks %v, want %v", got["slow"], w)
		}
		if st := f.snap.Get("slow"); !st.Up {
			t.Errorf("slow town still down after its status answered again: %+v", st)
		}
	})
}

// TestFailingDryRunBacksOff: a busy town whose dry run answers 500 on every
// call (the real worker's) gets it after 1, 2, 4, ... ticks, up to
// config.MaxDryRunWait; between attempts its dry-run gauges stay at 0 and
// 500, so ReconcilerDryRunFailing neither stops nor flaps. Another status
// starts a new streak; a success, a reload, and a failing status call end it.
func TestFailingDryRunBacksOff(t *testing.T) {
	f := newFixture(t, []string{"t500", "ok"}, func(s *Settings) { s.DryRunInterval = time.Minute })
	fail := func(code int) func(*townAnswers) {
		return func(a *townAnswers) {
			a.dryRun, a.dryRunCode = gastowntest.Sample(t, "error-500.json"), code
		}
	}
	l := newCallLog(f, map[string]*townAnswers{
		"t500": {status: statusWith(t, 3, 0)},
		"ok":   {status: statusWith(t, 3, 0), dryRun: gastowntest.Sample(t, "dry-run.json")},
	})
	l.set("t500", fail(500))
	start := f.now
	held := func(code float64) func(int) {
		return func(i int) {
			up, ok1 := f.gauge(t, metricnames.DryRunUp, "t500")
			c, ok2 := f.gauge(t, metricnames.DryRunStatusCode, "t500")
			if !ok1 || !ok2 || up != 0 || c != code {
				t.Fatalf("tick %d: dry run up %v (present %v), status code %v (present %v); want 0 and %v on every tick", i, up, ok1, c, ok2, code)
			}
		}
	}
	// 250 ticks of 5 s: attempts 5 s, 10 s, 20 s, ... apart, then every 10 minutes.
	got := f.dryRunTicks(t, l, start, 0, 250, held(500))
	if w := []int{0, 1, 3, 7, 15, 31, 63, 127, 247}; !slices.Equal(got["t500"], w) {
		t.Errorf("failing town: dry runs at ticks %v, want %v", got["t500"], w)
	}
	if w := ticks(0, 250, 1); !slices.Equal(got["ok"], w) {
		t.Errorf("the other town's dry runs are not on every tick: %v", got["ok"])
	}
	if n := testutil.ToFloat64(f.poller.dryRunsDeferred.WithLabelValues(deferBackoff)); n != 250-9 {
		t.Errorf("deferred for back-off: %v, want %d", n, 250-9)
	}
	b, ok := f.poller.DryRunBackoff("t500")
	if wantUntil := start.Add(247*5*time.Second + config.MaxDryRunWait); !ok || b.Code != 500 || b.Failures != 9 || !b.Until.Equal(wantUntil) {
		t.Errorf("back-off %+v (%v), want 9 failures with 500 until %v", b, ok, wantUntil)
	}

	// Another status: a new streak, from the next attempt (due at 367).
	l.set("t500", fail(503))
	got = f.dryRunTicks(t, l, start, 250, 367, held(500))
	if len(got["t500"]) != 0 {
		t.Errorf("dry runs at ticks %v while backing off", got["t500"])
	}
	got = f.dryRunTicks(t, l, start, 367, 375, held(503))
	if w := []int{367, 368, 370, 374}; !slices.Equal(got["t500"], w) {
		t.Errorf("after a change to 503: dry runs at ticks %v, want %v", got["t500"], w)
	}

	// A reload ends the back-off.
	f.poller.Reload(*f.poller.Settings())
	got = f.dryRunTicks(t, l, start, 375, 377, held(503))
	if w := []int{375, 376}; !slices.Equal(got["t500"], w) {
		t.Errorf("after a reload: dry runs at ticks %v, want %v", got["t500"], w)
	}

	// So does a failing status call: the worker may come back another version.
	l.set("t500", func(a *townAnswers) { a.status, a.statusCode = gastowntest.Sample(t, "error-500.json"), 500 })
	f.tickAt(t, start, 377) // no dry run (backing off until 378); the status fails
	if calls := l.take()["t500"]; !slices.Equal(calls, []string{"status"}) {
		t.Fatalf("tick 377: calls %v, want the status call alone", calls)
	}
	l.set("t500", func(a *townAnswers) { a.status, a.statusCode = statusWith(t, 3, 0), 0 })
	if _, ok := f.poller.DryRunBackoff("t500"); ok {
		t.Error("still backing off after a failed status call")
	}

	// A success ends it: the busy town's dry runs are on every tick again.
	l.set("t500", func(a *townAnswers) { a.dryRun, a.dryRunCode = gastowntest.Sample(t, "dry-run.json"), 0 })
	got = f.dryRunTicks(t, l, start, 378, 385, nil)
	if w := ticks(378, 385, 1); !slices.Equal(got["t500"], w) {
		t.Errorf("after a success: dry runs at ticks %v, want %v", got["t500"], w)
	}
	if v, _ := f.gauge(t, metricnames.DryRunUp, "t500"); v != 1 {
		t.Errorf("dry run up = %v after a success", v)
	}
}

// TestBackoffWaits pins the waits: one interval doubled per failure after
// the first, capped; a timeout or refused connection starts no streak.
func TestBackoffWaits(t *testing.T) {
	for failures, want := range map[int]time.Duration{1: 5 * time.Second, 2: 10 * time.Second, 3: 20 * time.Second,
		7: 320 * time.Second, 8: config.MaxDryRunWait, 1000: config.MaxDryRunWait} {
		if got := backoffWait(failures, 5*time.Second); got != want {
			t.Errorf("after %d failures: %v, want %v", failures, got, want)
		}
	}
	var b backoffs
	at := time.Unix(1_800_000_000, 0)
	for range 3 {
		b.note("t", gastown.Call{Done: true, Code: 0, Err: context.DeadlineExceeded}, at, 5*time.Second)
	}
	if s, ok := b.get("t"); ok {
		t.Errorf("timeouts started a streak: %+v", s)
	}
}

// TestHeartbeatPollMakesItsDueDryRun: a town without an armed alarm is
// polled once an idle interval, as its dry run is due; the poll starts
// into its tick, and its dry run is judged for then, not for the tick's
// start, so it is made on every heartbeat rather than every other one.
func TestHeartbeatPollMakesItsDueDryRun(t *testing.T) {
	f := newFixture(t, []string{"idle"}, func(s *Settings) { s.DryRunInterval, s.IdleInterval = time.Minute, time.Minute })
	var st map[string]any
	if err := json.Unmarshal(statusWith(t, 0, 0), &st); err != nil {
		t.Fatal(err)
	}
	st["alarmStatus"].(map[string]any)["alarm"].(map[string]any)["nextFireAt"] = nil
	status, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	l := newCallLog(f, map[string]*townAnswers{"idle": {status: status, dryRun: gastowntest.Sample(t, "dry-run-idle.json")}})
	base := f.now
	// The first poll comes 0.5 s into a tick, so each heartbeat is due 0.5 s
	// into the tick twelve later.
	f.now = base.Add(500 * time.Millisecond)
	f.poller.Tick(context.Background())
	polls, dryRuns := []int{}, []int{}
	record := func(i int) {
		if calls := l.take()["idle"]; len(calls) > 0 {
			polls = append(polls, i)
			if slices.Contains(calls, "dry_run") {
				dryRuns = append(dryRuns, i)
			}
		}
	}
	record(0)
	for i := 1; i <= 25; i++ {
		f.tickAt(t, base, i)
		record(i)
	}
	if want := []int{0, 12, 24}; !slices.Equal(polls, want) || !slices.Equal(dryRuns, want) {
		t.Errorf("polls at ticks %v, dry runs at %v; want both at %v", polls, dryRuns, want)
	}
}

package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	commoncfg "github.com/prometheus/common/config"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/gastowntest"
	"github.com/tickwatch/tickwatch/metricnames"
)

type fixture struct {
	fake   *gastowntest.Fake
	srv    *httptest.Server
	snap   *Snapshot
	poller *Poller
	now    time.Time
}

func newFixture(t *testing.T, towns []string, mod func(*Settings)) *fixture {
	t.Helper()
	f := &fixture{fake: gastowntest.NewFake(), snap: NewSnapshot(), now: time.Unix(1_800_000_000, 0)}
	f.srv = httptest.NewServer(f.fake)
	t.Cleanup(f.srv.Close)
	s := Settings{
		Towns: NewTownSource(towns, "", nil), Interval: 5 * time.Second, IdleInterval: 60 * time.Second,
		Timeout: time.Second, Concurrency: 8, MaxRequestsPerSecond: 10000, MaxActionTypes: 64, WithStatus: true,
		Shard: config.Shard{Count: 1},
	}
	if mod != nil {
		mod(&s)
	}
	c, err := gastown.NewClient(gastown.ClientOptions{URL: f.srv.URL, HTTPClient: commoncfg.DefaultHTTPClientConfig, Timeout: s.Timeout, MaxBodyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	s.Client = c
	f.poller = NewPoller(s, f.snap, func() time.Time { return f.now }, slog.New(slog.DiscardHandler))
	return f
}

func TestCollectorExposition(t *testing.T) {
	f := newFixture(t, []string{"town-a", "town-b", "town-c"}, nil)
	f.fake.DryRun["town-a"], f.fake.Status["town-a"] = gastowntest.Sample(t, "dry-run.json"), gastowntest.Sample(t, "status.json")
	f.fake.DryRun["town-b"], f.fake.Status["town-b"] = gastowntest.Sample(t, "dry-run-with-violations.json"), gastowntest.Sample(t, "status-after-restart.json")
	f.fake.DryRun["town-c"] = gastowntest.Sample(t, "dry-run-idle.json") // status answers 404: the poll fails
	if res := f.poller.Tick(context.Background()); res != (TickResult{Towns: 3, Polled: 3}) {
		t.Fatalf("tick = %+v", res)
	}
	c := everyTownMetric(f.snap)
	want, err := os.ReadFile(filepath.Join("testdata", "three-towns.prom"))
	if err != nil {
		t.Fatal(err)
	}
	// Durations are real wall times: pin them before comparing.
	for _, e := range f.snap.Towns() {
		s, d := *e.State, *e.State.DryRun
		d.Seconds = 0.25
		s.DryRun = &d
		f.snap.Put(e.Town, &s)
	}
	if err := testutil.GatherAndCompare(c, strings.NewReader(string(want))); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.GatherAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
	if problems, err := testutil.CollectAndLint(f.poller); err != nil || len(problems) > 0 {
		t.Errorf("lint poller metrics: %v %+v", err, problems)
	}
}

func TestFailingTownsDoNotHurtOthers(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, []string{"good", "t500", "hang", "garbled"}, func(s *Settings) {
		s.Interval, s.Timeout = 2*time.Second, 100*time.Millisecond
	})
	defer close(release)

	f.fake.DryRun["good"], f.fake.Status["good"] = gastowntest.Sample(t, "dry-run.json"), gastowntest.Sample(t, "status.json")
	f.fake.Handlers["t500"] = func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(500)
		w.Write(gastowntest.Sample(t, "error-500.json"))
	}
	f.fake.Handlers["hang"] = func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
	f.fake.Handlers["garbled"] = func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`{"actions":[{"type":`)) }

	start := time.Now()
	res := f.poller.Tick(context.Background())
	if took := time.Since(start); took >= 2*time.Second {
		t.Errorf("tick took %v, longer than its interval", took)
	}
	if res != (TickResult{Towns: 4, Polled: 4}) {
		t.Errorf("tick = %+v", res)
	}
	for town, wantErr := range map[string]string{
		"t500":    `status of town "t500": HTTP 500: Internal server error`,
		"hang":    `status of town "hang": Get "` + f.srv.URL + `/debug/towns/hang/status": context deadline exceeded`,
		"garbled": `status of town "garbled": malformed JSON: unexpected end of JSON input`,
	} {
		st := f.snap.Get(town)
		if st == nil || st.Up || st.Err != wantErr {
			t.Errorf("%s: state %+v, want error %q", town, st, wantErr)
		}
	}
	if st := f.snap.Get("good"); st == nil || !st.Up || st.DryRun.QueueDepth != 3 {
		t.Errorf("good town hurt: %+v", st)
	}
	// The hanging town's status call used up the poll's time: no dry run
	// was made, so none timed out.
	want := `
# HELP tickwatch_polls_total Calls to the towns by call (status, dry_run) and result.
# TYPE tickwatch_polls_total counter
tickwatch_polls_total{call="dry_run",result="error"} 2
tickwatch_polls_total{call="dry_run",result="success"} 1
tickwatch_polls_total{call="dry_run",result="timeout"} 0
tickwatch_polls_total{call="status",result="error"} 2
tickwatch_polls_total{call="status",result="success"} 1
tickwatch_polls_total{call="status",result="timeout"} 1
`
	if err := testutil.CollectAndCompare(f.poller, strings.NewReader(want), metricnames.Polls); err != nil {
		t.Error(err)
	}
	want = `
# HELP reconciler_up 1 if the town's reconciler was readable at the last poll (its status call succeeded), else 0.
# TYPE reconciler_up gauge
reconciler_up{town="garbled"} 0
reconciler_up{town="good"} 1
reconciler_up{town="hang"} 0
reconciler_up{town="t500"} 0
`
	if err := testutil.GatherAndCompare(NewTownMetrics(f.snap, nil), strings.NewReader(want), metricnames.Up); err != nil {
		t.Error(err)
	}
}

func TestGoneTownsAndActionTypesLeaveNoSeries(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "towns.yml")
	os.WriteFile(file, []byte("- town-a\n- town-b\n"), 0o644)
	f := newFixture(t, nil, func(s *Settings) { s.Towns = NewTownSource(nil, file, nil); s.WithStatus = false })
	var watched map[string]bool
	f.poller.OnWatchList = func(owned map[string]bool) { watched = owned }
	f.fake.DryRun["town-a"] = []byte(`{"actions":[],"metrics":{"actionsEmitted":3,"actionsByType":{"poll_pr":2,"send_nudge":1},"pendingEventCount":0,"eventsDrained":4}}`)
	f.fake.DryRun["town-b"] = gastowntest.Sample(t, "dry-run-idle.json")
	f.poller.Tick(context.Background())
	c := everyTownMetric(f.snap)
	if n, err := testutil.GatherAndCount(c, metricnames.Actions); err != nil || n != 2 {
		t.Fatalf("actions series = %d, want 2 (%v)", n, err)
	}

	// town-b leaves the file, town-a stops emitting send_nudge.
	os.WriteFile(file, []byte("- town-a\n"), 0o644)
	os.Chtimes(file, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	f.fake.DryRun["town-a"] = []byte(`{"actions":[],"metrics":{"actionsEmitted":2,"actionsByType":{"poll_pr":2},"pendingEventCount":0,"eventsDrained":1}}`)
	f.now = f.now.Add(5 * time.Second)
	f.poller.Tick(context.Background())
	want := `
# HELP reconciler_actions Actions the reconciler would emit now, by type (dry run).
# TYPE reconciler_actions gauge
reconciler_actions{town="town-a",type="poll_pr"} 2
# HELP reconciler_up 1 if the town's reconciler was readable at the last poll (its status call succeeded), else 0.
# TYPE reconciler_up gauge
reconciler_up{town="town-a"} 1
`
	if err := testutil.GatherAndCompare(c, strings.NewReader(want), metricnames.Actions, metricnames.Up); err != nil {
		t.Error(err)
	}
	if len(watched) != 1 || !watched["town-a"] {
		t.Errorf("watch list = %v", watched)
	}
	if got := testutil.ToFloat64(f.poller.towns); got != 1 {
		t.Errorf("tickwatch_towns = %v", got)
	}
}

func TestActionTypesAreCapped(t *testing.T) {
	f := newFixture(t, []string{"wide"}, func(s *Settings) { s.MaxActionTypes = 2; s.WithStatus = false })
	f.fake.DryRun["wide"] = []byte(`{"actions":[],"metrics":{"actionsByType":{"a":5,"b":1,"c":3,"d":1},"pendingEventCount":0,"eventsDrained":0}}`)
	f.poller.Tick(context.Background())
	want := `
# HELP reconciler_actions Actions the reconciler would emit now, by type (dry run).
# TYPE reconciler_actions gauge
reconciler_actions{town="wide",type="a"} 5
reconciler_actions{town="wide",type="c"} 3
reconciler_actions{town="wide",type="other"} 2
`
	if err := testutil.GatherAndCompare(everyTownMetric(f.snap), strings.NewReader(want), metricnames.Actions); err != nil {
		t.Error(err)
	}
	if got := testutil.ToFloat64(f.poller.dropped); got != 2 {
		t.Errorf("dropped = %v, want 2", got)
	}
}

// statusWithAlarm is the status sample with its alarm armed at next (nil:
// none armed) and its last tick's wall clock in ms (-1: no last tick).
func statusWithAlarm(t *testing.T, next *time.Time, wallClockMs int) []byte {
	var st map[string]any
	if err := json.Unmarshal(gastowntest.Sample(t, "status.json"), &st); err != nil {
		t.Fatal(err)
	}
	a := st["alarmStatus"].(map[string]any)
	a["alarm"].(map[string]any)["nextFireAt"] = nil
	if next != nil {
		a["alarm"].(map[string]any)["nextFireAt"] = next.UTC().Format(time.RFC3339Nano)
	}
	if wallClockMs < 0 {
		a["reconciler"] = nil
	} else {
		a["reconciler"].(map[string]any)["wallClockMs"] = wallClockMs
	}
	b, _ := json.Marshal(st)
	return b
}

// TestPollsFollowEachTownsAlarm checks the schedule a tick draws from what
// each town's last status said, against an injected clock.
func TestPollsFollowEachTownsAlarm(t *testing.T) {
	f := newFixture(t, nil, func(s *Settings) { s.Spread = 4 * time.Second })
	s := f.poller.settings.Load()
	now := f.now
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	put := func(town string, lastPoll time.Duration, status []byte, up bool) {
		o := gastown.Observation{Town: town, At: now.Add(lastPoll), StatusCall: gastown.Call{Done: true, Err: errors.New("down")}}
		if up {
			var st gastown.Status
			if err := json.Unmarshal(status, &st); err != nil {
				t.Fatal(err)
			}
			o.StatusCall.Err, o.Status = nil, &st
		}
		ts, _ := newTownState(&o, nil, 64)
		f.snap.Put(town, ts)
	}
	// Polled 4s ago, alarm due in 1s after a 100ms tick: just after it fires.
	// The idle towns' alarms are 59s and 290s away.
	put("active", -4*time.Second, statusWithAlarm(t, at(time.Second), 100), true)
	// Alarm 300s away (idle at 5 minutes): the idle heartbeat bounds it.
	put("idle5m", -59*time.Second, statusWithAlarm(t, at(300*time.Second), 3), true)
	put("idle5m-rested", -10*time.Second, statusWithAlarm(t, at(290*time.Second), 3), true)
	// Never created: answers, never ticks. Polled at the idle cadence.
	put("never", -30*time.Second, statusWithAlarm(t, nil, -1), true)
	put("never-due", -60*time.Second, statusWithAlarm(t, nil, -1), true)
	// An alarm long overdue (stalled): not sooner than half a tick after the last poll.
	put("overdue", -1*time.Second, statusWithAlarm(t, at(-time.Minute), 3), true)
	// Its alarm fires after polls stop for this tick: next tick.
	put("late", -3*time.Second, statusWithAlarm(t, at(4500*time.Millisecond), 3), true)
	// Down: at its hash offset, every tick.
	put("down", -5*time.Second, nil, false)

	owned := map[string]bool{}
	for _, e := range f.snap.Towns() {
		owned[e.Town] = true
	}
	owned["new"] = true // never polled: its hash offset
	got := map[string]time.Duration{}
	for _, d := range f.poller.due(owned, s, now, 4*time.Second) {
		got[d.id] = d.offset
	}
	want := map[string]time.Duration{
		"active":    time.Second + alarmMargin + 200*time.Millisecond,
		"idle5m":    time.Second,
		"never-due": 0,
		"overdue":   1500 * time.Millisecond,
		"down":      offset("down", s.Spread),
		"new":       offset("new", s.Spread),
	}
	if !maps.Equal(got, want) {
		t.Errorf("due offsets\n got %v\nwant %v", got, want)
	}
}

// A tick hands its list of due towns to the next, without the states it
// pointed to: kept, they would stay live until then.
func TestTickKeepsItsDueListWithoutStates(t *testing.T) {
	f := newFixture(t, []string{"town-a", "town-b", "town-c"}, nil)
	if res := f.poller.Tick(context.Background()); res.Polled != 3 {
		t.Fatalf("tick polled %d towns, want 3", res.Polled)
	}
	kept := dueLists.get()
	if cap(kept) < 3 {
		t.Fatalf("the tick's list was not kept for the next: capacity %d", cap(kept))
	}
	for i, d := range kept[:cap(kept)] {
		if d != (dueTown{}) {
			t.Errorf("the kept list still holds %+v at %d", d, i)
		}
	}
}

func TestNextPollBounds(t *testing.T) {
	s := &Settings{Interval: 5 * time.Second, IdleInterval: 60 * time.Second}
	last := time.Unix(1_800_000_000, 0)
	state := func(next time.Time, wallClock float64) *TownState {
		st := &StatusState{NextFireAt: next}
		if wallClock >= 0 {
			st.LastTick = &LastTick{WallClockSeconds: wallClock}
		}
		return &TownState{Up: true, LastPoll: last, Status: st}
	}
	for _, tc := range []struct {
		name string
		prev *TownState
		want time.Duration // after the last poll; -1: not scheduled by alarm
	}{
		{"new", nil, -1},
		{"down", &TownState{LastPoll: last}, -1},
		{"no status calls", &TownState{Up: true, LastPoll: last}, -1},
		{"active", state(last.Add(5*time.Second), 0.01), 5*time.Second + alarmMargin + 20*time.Millisecond},
		{"slow tick: margin capped at half an interval", state(last.Add(5*time.Second), 10), 7500 * time.Millisecond},
		{"idle 60s", state(last.Add(60*time.Second), -1), 60*time.Second + alarmMargin},
		{"idle 5m", state(last.Add(300*time.Second), -1), 60 * time.Second},
		{"never armed", state(time.Time{}, -1), 60 * time.Second},
		{"overdue", state(last.Add(-time.Hour), -1), 2500 * time.Millisecond},
	} {
		at, ok := nextPoll(tc.prev, s)
		if tc.want < 0 {
			if ok {
				t.Errorf("%s: scheduled at +%v, want the hash offset", tc.name, at.Sub(last))
			}
			continue
		}
		if !ok || at.Sub(last) != tc.want {
			t.Errorf("%s: next poll +%v (%v), want +%v", tc.name, at.Sub(last), ok, tc.want)
		}
	}
}

func TestShardOwnsEachTownOnce(t *testing.T) {
	// Every replica must agree: pin the hash (FNV-1a, 64 bits, then the jump
	// consistent hash) and a few owners.
	if got := townHash("a"); got != 0xaf63dc4c8601ec8c {
		t.Fatalf("townHash(a) = %#x: the shard hash changed, replicas of different versions would disagree", got)
	}
	for town, owner := range map[string]int{"town-01": 1, "town-02": 1, "town-03": 0, "town-04": 0} {
		for idx := 0; idx < 3; idx++ {
			if got := Owns(town, config.Shard{Index: idx, Count: 3}); got != (idx == owner) {
				t.Errorf("Owns(%s, %d of 3) = %v, owner is %d", town, idx, got, owner)
			}
		}
	}
	perShard := make([]int, 3)
	for i := 0; i < 3000; i++ {
		n := 0
		for idx := range perShard {
			if Owns(fmt.Sprintf("town-%04d", i), config.Shard{Index: idx, Count: 3}) {
				perShard[idx]++
				n++
			}
		}
		if n != 1 {
			t.Fatalf("town-%04d owned by %d shards", i, n)
		}
	}
	for idx, n := range perShard {
		if n < 900 || n > 1100 {
			t.Errorf("shard %d owns %d of 3000 towns: unbalanced %v", idx, n, perShard)
		}
	}
}

// TestResizeMovesOnlyWhatMust: growing from n to n+1 shards moves about
// 1/(n+1) of the towns, each to the new shard; shrinking back moves only
// those again.
func TestResizeMovesOnlyWhatMust(t *testing.T) {
	const towns = 10000
	for n := 1; n <= 7; n++ {
		moved := 0
		for i := 0; i < towns; i++ {
			id := fmt.Sprintf("town-%05d", i)
			before, after := ShardOf(id, n), ShardOf(id, n+1)
			if before == after {
				continue
			}
			moved++
			if after != n {
				t.Fatalf("%s moved from shard %d to %d growing %d→%d: only the new shard may gain towns", id, before, after, n, n+1)
			}
		}
		want := towns / (n + 1)
		if d := moved - want; d < -want/10 || d > want/10 {
			t.Errorf("growing %d→%d moved %d of %d towns, want about %d", n, n+1, moved, towns, want)
		}
	}
}

// TestBudgetAndConcurrencyHold runs real ticks against a server that counts
// in-flight requests and arrival times.
func TestBudgetAndConcurrencyHold(t *testing.T) {
	// Without a batch window the bucket holds one poll's two requests; a
	// window of 100ms at 100/s holds 10.
	for _, window := range []time.Duration{0, 100 * time.Millisecond} {
		t.Run(window.String(), func(t *testing.T) { testBudgetAndConcurrency(t, window) })
	}
}

func testBudgetAndConcurrency(t *testing.T, window time.Duration) {
	const towns, rps, conc = 60, 100.0, 3
	ids := make([]string, towns)
	for i := range ids {
		ids[i] = "t" + time.Duration(i).String()
	}
	f := newFixture(t, ids, func(s *Settings) {
		s.Concurrency, s.MaxRequestsPerSecond, s.Interval, s.Timeout, s.BatchWindow = conc, rps, 10*time.Second, time.Second, window
	})
	burst := max(2, int(rps*window.Seconds()))
	if got := f.poller.limiter.Burst(); got != burst {
		t.Fatalf("the budget grants %d requests at once, want %d", got, burst)
	}
	slow := func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond) // the target's own latency, so that requests overlap
		if strings.HasSuffix(r.URL.Path, "/status") {
			w.Write(gastowntest.Sample(t, "status.json"))
		} else {
			w.Write(gastowntest.Sample(t, "dry-run.json"))
		}
	}
	for _, id := range ids {
		f.fake.Handlers[id] = slow
	}
	start := time.Now()
	res := f.poller.Tick(context.Background())
	if res.Polled != towns {
		t.Fatalf("tick = %+v", res)
	}
	if m := f.fake.MaxInFlight(); m > conc {
		t.Errorf("max in-flight requests %d > concurrency %d", m, conc)
	}
	reqs := slices.Clone(f.fake.Requests)
	if len(reqs) != 2*towns {
		t.Fatalf("requests = %d", len(reqs))
	}
	// The bucket holds burst requests, then refills at rps: the k-th
	// request (from 0) cannot be let through before (k+1-burst)/rps. A
	// request arrives at or after it is let through, however late the
	// scheduler runs it, so this bound holds for the arrivals too.
	slices.SortFunc(reqs, func(a, b time.Time) int { return a.Compare(b) })
	for k, at := range reqs {
		if earliest := time.Duration(float64(k+1-burst) / rps * float64(time.Second)); at.Sub(start) < earliest-time.Millisecond {
			t.Fatalf("request %d arrived %v into the tick, before the budget of %v/s allows (%v)", k, at.Sub(start), rps, earliest)
		}
	}
}

func TestTickSkipsWhatCannotFinishInTime(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e"}
	f := newFixture(t, ids, func(s *Settings) {
		// One request per second and polls that may start within 0.96s:
		// the first poll takes the bucket's token, the next would wait 1s.
		s.MaxRequestsPerSecond, s.Interval, s.Timeout, s.WithStatus = 1, 1200*time.Millisecond, 500*time.Millisecond, false
	})
	for _, id := range ids {
		f.fake.DryRun[id] = gastowntest.Sample(t, "dry-run-idle.json")
	}
	if res := f.poller.Tick(context.Background()); res != (TickResult{Towns: 5, Polled: 1, Skipped: 4}) {
		t.Errorf("tick = %+v", res)
	}
	if got := testutil.ToFloat64(f.poller.pollsSkipped); got != 4 {
		t.Errorf("skipped counter = %v, want 4", got)
	}
	// The towns left behind go first next tick, so a budget too small for
	// the fleet rotates instead of starving the same towns.
	var order []string
	for _, d := range f.poller.due(map[string]bool{"a": true, "b": true, "c": true, "d": true, "e": true}, f.poller.settings.Load(), f.now, time.Second) {
		order = append(order, d.id)
	}
	if !slices.Equal(order, []string{"b", "c", "d", "e", "a"}) {
		t.Errorf("next tick's order = %v", order)
	}
}

// TestPollCutShortByTheTickSaysNothing: a slow town whose alarm puts its
// poll late in the tick has less than target.timeout left when the tick
// ends. That cut is the sidecar's doing, not the town's: the town keeps its
// state (no "down" for a town that answers within its timeout), and goes
// first next tick, where it has all its time.
func TestPollCutShortByTheTickSaysNothing(t *testing.T) {
	const interval, timeout, answersIn = 2 * time.Second, 1500 * time.Millisecond, time.Second
	f := newFixture(t, []string{"slow"}, func(s *Settings) { s.Interval, s.Timeout = interval, timeout })
	f.fake.Handlers["slow"] = func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(answersIn):
		case <-r.Context().Done():
			return
		}
		if strings.HasSuffix(r.URL.Path, "/status") {
			w.Write(gastowntest.Sample(t, "status.json"))
		} else {
			w.Write(gastowntest.Sample(t, "dry-run.json"))
		}
	}
	// Its alarm fires 1.2 s into the tick: its poll starts at 1.45 s, and
	// the tick ends at 2 s.
	was := &TownState{Up: true, LastPoll: f.now.Add(-interval), LastSuccess: f.now.Add(-interval),
		Status: &StatusState{Ticking: true, NextFireAt: f.now.Add(1200 * time.Millisecond)}}
	f.snap.Put("slow", was)
	if res := f.poller.Tick(context.Background()); res != (TickResult{Towns: 1, Polled: 1, CutShort: 1}) {
		t.Fatalf("first tick = %+v, want the one poll cut short", res)
	}
	if got := f.snap.Get("slow"); got != was {
		t.Errorf("the poll cut short by the tick replaced the town's state with %+v (error %q)", got, got.Err)
	}
	if got := testutil.ToFloat64(f.poller.pollCounts[0][2]); got != 1 {
		t.Errorf("status calls timed out = %v, want the 1 the tick's end stopped", got)
	}
	if got := testutil.ToFloat64(f.poller.pollsSkipped); got != 0 {
		t.Errorf("polls skipped = %v, want none: the poll was made", got)
	}
	if d := f.poller.due(map[string]bool{"slow": true}, f.poller.Settings(), f.now, interval); len(d) != 1 || d[0].offset != -1 {
		t.Fatalf("next tick's plan %+v, want the town first", d)
	}
	if res := f.poller.Tick(context.Background()); res != (TickResult{Towns: 1, Polled: 1}) {
		t.Errorf("second tick = %+v", res)
	}
	if got := f.snap.Get("slow"); got == was || !got.Up {
		t.Errorf("polled first with all its time, the town is %+v", got)
	}
}

// TestBehindTownsTakeTurns: with room for two polls a tick, six towns that
// are all due every tick take turns: the longest waiting first, whatever
// its id, so each is polled within three ticks.
func TestBehindTownsTakeTurns(t *testing.T) {
	f := newFixture(t, nil, nil)
	owned := map[string]bool{"a": true, "b": true, "c": true, "d": true, "e": true, "f": true}
	s := f.poller.settings.Load()
	f.poller.behind = maps.Clone(owned)
	polledAt := map[string]int{}
	for tick := 1; tick <= 12; tick++ {
		now := f.now.Add(time.Duration(tick) * s.Interval)
		behind := map[string]bool{}
		for i, d := range f.poller.due(owned, s, now, s.Interval) {
			if i < 2 { // what the budget allows; the rest wait, as Tick leaves them
				f.snap.Put(d.id, &TownState{LastPoll: now, Err: "down"})
				polledAt[d.id] = tick
			} else {
				behind[d.id] = true
			}
		}
		f.poller.behind = behind
		for id := range owned {
			if waited := tick - polledAt[id]; waited >= 3 {
				t.Errorf("tick %d: %s not polled for %d ticks (last at tick %d)", tick, id, waited, polledAt[id])
			}
		}
	}
}

func TestNotReadyUntilTheTownListIsRead(t *testing.T) {
	f := newFixture(t, nil, nil)
	fail := true
	s := *f.poller.settings.Load()
	s.Towns = NewTownSource(nil, "", func(context.Context) ([]string, error) {
		if fail {
			return nil, errors.New("connection refused")
		}
		return []string{"a"}, nil
	})
	f.poller.Reload(s)
	f.fake.DryRun["a"], f.fake.Status["a"] = gastowntest.Sample(t, "dry-run-idle.json"), gastowntest.Sample(t, "status.json")
	f.poller.Tick(context.Background())
	if f.poller.Ready() {
		t.Error("ready although the town list could not be read")
	}
	fail = false
	if res := f.poller.Tick(context.Background()); res.Polled != 1 || !f.poller.Ready() {
		t.Errorf("after a good read: %+v, ready %v", res, f.poller.Ready())
	}
}

// tickAndRecordArrivals runs one tick of towns that answer their dry run
// only, and returns when it started and when each town's call arrived.
func tickAndRecordArrivals(t *testing.T, f *fixture, ids []string) (time.Time, map[string]time.Time) {
	t.Helper()
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	for _, id := range ids {
		f.fake.Handlers[id] = func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			arrived[strings.Split(strings.TrimPrefix(r.URL.Path, "/debug/towns/"), "/")[0]] = time.Now()
			mu.Unlock()
			w.Write(gastowntest.Sample(t, "dry-run-idle.json"))
		}
	}
	start := time.Now()
	if res := f.poller.Tick(context.Background()); res.Polled != len(ids) {
		t.Fatalf("tick = %+v", res)
	}
	return start, arrived
}

func TestPollsAreSpreadByTownOffset(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e", "f"}
	const spread = 400 * time.Millisecond
	f := newFixture(t, ids, func(s *Settings) { s.Spread, s.WithStatus = spread, false })
	start, arrived := tickAndRecordArrivals(t, f, ids)
	// A poll waits for its town's offset, and ends within the tick; how
	// much later than its offset it starts is up to the scheduler.
	distinct := map[time.Duration]bool{}
	for _, id := range ids {
		off := offset(id, spread)
		distinct[off] = true
		if got := arrived[id].Sub(start); got < off || got > 5*time.Second {
			t.Errorf("town %s polled %v into the tick, its offset is %v", id, got, off)
		}
	}
	if len(distinct) < 4 {
		t.Errorf("offsets do not spread the towns: %v", distinct)
	}
	// The spread covers most of its window, so the bounds above are
	// spread too: the latest town waits long after the earliest.
	var offs []time.Duration
	for o := range distinct {
		offs = append(offs, o)
	}
	if slices.Max(offs)-slices.Min(offs) < spread/2 {
		t.Errorf("offsets %v span less than half the spread %v", offs, spread)
	}
}

// TestPollsStartAtTheEndOfTheirBatchWindow: with a batch window, a poll
// due within a window waits for the window's end, so the polls of one
// window start together, and never before their own offset.
func TestPollsStartAtTheEndOfTheirBatchWindow(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	const spread, window = 900 * time.Millisecond, 300 * time.Millisecond
	f := newFixture(t, ids, func(s *Settings) { s.Spread, s.BatchWindow, s.WithStatus = spread, window, false })
	start, arrived := tickAndRecordArrivals(t, f, ids)
	later := 0
	for _, id := range ids {
		off := offset(id, spread)
		end := (off + window - 1) / window * window
		if got := arrived[id].Sub(start); got < end || got > 5*time.Second {
			t.Errorf("town %s polled %v into the tick, its offset is %v and its window ends at %v", id, got, off, end)
		}
		if end > off {
			later++
		}
	}
	if later == 0 {
		t.Fatal("no town's offset falls inside a window: the test shows nothing")
	}
}

func TestBatchedOffsets(t *testing.T) {
	const ms = time.Millisecond
	for _, c := range []struct{ offset, window, startBy, want time.Duration }{
		{0, 100 * ms, time.Second, 0},               // due at the tick's start: at once
		{-1, 100 * ms, time.Second, -1},             // behind from the last tick: at once
		{1 * ms, 100 * ms, time.Second, 100 * ms},   // to its window's end
		{100 * ms, 100 * ms, time.Second, 100 * ms}, // on a window's end already
		{101 * ms, 100 * ms, time.Second, 200 * ms}, //
		{950 * ms, 100 * ms, time.Second, 950 * ms}, // the window ends after startBy: kept
		{950 * ms, 0, time.Second, 950 * ms},        // no window
		{350 * ms, 250 * ms, time.Second, 500 * ms}, //
		{750 * ms, 250 * ms, 800 * ms, 750 * ms},    // 1s would miss startBy
		{499 * ms, 250 * ms, 800 * ms, 500 * ms},    //
	} {
		if got := batched(c.offset, c.window, c.startBy); got != c.want {
			t.Errorf("batched(%v, %v, %v) = %v, want %v", c.offset, c.window, c.startBy, got, c.want)
		}
	}
}

// TestRunNeverPilesUpTicks runs the real loop: a tick that overruns two
// intervals (a slow end-of-tick save) is followed at once by the tick due
// last, late; the one before is skipped, and no two ticks ever run at once.
func TestRunNeverPilesUpTicks(t *testing.T) {
	const interval = 200 * time.Millisecond
	f := newFixture(t, []string{"a"}, func(s *Settings) { s.Interval, s.Timeout, s.WithStatus = interval, 20*time.Millisecond, false })
	f.fake.DryRun["a"] = gastowntest.Sample(t, "dry-run-idle.json")
	ctx, cancel := context.WithCancel(context.Background())
	var running, overlaps, ticks atomic.Int32
	f.poller.OnTickEnd = func() {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		if ticks.Add(1) == 1 {
			time.Sleep(2*interval + interval/2) // the slow save: two more ticks fall due meanwhile
		}
		if ticks.Load() == 4 {
			cancel()
		}
		running.Add(-1)
	}
	done := make(chan struct{})
	go func() { f.poller.Run(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop after its context ended")
	}
	if overlaps.Load() != 0 {
		t.Errorf("%d ticks overlapped", overlaps.Load())
	}
	if got := testutil.ToFloat64(f.poller.ticksSkipped); got != 1 {
		t.Errorf("ticks skipped = %v, want 1: of the 2 due during the slow tick, the last runs late", got)
	}
	if got := testutil.ToFloat64(f.poller.ticks); got != 3 {
		t.Errorf("ticks completed = %v, want 3 (the 4th was cancelled)", got)
	}
}

// TestRunKeepsTheCadenceWithAHungTown: a town that answers nothing until its
// poll is cut at the tick's end makes each tick end just past its interval.
// The next tick then starts at once, late by that much, instead of waiting
// for the one after: the other towns are still polled every interval.
func TestRunKeepsTheCadenceWithAHungTown(t *testing.T) {
	const interval = 200 * time.Millisecond
	// A timeout as long as the interval holds the hung poll to the tick's
	// end on every tick. With a timeout below the interval, as the config
	// requires, that happens when the poll starts late: every other tick,
	// since a poll the tick's end cut short goes first in the next.
	f := newFixture(t, []string{"hung", "ok"}, func(s *Settings) { s.Interval, s.Timeout = interval, interval })
	f.fake.Status["ok"], f.fake.DryRun["ok"] = gastowntest.Sample(t, "status.json"), gastowntest.Sample(t, "dry-run.json")
	f.fake.Handlers["hung"] = func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }
	ctx, cancel := context.WithCancel(context.Background())
	var ticks atomic.Int32
	f.poller.OnTickEnd = func() {
		if ticks.Add(1) == 4 {
			cancel()
		}
	}
	done := make(chan struct{})
	go func() { f.poller.Run(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop after its context ended")
	}
	// Each of the first three ticks overran: before, each made the next one
	// skip. Now only a tick that ran past two intervals skips one.
	if got := testutil.ToFloat64(f.poller.ticksSkipped); got > 1 {
		t.Errorf("ticks skipped = %v after 3 ticks that overran by their end's work, want none", got)
	}
	var m dto.Metric
	if err := f.poller.tickDur.Write(&m); err != nil {
		t.Fatal(err)
	}
	// The scenario itself: the hung poll held every tick to its end.
	if h := m.GetHistogram(); h.GetSampleCount() != 3 || h.GetSampleSum() < 3*interval.Seconds() {
		t.Errorf("%d ticks took %.3f s, want 3 ticks of at least %v each", h.GetSampleCount(), h.GetSampleSum(), interval)
	}
}

// TestWaitTurnAfterAReloadLoweredTheBurst: a reload in the middle of a tick
// (status calls turned off, a budget of one request per window) leaves the
// tick's polls asking for two requests against a burst of one: they wait
// for what the budget can grant instead of failing.
func TestWaitTurnAfterAReloadLoweredTheBurst(t *testing.T) {
	s := Settings{WithStatus: true, MaxRequestsPerSecond: 1000, BatchWindow: 2 * time.Millisecond, Concurrency: 1}
	p := NewPoller(s, NewSnapshot(), time.Now, slog.New(slog.DiscardHandler))
	s.WithStatus, s.MaxRequestsPerSecond = false, 500
	p.Reload(s)
	if b := p.limiter.Burst(); b != 1 {
		t.Fatalf("burst %d after the reload, want 1", b)
	}
	sem := make(chan struct{}, 1)
	if err := p.waitTurn(context.Background(), time.Now(), 0, sem, 2); err != nil {
		t.Fatalf("a poll of the tick before the reload: %v", err)
	}
	if len(sem) != 1 {
		t.Errorf("the poll holds %d slots, want 1", len(sem))
	}
}

// TestDownTownsHoldHalfTheSlots: towns that were down at their last poll
// hold at most half the slots while others are due; a hung town holds its
// slot for its whole timeout. When every due town is down, they may hold
// them all.
func TestDownTownsHoldHalfTheSlots(t *testing.T) {
	const timeout = time.Second
	healthy := []string{"a", "b", "c", "d", "e", "f"}
	hung := []string{"h1", "h2", "h3", "h4"}
	f := newFixture(t, append(slices.Clone(healthy), hung...), func(s *Settings) {
		s.Interval, s.Timeout, s.Concurrency, s.Spread = 5*time.Second, timeout, 4, 0
	})
	for _, id := range healthy {
		f.fake.Status[id], f.fake.DryRun[id] = gastowntest.Sample(t, "status.json"), gastowntest.Sample(t, "dry-run.json")
	}
	var mu sync.Mutex
	var arrived []time.Time
	for _, id := range hung {
		f.fake.Handlers[id] = func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			arrived = append(arrived, time.Now())
			mu.Unlock()
			<-r.Context().Done()
		}
	}
	// tick runs one tick and counts the hung towns' calls that arrived
	// within half a timeout of its start: before any slot a hung poll
	// holds could be free again.
	tick := func(name string, wantPolled int) int {
		t.Helper()
		mu.Lock()
		arrived = nil
		mu.Unlock()
		start := time.Now()
		if res := f.poller.Tick(context.Background()); res.Polled != wantPolled || res.Skipped != 0 {
			t.Fatalf("%s tick = %+v, want %d polled", name, res, wantPolled)
		}
		mu.Lock()
		defer mu.Unlock()
		early := 0
		for _, at := range arrived {
			if at.Sub(start) < timeout/2 {
				early++
			}
		}
		if len(arrived) != len(hung) {
			t.Fatalf("%s tick: %d calls of hung towns, want %d", name, len(arrived), len(hung))
		}
		return early
	}
	// Nobody is down yet: the hung towns, due last (by id), take all four
	// slots until their timeout.
	if got := tick("first", 10); got != 4 {
		t.Fatalf("%d hung towns polled at once in the first tick, want 4 (all the slots)", got)
	}
	for _, id := range hung {
		if st := f.snap.Get(id); st == nil || st.Up {
			t.Fatalf("%s after its timeout: %+v, want down", id, st)
		}
	}
	f.now = f.now.Add(5 * time.Second)
	if got := tick("second", 10); got != 2 {
		t.Errorf("%d down towns polled at once beside healthy ones, want 2 (half the slots)", got)
	}
	// Only down towns due: no one else needs the slots.
	for _, id := range healthy {
		f.snap.Put(id, &TownState{Up: true, LastPoll: f.now, Status: &StatusState{}})
	}
	if got := tick("third", 4); got != 4 {
		t.Errorf("%d down towns polled at once with no other town due, want 4", got)
	}
}

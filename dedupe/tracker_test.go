package dedupe

import (
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/heldheap"
)

// clock is a manual time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var (
	noHook = gastown.Violation{Invariant: 7, Message: "Working agent a-1 has no hook"}
	rig2   = gastown.Violation{Invariant: 3, Message: "Rig r1 has 2 in_progress MR beads (should be at most 1)"}
	rig3   = gastown.Violation{Invariant: 3, Message: "Rig r1 has 3 in_progress MR beads (should be at most 1)"}
)

// brief renders transitions as "kind inv seq message".
func brief(ts []Transition) []string {
	var out []string
	for _, tr := range ts {
		out = append(out, fmt.Sprintf("%s %d %d %s", tr.Kind, tr.Invariant, tr.Seq, tr.Message))
	}
	return out
}

type poll struct {
	ok   bool
	vs   []gastown.Violation
	want []string
}

func TestTrackerHysteresis(t *testing.T) {
	ok := func(vs ...gastown.Violation) poll { return poll{ok: true, vs: vs} }
	fail := poll{ok: false}
	with := func(p poll, want ...string) poll { p.want = want; return p }
	for _, tc := range []struct {
		name  string
		opts  Options
		polls []poll
	}{
		{"opens after open_after", Options{OpenAfter: 2, ResolveAfter: 3}, []poll{
			ok(noHook),
			with(ok(noHook), "opened 7 1 Working agent a-1 has no hook"),
			ok(noHook), ok(noHook),
		}},
		{"fewer than open_after: nothing", Options{OpenAfter: 3, ResolveAfter: 1}, []poll{
			ok(noHook), ok(noHook), ok(), ok(noHook), ok(noHook), ok(), ok(),
		}},
		{"resolves after resolve_after absences", Options{OpenAfter: 1, ResolveAfter: 3}, []poll{
			with(ok(noHook), "opened 7 1 Working agent a-1 has no hook"),
			ok(), ok(),
			with(ok(), "resolved 7 2 Working agent a-1 has no hook"),
			ok(),
		}},
		{"a flap shorter than resolve_after resets the absence run", Options{OpenAfter: 1, ResolveAfter: 2}, []poll{
			with(ok(noHook), "opened 7 1 Working agent a-1 has no hook"),
			ok(), ok(noHook), ok(), ok(noHook),
			ok(), with(ok(), "resolved 7 2 Working agent a-1 has no hook"),
		}},
		{"failed polls resolve nothing and count as nothing", Options{OpenAfter: 2, ResolveAfter: 2}, []poll{
			ok(noHook), fail, fail,
			with(ok(noHook), "opened 7 1 Working agent a-1 has no hook"),
			fail, fail, fail, fail, fail, fail,
			ok(), fail, fail,
			with(ok(), "resolved 7 2 Working agent a-1 has no hook"),
		}},
		{"count change in message is the same violation", Options{OpenAfter: 1, ResolveAfter: 1}, []poll{
			with(ok(rig2), "opened 3 1 Rig r1 has 2 in_progress MR beads (should be at most 1)"),
			ok(rig3), ok(rig2), ok(rig3),
			with(ok(), "resolved 3 2 Rig r1 has 3 in_progress MR beads (should be at most 1)"),
		}},
		{"reopening continues the sequence", Options{OpenAfter: 1, ResolveAfter: 1}, []poll{
			with(ok(noHook), "opened 7 1 Working agent a-1 has no hook"),
			with(ok(), "resolved 7 2 Working agent a-1 has no hook"),
			with(ok(noHook), "opened 7 3 Working agent a-1 has no hook"),
			with(ok(), "resolved 7 4 Working agent a-1 has no hook"),
		}},
		{"two violations, one poll", Options{OpenAfter: 1, ResolveAfter: 1}, []poll{
			with(ok(noHook, rig2), "opened 3 1 Rig r1 has 2 in_progress MR beads (should be at most 1)", "opened 7 1 Working agent a-1 has no hook"),
			with(ok(rig3), "resolved 7 2 Working agent a-1 has no hook"),
		}},
		{"duplicate identity in one poll counts once", Options{OpenAfter: 2, ResolveAfter: 1}, []poll{
			ok(rig2, rig3),
			with(ok(rig2), "opened 3 1 Rig r1 has 2 in_progress MR beads (should be at most 1)"),
		}},
		{"zero options mean 1", Options{}, []poll{
			with(ok(noHook), "opened 7 1 Working agent a-1 has no hook"),
			with(ok(), "resolved 7 2 Working agent a-1 has no hook"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			tr := NewTracker(tc.opts, c.Now)
			for i, p := range tc.polls {
				c.Add(5 * time.Second)
				got := brief(tr.Observe("town-a", p.ok, p.vs))
				if !reflect.DeepEqual(got, p.want) {
					t.Fatalf("poll %d: transitions %q, want %q", i, got, p.want)
				}
			}
		})
	}
}

func TestTrackerTransitionFields(t *testing.T) {
	c := newClock()
	start := c.Now()
	tr := NewTracker(Options{OpenAfter: 2, ResolveAfter: 1}, c.Now)
	tr.Observe("town-a", true, []gastown.Violation{rig2})
	c.Add(5 * time.Second)
	got := tr.Observe("town-a", true, []gastown.Violation{rig3})
	want := []Transition{{
		Town: "town-a", Identity: "3:Rig r1 has # in_progress MR beads (should be at most #)", Invariant: 3,
		Message: rig3.Message, Subject: "r1", Kind: Opened, Seq: 1,
		At: start.Add(5 * time.Second), FirstSeen: start, LastSeen: start.Add(5 * time.Second), Observations: 2,
		Origin: "/20785", // a memory-only tracker's origin is empty; 2026-11-28 is day 20785
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("opened = %+v\nwant      %+v", got, want)
	}
	c.Add(5 * time.Second)
	tr.Observe("town-a", true, []gastown.Violation{rig2})
	if got, want := tr.OpenViolations("town-a")[0].Observations, 3; got != want {
		t.Errorf("open observations = %d, want %d", got, want)
	}
	c.Add(5 * time.Second)
	got = tr.Observe("town-a", true, nil)
	want = []Transition{{
		Town: "town-a", Identity: want[0].Identity, Invariant: 3, Message: rig2.Message, Subject: "r1",
		Kind: Resolved, Seq: 2, At: start.Add(15 * time.Second), FirstSeen: start,
		LastSeen: start.Add(10 * time.Second), Observations: 3, Origin: "/20785", // the day of its first transition
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("resolved = %+v\nwant        %+v", got, want)
	}
}

// TestDormantIdentityComesBackWithNewIds: an identity dormant for Retain is
// dropped and counts its transitions from 1 again; the day of its new first
// transition in its origin gives them event ids Sentry has not seen.
func TestDormantIdentityComesBackWithNewIds(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 1, ResolveAfter: 1, Retain: 7 * 24 * time.Hour}, c.Now)
	first := tr.Observe("town-a", true, []gastown.Violation{noHook})
	tr.Observe("town-a", true, nil) // resolved
	c.Add(8 * 24 * time.Hour)
	tr.Observe("town-a", true, nil) // dormant and old: dropped
	again := tr.Observe("town-a", true, []gastown.Violation{noHook})
	if len(first) != 1 || len(again) != 1 || again[0].Seq != 1 || again[0].Kind != Opened {
		t.Fatalf("first %v, again %v: want opened 1 both times", brief(first), brief(again))
	}
	if again[0].Origin == first[0].Origin {
		t.Errorf("origin %q both times: the event ids repeat", again[0].Origin)
	}
	if want := EpochOrigin("", c.Now()); again[0].Origin != want {
		t.Errorf("origin %q, want %q", again[0].Origin, want)
	}
}

func TestTrackerRepeat(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 1, ResolveAfter: 1, RepeatInterval: time.Hour}, c.Now)
	var kinds []string
	for range 3 * 720 { // three hours of 5 s polls
		c.Add(5 * time.Second)
		for _, x := range tr.Observe("town-a", true, []gastown.Violation{noHook}) {
			kinds = append(kinds, fmt.Sprintf("%s/%d", x.Kind, x.Seq))
		}
	}
	if want := []string{"opened/1", "repeated/2", "repeated/3"}; !reflect.DeepEqual(kinds, want) {
		t.Fatalf("transitions over 3h = %v, want %v", kinds, want)
	}
	if got := tr.TransitionCounts(); !reflect.DeepEqual(got, map[Kind]uint64{Opened: 1, Repeated: 2, Resolved: 0}) {
		t.Errorf("TransitionCounts = %v", got)
	}
	ov := tr.OpenViolations("town-a")
	if len(ov) != 1 || ov[0].Kind != Repeated || ov[0].Seq != 3 || ov[0].Observations != 2160 {
		t.Errorf("OpenViolations = %+v, want one repeated seq 3 with 2160 observations", ov)
	}
}

func TestTrackerCountsAndForget(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 1, ResolveAfter: 1}, c.Now)
	tr.Observe("town-a", true, []gastown.Violation{noHook, rig2, {Invariant: 7, Message: "Working agent a-2 has no hook"}})
	tr.Observe("town-b", true, []gastown.Violation{rig3})
	tr.Observe("town-c", true, nil)
	// town-d: two of invariant 3 and one of 30, whose identity ("30:…")
	// starts as theirs do: each invariant is counted whole.
	tr.Observe("town-d", true, []gastown.Violation{rig2, {Invariant: 30, Message: "Rig r1 x"}, {Invariant: 3, Message: "Rig r9 y"}})
	want := map[string]map[int]int{"town-a": {7: 2, 3: 1}, "town-b": {3: 1}, "town-d": {3: 2, 30: 1}}
	if got := tr.OpenCounts(); !reflect.DeepEqual(got, want) {
		t.Fatalf("OpenCounts = %v, want %v", got, want)
	}
	tr.Forget("town-a")
	if got := tr.OpenCounts(); !reflect.DeepEqual(got, map[string]map[int]int{"town-b": {3: 1}, "town-d": {3: 2, 30: 1}}) {
		t.Fatalf("after Forget OpenCounts = %v", got)
	}
	if got := tr.OpenViolations("town-a"); got != nil {
		t.Errorf("forgotten town still has %v", got)
	}
	// Forgetting is not resolving: no transition when it comes back clean.
	if got := tr.Observe("town-a", true, nil); got != nil {
		t.Errorf("clean poll after Forget gave %v", got)
	}
	// Back with the violation: a new opening, with a sequence number that
	// continues (a new event id, not one already sent).
	if got := brief(tr.Observe("town-a", true, []gastown.Violation{noHook})); !reflect.DeepEqual(got, []string{"opened 7 2 Working agent a-1 has no hook"}) {
		t.Errorf("town back after Forget: %q", got)
	}
}

func TestForgottenTownExpires(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 1, ResolveAfter: 1, Retain: time.Hour}, c.Now)
	tr.Observe("town-a", true, []gastown.Violation{noHook})
	tr.Observe("town-b", true, []gastown.Violation{noHook})
	tr.Forget("town-a")
	tr.Forget("town-a") // twice is harmless
	c.Add(time.Hour)
	_ = tr.Save()
	if got := towns(tr); !reflect.DeepEqual(got, []string{"town-a", "town-b"}) {
		t.Fatalf("towns within Retain = %v", got)
	}
	c.Add(time.Second)
	_ = tr.Save()
	if got := towns(tr); !reflect.DeepEqual(got, []string{"town-b"}) {
		t.Fatalf("towns after Retain = %v", got)
	}
}

// towns lists the towns the tracker holds any state for.
func towns(tr *Tracker) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for town := range tr.towns.All() {
		out = append(out, town)
	}
	sort.Strings(out)
	return out
}

func TestTrackerDormantExpires(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 1, ResolveAfter: 1, Retain: time.Hour}, c.Now)
	tr.Observe("town-a", true, []gastown.Violation{noHook})
	tr.Observe("town-a", true, nil) // resolved, seq 2 kept
	c.Add(30 * time.Minute)
	tr.Observe("town-a", true, nil)
	if got := towns(tr); len(got) != 1 {
		t.Fatalf("dormant entry dropped early: towns %v", got)
	}
	c.Add(31 * time.Minute)
	tr.Observe("town-a", true, nil)
	if got := towns(tr); len(got) != 0 {
		t.Fatalf("dormant entry kept past Retain: towns %v", got)
	}
}

func TestTrackerConcurrentTowns(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 2, ResolveAfter: 2}, c.Now)
	var wg sync.WaitGroup
	var mu sync.Mutex
	opened := 0
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			town := fmt.Sprintf("town-%02d", i)
			for range 10 {
				n := len(tr.Observe(town, true, []gastown.Violation{noHook}))
				_ = tr.OpenCounts()
				mu.Lock()
				opened += n
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if opened != 64 {
		t.Fatalf("opened %d transitions across 64 towns, want 64", opened)
	}
	if got := tr.TransitionCounts()[Opened]; got != 64 {
		t.Fatalf("TransitionCounts[opened] = %d", got)
	}
}

// TestSimulatedDay is the headline figure: one town whose violation never
// clears, polled every 5 s for a day. The seed sent one event per poll.
func TestSimulatedDay(t *testing.T) {
	for _, tc := range []struct {
		repeat time.Duration
		want   int
	}{{0, 1}, {24 * time.Hour, 1}, {6 * time.Hour, 4}} {
		events := simulateDay(tc.repeat)
		if events != tc.want {
			t.Errorf("repeat_interval %s: %d events in a day, want %d", tc.repeat, events, tc.want)
		}
	}
}

func simulateDay(repeat time.Duration) int {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 2, ResolveAfter: 3, RepeatInterval: repeat}, c.Now)
	events := 0
	for i := range 17280 {
		// The count in the message drifts; the identity does not.
		v := gastown.Violation{Invariant: 3, Message: strings.Replace(rig2.Message, "2", fmt.Sprint(2+i%5), 1)}
		events += len(tr.Observe("town-a", true, []gastown.Violation{v}))
		c.Add(5 * time.Second)
	}
	return events
}

func BenchmarkSimulatedDay(b *testing.B) {
	var events int
	for b.Loop() {
		events = simulateDay(24 * time.Hour)
	}
	b.ReportMetric(float64(events), "events/day")
	b.ReportMetric(17280, "seed-events/day")
}

func BenchmarkObserve(b *testing.B) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 2, ResolveAfter: 3}, c.Now)
	vs := []gastown.Violation{noHook, rig2}
	for b.Loop() {
		tr.Observe("town-a", true, vs)
	}
}

// TestMayNotifyForeseesEveryNotification: over a day of polls with
// violations coming and going, every poll that opens or repeats a violation
// was foreseen by MayNotify, and a violation that simply stays open is not
// (its polls keep no raw status).
func TestMayNotifyForeseesEveryNotification(t *testing.T) {
	for _, openAfter := range []int{1, 2, 3} {
		c := newClock()
		tr := NewTracker(Options{OpenAfter: openAfter, ResolveAfter: 2, RepeatInterval: time.Hour}, c.Now)
		foreseen, polls, notified := 0, 0, 0
		for i := range 24 * 720 {
			c.Add(5 * time.Second)
			var vs []gastown.Violation
			if i%1000 < 600 { // 50 minutes of #7 in every 83
				vs = append(vs, noHook)
			}
			if i%7 == 0 || i%7 == 1 { // #3 flickers
				vs = append(vs, rig2)
			}
			may := tr.MayNotify("town-a", c.Now(), time.Minute)
			for _, x := range tr.Observe("town-a", true, vs) {
				if x.Kind != Resolved {
					notified++
					if !may {
						t.Fatalf("open_after %d, poll %d: %s %d not foreseen", openAfter, i, x.Kind, x.Invariant)
					}
				}
			}
			polls++
			if may {
				foreseen++
			}
		}
		if notified == 0 || openAfter > 1 && foreseen > polls/5 {
			t.Errorf("open_after %d: %d of %d polls foreseen for %d notifications", openAfter, foreseen, polls, notified)
		}
	}
}

func TestAllOpenViolations(t *testing.T) {
	tr := NewTracker(Options{OpenAfter: 1, ResolveAfter: 1}, newClock().Now)
	tr.Observe("town-a", true, []gastown.Violation{noHook, rig2})
	tr.Observe("town-b", true, []gastown.Violation{noHook})
	tr.Observe("town-a", true, []gastown.Violation{rig2})
	var got []string
	for _, x := range tr.AllOpenViolations() {
		got = append(got, x.Town+" "+strings.SplitN(x.Identity, ":", 2)[0])
	}
	sort.Strings(got)
	if want := []string{"town-a 3", "town-b 7"}; !reflect.DeepEqual(got, want) {
		t.Errorf("open %v, want %v", got, want)
	}
}

// TestManyViolationsInOneTown: a town's entries are kept sorted as
// identities come and go in any order, and each transition belongs to the
// identity that changed.
func TestManyViolationsInOneTown(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 1, ResolveAfter: 1}, c.Now)
	v := func(i int) gastown.Violation {
		return gastown.Violation{Invariant: 7, Message: fmt.Sprintf("Working agent a-%02d has no hook", i)}
	}
	poll := func(ids ...int) []Transition {
		var vs []gastown.Violation
		for _, i := range ids {
			vs = append(vs, v(i))
		}
		c.Add(5 * time.Second)
		return tr.Observe("t", true, vs)
	}
	if got := poll(40, 3, 17, 25, 9); len(got) != 5 {
		t.Fatalf("first poll: %v", brief(got))
	}
	// 17 and 40 go; 1, 30 and 12 come, between and around the others.
	got := brief(poll(30, 3, 9, 1, 25, 12))
	want := []string{ // ordered by identity
		"opened 7 1 " + v(1).Message, "opened 7 1 " + v(12).Message, "resolved 7 2 " + v(17).Message,
		"opened 7 1 " + v(30).Message, "resolved 7 2 " + v(40).Message,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("transitions %v, want %v", got, want)
	}
	var open []string
	for _, o := range tr.OpenViolations("t") {
		open = append(open, o.Identity)
	}
	var wantOpen []string
	for _, i := range []int{1, 3, 9, 12, 25, 30} {
		wantOpen = append(wantOpen, Identity(v(i)))
	}
	if !reflect.DeepEqual(open, wantOpen) {
		t.Errorf("open %v, want %v", open, wantOpen)
	}
	// 17 comes back: its sequence continues.
	if got := poll(17); len(got) != 7 {
		t.Errorf("one opening and six resolves, got %v", brief(got))
	} else if o := got[slices.IndexFunc(got, func(tr Transition) bool { return tr.Kind == Opened })]; o.Identity != Identity(v(17)) || o.Seq != 3 {
		t.Errorf("17 came back as %+v, want seq 3", o)
	}
}

// A town whose many violations resolve gives their room back.
func TestResolvedViolationsGiveTheirRoomBack(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 1, ResolveAfter: 1, Retain: time.Minute}, c.Now)
	var many []gastown.Violation
	for i := range 200 {
		many = append(many, gastown.Violation{Invariant: 7, Message: fmt.Sprintf("Working agent a-%03d has no hook", i)})
	}
	tr.Observe("t", true, many)
	c.Add(5 * time.Second)
	if got := tr.Observe("t", true, many[:1]); len(got) != 199 {
		t.Fatalf("%d transitions, want 199 resolves", len(got))
	}
	c.Add(2 * time.Minute) // past Retain: the resolved ones expire at the next poll
	tr.Observe("t", true, many[:1])
	tr.mu.Lock()
	n, capacity := len(tr.towns.Get("t").entries), cap(tr.towns.Get("t").entries)
	tr.mu.Unlock()
	if n != 1 || capacity > 16 {
		t.Errorf("%d entries left in a slice of capacity %d, want 1 in at most 16", n, capacity)
	}
	if got := tr.OpenViolations("t"); len(got) != 1 || got[0].Message != many[0].Message {
		t.Errorf("open after the shrink: %+v", got)
	}
}

// trackerBytesPerTown is the heap the tracker holds per town when each of n
// towns has one open violation, measured with runtime.MemStats. The
// violations' messages are made before the first reading: they are the
// poll's, not the tracker's.
func trackerBytesPerTown(n int) float64 {
	ids := make([]string, n)
	vs := make([][]gastown.Violation, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("town-%05d", i)
		vs[i] = []gastown.Violation{{Invariant: 7, Message: fmt.Sprintf("Working agent a-%d has no hook", i)}}
	}
	held := heldheap.Bytes(func() any {
		tr := NewTracker(Options{OpenAfter: 2}, newClock().Now)
		for range 3 {
			for i, id := range ids {
				tr.Observe(id, true, vs[i])
			}
		}
		tr.Save() // a memory-only tracker: forgets what is dirty, as each tick does
		return tr
	})
	runtime.KeepAlive(vs) // the poll's, as the tracker keeps their messages
	return float64(held) / float64(n)
}

// TestTrackerMemoryPerTown: a town with one open violation costs the tracker
// at most 400 bytes: its entry (160, its times in stamps; 232 as
// time.Times, when the town cost 498), its identity and the map slot.
func TestTrackerMemoryPerTown(t *testing.T) {
	per := trackerBytesPerTown(10000)
	t.Logf("tracker: %.0f bytes per town with one open violation", per)
	if per > 400 {
		t.Errorf("the tracker holds %.0f bytes per town with one open violation, want at most 400", per)
	}
}

// TestSameMessageOtherInvariant: a town's known message names an identity
// only for its own invariant; the same words under another invariant are
// another violation.
func TestSameMessageOtherInvariant(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 1, ResolveAfter: 1}, c.Now)
	tr.Observe("town-a", true, []gastown.Violation{noHook})
	c.Add(5 * time.Second)
	other := noHook
	other.Invariant = 5
	got := tr.Observe("town-a", true, []gastown.Violation{noHook, other})
	if len(got) != 1 || got[0].Identity != Identity(other) || got[0].Kind != Opened {
		t.Fatalf("transitions = %+v, want %s opened", got, Identity(other))
	}
	if n := len(tr.OpenViolations("town-a")); n != 2 {
		t.Errorf("%d open violations, want 2", n)
	}
}

// TestOneIdentityTwiceInAPoll: two violations with one identity in a poll
// are one observation, carrying the later message; the others of the poll
// are judged as usual, whatever order they come in.
func TestOneIdentityTwiceInAPoll(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 2, ResolveAfter: 1}, c.Now)
	tr.Observe("town-a", true, []gastown.Violation{rig2, noHook, rig3})
	c.Add(5 * time.Second)
	got := brief(tr.Observe("town-a", true, []gastown.Violation{noHook, rig3, rig2}))
	if want := []string{"opened 3 1 " + rig2.Message, "opened 7 1 " + noHook.Message}; !reflect.DeepEqual(got, want) {
		t.Fatalf("second poll = %q, want %q", got, want)
	}
	for _, v := range tr.OpenViolations("town-a") {
		if v.Invariant == 3 && v.Observations != 2 {
			t.Errorf("rig r1 observed %d times in two polls, want 2", v.Observations)
		}
	}
	c.Add(5 * time.Second)
	if got := brief(tr.Observe("town-a", true, []gastown.Violation{rig3})); !reflect.DeepEqual(got, []string{"resolved 7 2 " + noHook.Message}) {
		t.Fatalf("third poll = %q, want only noHook resolved", got)
	}
}

// TestEntryEpochCostsNothing: the epoch sits in the padding after the two
// flags, so an entry is the 160 bytes it was before it had one (on 64-bit
// platforms; the tracker memory test's bound is too loose to see 8 bytes).
func TestEntryEpochCostsNothing(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the layout is that of 64-bit platforms")
	}
	if n := unsafe.Sizeof(entry{}); n != 160 {
		t.Errorf("an entry takes %d bytes, want 160", n)
	}
}

package dedupe

import (
	"bytes"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

func handedOver(towns ...string) func(string) bool {
	return func(town string) bool {
		for _, t := range towns {
			if t == town {
				return true
			}
		}
		return false
	}
}

// TestHandOverWithoutNoise is a town handed over from another replica:
// what its first poll here shows was reported there, so it opens nothing,
// counts as open at once, and its resolve is reported here. A town this
// replica did not gain from another reports what it finds, as always.
func TestHandOverWithoutNoise(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 2, ResolveAfter: 2}, c.Now)
	tr.HandOver(handedOver("town-a"))
	step := func(town string, ok bool, vs ...gastown.Violation) []string {
		c.Add(5 * time.Second)
		return brief(tr.Observe(town, ok, vs))
	}
	if got := step("town-a", false); got != nil {
		t.Fatalf("failed poll: %q", got)
	}
	if got := tr.OpenCounts(); len(got) != 0 {
		t.Fatalf("a failed poll took the town over: %v", got)
	}
	adoptedAt := c.Now().Add(5 * time.Second)
	if got := step("town-a", true, noHook); got != nil {
		t.Fatalf("first poll issued %q, want nothing: the violation was reported by the previous owner", got)
	}
	if got, want := tr.OpenCounts(), map[string]map[int]int{"town-a": {7: 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("OpenCounts after the hand-over = %v, want %v (open at once, no open_after wait)", got, want)
	}
	if tr.Adopted() != 1 {
		t.Errorf("Adopted = %d, want 1", tr.Adopted())
	}
	ov := tr.OpenViolations("town-a")
	if len(ov) != 1 || ov[0].Kind != Adopted || !ov[0].Adopted || !ov[0].FirstSeen.Equal(adoptedAt) {
		t.Errorf("OpenViolations = %+v, want one adopted at %s", ov, adoptedAt)
	}
	if got := step("town-a", true, noHook); got != nil {
		t.Fatalf("second poll: %q", got)
	}
	// A violation that appears after the hand-over is new: it opens.
	if got := step("town-a", true, noHook, rig2); got != nil {
		t.Fatalf("new violation, first sighting: %q", got)
	}
	if got, want := step("town-a", true, noHook, rig2), []string{"opened 3 1 " + rig2.Message}; !reflect.DeepEqual(got, want) {
		t.Fatalf("new violation after the hand-over: %q, want %q", got, want)
	}
	// The adopted one resolves here: its resolve is not lost.
	step("town-a", true, rig2)
	c.Add(5 * time.Second)
	got := tr.Observe("town-a", true, []gastown.Violation{rig2})
	if len(got) != 1 || got[0].Kind != Resolved || got[0].Seq != 2 || !got[0].Adopted || got[0].Identity != Identity(noHook) {
		t.Fatalf("resolve of the adopted violation = %+v, want one resolved, seq 2, adopted", got)
	}
	if counts := tr.TransitionCounts(); counts[Opened] != 1 || counts[Resolved] != 1 {
		t.Errorf("TransitionCounts = %v: taking over is no transition", counts)
	}
	// Back again later: a new episode, opened as usual and not adopted.
	step("town-a", true, noHook, rig2)
	c.Add(5 * time.Second)
	got = tr.Observe("town-a", true, []gastown.Violation{noHook, rig2})
	if len(got) != 1 || got[0].Kind != Opened || got[0].Seq != 3 || got[0].Adopted {
		t.Fatalf("violation back after its resolve = %+v, want opened seq 3, not adopted", got)
	}

	// A town that was not handed over (a first deployment, a town new to
	// the watch list) reports what it finds.
	step("town-b", true, noHook)
	if got, want := step("town-b", true, noHook), []string{"opened 7 1 " + noHook.Message}; !reflect.DeepEqual(got, want) {
		t.Fatalf("town not handed over: %q, want %q", got, want)
	}
}

func TestHandOverOfACleanTownThenAViolation(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 1, ResolveAfter: 1}, c.Now)
	tr.HandOver(handedOver("town-a"))
	if got := tr.Observe("town-a", true, nil); got != nil {
		t.Fatalf("clean first poll: %+v", got)
	}
	if got, want := brief(tr.Observe("town-a", true, []gastown.Violation{noHook})), []string{"opened 7 1 " + noHook.Message}; !reflect.DeepEqual(got, want) {
		t.Fatalf("violation after a clean first poll: %q, want %q", got, want)
	}
}

func TestHandOverWaitsForAPollThatJudgesEverything(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 1, ResolveAfter: 1}, c.Now)
	tr.HandOver(handedOver("town-a"))
	unnamedUnknown := func(inv int) bool { return inv == gastown.Unnamed }
	if got := tr.ObservePartly("town-a", []gastown.Violation{noHook}, unnamedUnknown); got != nil {
		t.Fatalf("partial first poll: %+v", got)
	}
	if got := tr.OpenCounts(); len(got) != 0 {
		t.Fatalf("a partial poll took the town over: %v", got)
	}
	unnamed := gastown.Violation{Invariant: gastown.Unnamed, Message: "1 more"}
	if got := tr.ObservePartly("town-a", []gastown.Violation{noHook, unnamed}, nil); got != nil {
		t.Fatalf("full first poll: %+v", got)
	}
	if got, want := tr.OpenCounts()["town-a"], map[int]int{7: 1, gastown.Unnamed: 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("taken over = %v, want %v", got, want)
	}
}

// TestHandedBack: a town that moved away and is handed back is a first poll
// again; its sequence numbers go on, so its ids are new.
func TestHandedBack(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 1, ResolveAfter: 1}, c.Now)
	tr.Observe("town-a", true, []gastown.Violation{noHook}) // opened, seq 1
	tr.Forget("town-a")
	tr.HandOver(handedOver("town-a"))
	if got := tr.Observe("town-a", true, []gastown.Violation{noHook}); got != nil {
		t.Fatalf("first poll after coming back: %+v", got)
	}
	got := tr.Observe("town-a", true, nil)
	if len(got) != 1 || got[0].Kind != Resolved || got[0].Seq != 3 {
		t.Fatalf("resolve after coming back = %+v, want resolved seq 3 (1 opened, 2 taken over)", got)
	}
}

// TestCleanTownHandedBack: a town handed over without violations leaves no
// state; when it moves away and is handed back with a violation open at its
// previous watcher, that poll is a first poll again: taken as reported.
func TestCleanTownHandedBack(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 1, ResolveAfter: 1}, c.Now)
	tr.HandOver(handedOver("town-a"))
	if got := tr.Observe("town-a", true, nil); got != nil {
		t.Fatalf("first poll of a clean town: %+v", got)
	}
	tr.Retain(map[string]bool{"town-b": true}) // town-a moved away
	tr.HandOver(handedOver("town-a"))          // and comes back
	if got := tr.Observe("town-a", true, []gastown.Violation{noHook}); got != nil {
		t.Fatalf("first poll after coming back: %+v, want the violation taken as reported", got)
	}
	if n := tr.Adopted(); n != 1 {
		t.Errorf("adopted %d, want 1", n)
	}
}

// TestLastTransitions: the last transition of each violation since a
// time, an adoption aside (the previous watcher sent it).
func TestLastTransitions(t *testing.T) {
	c := newClock()
	tr := NewTracker(Options{OpenAfter: 1, ResolveAfter: 1}, c.Now)
	tr.Observe("old", true, []gastown.Violation{noHook}) // opened, then too old
	c.Add(time.Hour)
	since := c.Now()
	tr.Observe("town-a", true, []gastown.Violation{noHook}) // opened
	tr.Observe("town-a", true, nil)                         // resolved: the last
	tr.HandOver(handedOver("town-b"))
	tr.Observe("town-b", true, []gastown.Violation{noHook}) // adopted
	var got []string
	for _, tr := range tr.LastTransitions(since) {
		got = append(got, fmt.Sprintf("%s %s %d", tr.Town, tr.Kind, tr.Seq))
	}
	if want := []string{"town-a resolved 2"}; !slices.Equal(got, want) {
		t.Errorf("last transitions %v, want %v", got, want)
	}
}

// TestOriginSurvivesRestart: the origin in event ids stays with the state
// file, and another state file has another.
func TestOriginSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	open := func(dir string) *Tracker {
		tr, err := OpenTracker(dir, Options{OpenAfter: 1, ResolveAfter: 1}, c.Now, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	tr := open(dir)
	origin := tr.Origin()
	if len(origin) < 16 {
		t.Fatalf("origin %q: want a random id", origin)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	tr = open(dir)
	defer tr.Close()
	got := tr.Observe("town-a", true, []gastown.Violation{noHook})
	if len(got) != 1 || got[0].Origin != EpochOrigin(origin, got[0].At) {
		t.Fatalf("transition after restart = %+v, want origin %q and the day", got, origin)
	}
	other := open(t.TempDir())
	defer other.Close()
	if other.Origin() == origin {
		t.Errorf("two state files share origin %q", origin)
	}
}

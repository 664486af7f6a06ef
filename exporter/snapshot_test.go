package exporter

import (
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/heldheap"
)

// Towns decoded from separate answers share each action type's index.
func TestActionTypesAreShared(t *testing.T) {
	snap := NewSnapshot()
	sampleTown(t, snap, "a", "dry-run.json", "status.json")
	sampleTown(t, snap, "b", "dry-run.json", "status.json")
	a, b := snap.Get("a").DryRun.Actions, snap.Get("b").DryRun.Actions
	if len(a) != 8 || !slices.Equal(a, b) {
		t.Fatalf("actions %v and %v", a, b)
	}
	if got := NewTypeCount("poll_pr", 3); got.Type() != "poll_pr" || got.Count != 3 {
		t.Errorf("NewTypeCount: %q %d", got.Type(), got.Count)
	}
}

// Past the fleet's cap of names, new ones are counted as "other", and the
// names already known keep theirs.
func TestActionTypeNamesAreCapped(t *testing.T) {
	saved := actionTypes
	t.Cleanup(func() { actionTypes = saved })
	actionTypes = newTypeNames(3) // "other" and two more
	first, _ := capTypes(gastown.CountActions(map[string]int{"a": 1, "b": 2}), 64, nil)
	got, folded := capTypes(gastown.CountActions(map[string]int{"a": 1, "b": 2, "c": 4, "d": 8, OtherActionType: 16}), 64, nil)
	names := func(l []TypeCount) (out []string) {
		for _, tc := range l {
			out = append(out, tc.Type()+"="+strconv.Itoa(int(tc.Count)))
		}
		return out
	}
	if want := []string{"a=1", "b=2"}; !slices.Equal(names(first), want) {
		t.Errorf("first %v, want %v", names(first), want)
	}
	if want := []string{"a=1", "b=2", "other=28"}; !slices.Equal(names(got), want) || folded != 2 {
		t.Errorf("past the cap: %v folding %d, want %v folding 2", names(got), folded, want)
	}
}

func TestSnapshotOrderFollowsTheTowns(t *testing.T) {
	snap := NewSnapshot()
	ids := func() string {
		var out []string
		for _, e := range snap.AppendTowns(nil) {
			out = append(out, e.Town)
		}
		return strings.Join(out, ",")
	}
	if got := ids(); got != "" {
		t.Fatalf("empty snapshot lists %q", got)
	}
	snap.Put("b", &TownState{})
	snap.Put("a", &TownState{})
	if got := ids(); got != "a,b" {
		t.Errorf("towns %q, want a,b", got)
	}
	st := &TownState{Up: true}
	snap.Put("b", st)
	if e := snap.AppendTowns(nil); e[1].State != st {
		t.Error("an updated town lists its old state")
	}
	snap.Put("c", &TownState{})
	snap.Retain(map[string]bool{"a": true, "c": true})
	if got := ids(); got != "a,c" {
		t.Errorf("towns %q, want a,c", got)
	}
}

// A poll that finds a town as it was keeps the previous poll's status and
// action lists instead of allocating its own; any change makes new ones.
func TestUnchangedPartsAreKept(t *testing.T) {
	o := sampleObservation(t, "t", "dry-run.json", "status.json")
	d, st := o.DryRun, o.Status
	poll := func(prev *TownState) *TownState {
		o.At = o.At.Add(5 * time.Second)
		s, _ := newTownState(&o, prev, 64)
		return s
	}
	first := poll(nil)
	second := poll(first)
	if second.Status != first.Status || &second.DryRun.Actions[0] != &first.DryRun.Actions[0] {
		t.Fatalf("an unchanged town got new status or actions")
	}
	if !second.LastPoll.After(first.LastPoll) || second.DryRun == first.DryRun {
		t.Errorf("the poll's own time and dry run must be new")
	}

	st.AlarmStatus.Reconciler.ActionsByType = bumped(st.AlarmStatus.Reconciler.ActionsByType, "dispatch_agent")
	third := poll(second)
	if third.Status == second.Status || third.Status.LastTick == second.Status.LastTick {
		t.Fatalf("a changed count kept the old last tick")
	}
	if got := third.Status.LastTick.Actions; !slices.Contains(got, NewTypeCount("dispatch_agent", st.AlarmStatus.Reconciler.ActionsByType.Get("dispatch_agent"))) {
		t.Errorf("last tick actions %v", got)
	}
	if third.Status.Agents != second.Status.Agents {
		t.Errorf("agents changed with the actions")
	}
	d.Metrics.ActionsByType = gastown.CountActions(map[string]int{"poll_pr": 3})
	if got := poll(third).DryRun.Actions; !slices.Equal(got, []TypeCount{NewTypeCount("poll_pr", 3)}) {
		t.Errorf("dry run actions %v", got)
	}
}

// sameAs must look at every field: one it skips would keep a stale value.
func TestSameAsComparesEveryField(t *testing.T) {
	check := func(a any, same func(b any) bool) {
		v := reflect.ValueOf(a).Elem()
		for i := range v.NumField() {
			b := reflect.New(v.Type())
			b.Elem().Set(v)
			f := b.Elem().Field(i)
			switch f.Kind() {
			case reflect.Bool:
				f.SetBool(!f.Bool())
			case reflect.Int:
				f.SetInt(f.Int() + 1)
			case reflect.Float64:
				f.SetFloat(f.Float() + 1)
			case reflect.Slice:
				f.Set(reflect.ValueOf([]TypeCount{NewTypeCount("x", 1)}))
			case reflect.Pointer:
				f.Set(reflect.New(f.Type().Elem()))
			case reflect.Struct:
				if tm, ok := f.Addr().Interface().(*time.Time); ok {
					*tm = tm.Add(time.Second)
					break
				}
				f.Field(0).SetInt(f.Field(0).Int() + 1) // the counts of agents or beads
			default:
				t.Fatalf("%s.%s: a field of kind %s; teach this test to change it", v.Type(), v.Type().Field(i).Name, f.Kind())
			}
			if same(b.Interface()) {
				t.Errorf("%s.%s changed, and sameAs says the same", v.Type(), v.Type().Field(i).Name)
			}
		}
	}
	lt := &LastTick{Actions: []TypeCount{NewTypeCount("a", 1)}}
	check(lt, func(b any) bool { return b.(*LastTick).sameAs(lt) })
	ss := &StatusState{LastTick: lt}
	check(ss, func(b any) bool { return b.(*StatusState).sameAs(ss) })
}

// TestTownStateMemoryPerTown: a town's state, from the sample answers (3
// action types in its last tick, 8 in its dry run), with its entry in the
// snapshot, is at most 560 bytes. With 24-byte action entries it was 727.
func TestTownStateMemoryPerTown(t *testing.T) {
	const n = 10000
	o := sampleObservation(t, "", "dry-run.json", "status.json")
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("town-%05d", i)
	}
	held := heldheap.Bytes(func() any {
		snap := NewSnapshot()
		for _, id := range ids {
			o.Town = id
			s, _ := newTownState(&o, nil, 64)
			snap.Put(id, s)
		}
		return snap
	})
	runtime.KeepAlive(ids)
	per := float64(held) / n
	t.Logf("%.0f bytes per town", per)
	if per > 560 {
		t.Errorf("%.0f bytes per town, want at most 560", per)
	}
}

// bumped is a with one more action of type t.
func bumped(a gastown.ActionCounts, t string) gastown.ActionCounts {
	m := map[string]int{}
	for k, n := range a.All() {
		m[k] = n
	}
	m[t]++
	return gastown.CountActions(m)
}

// TestSeedsAreTakenOnceAndRetained: a seeded last success goes to the
// town's first state only, and a town not watched drops its seed.
func TestSeedsAreTakenOnceAndRetained(t *testing.T) {
	s := NewSnapshot()
	t1 := time.Date(2026, 12, 6, 8, 0, 0, 0, time.UTC)
	s.SeedLastSuccess(map[string]time.Time{"a": t1, "b": t1.Add(time.Minute)})
	s.Retain(map[string]bool{"a": true})
	if got := s.seed("b"); !got.IsZero() {
		t.Errorf("seed of a town no longer watched: %v", got)
	}
	if got := s.seed("a"); !got.Equal(t1) {
		t.Errorf("seed of a: %v, want %v", got, t1)
	}
	if got := s.seed("a"); !got.IsZero() {
		t.Errorf("seed of a taken twice: %v", got)
	}
}

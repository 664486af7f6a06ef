package exporter

import (
	"strings"
	"testing"
	"unsafe"
)

// Towns decoded from separate answers share one copy of each action type.
func TestActionTypesAreShared(t *testing.T) {
	snap := NewSnapshot()
	sampleTown(t, snap, "a", "dry-run.json", "status.json")
	sampleTown(t, snap, "b", "dry-run.json", "status.json")
	a, b := snap.Get("a").DryRun.Actions, snap.Get("b").DryRun.Actions
	if len(a) != 8 || len(a) != len(b) {
		t.Fatalf("actions %v and %v", a, b)
	}
	for i := range a {
		if a[i].Type != b[i].Type || unsafe.StringData(a[i].Type) != unsafe.StringData(b[i].Type) {
			t.Errorf("%q is held twice", a[i].Type)
		}
	}
	// Past the cap a name is kept as it came, and still right.
	fresh := strings.Repeat("x", 3)
	if got := internType(fresh); got != "xxx" {
		t.Errorf("internType = %q", got)
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

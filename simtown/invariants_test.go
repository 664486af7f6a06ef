package simtown

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

// Each invariant broken through the fault knob is reported with Gastown's
// exact words by the dry run and by the next tick, and is gone once healed.
func TestBrokenInvariantReportedAndRepaired(t *testing.T) {
	tests := []struct {
		inv  int
		want string
	}{
		{7, "Working agent fa017007-0000-4000-8000-000000000001 has no hook"},
		{5, "Convoy bead b-fault-5-convoy is in_progress (should only be open or closed)"},
		{3, "Rig rig-main has 2 in_progress MR beads (should be at most 1)"},
		{6, "Bead b-fault-6-issue has 2 agents hooked (should be at most 1)"},
		{4, "Issue bead b-fault-4-issue is in_review but has no open/in_progress MR bead"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			f, c := newFleet(t, Options{Seed: 5, DryRunViolations: true})
			h := f.Handler()
			dryRun := func() []gastown.Violation {
				code, body := call(t, h, http.MethodPost, "/debug/towns/town-01/reconcile-dry-run", "")
				if code != http.StatusOK {
					t.Fatalf("dry run: %d %s", code, body)
				}
				return decode[gastown.DryRun](t, body).Violations
			}
			if v := dryRun(); !reflect.DeepEqual(v, []gastown.Violation{}) {
				t.Fatalf("healthy town reports %v", v)
			}
			code, body := call(t, h, http.MethodPut, "/debug/towns/town-01/fault", `{"break_invariant":`+string(rune('0'+tt.inv))+`}`)
			if code != http.StatusOK {
				t.Fatalf("PUT fault: %d %s", code, body)
			}
			want := []gastown.Violation{{Invariant: tt.inv, Message: tt.want}}
			if v := dryRun(); !reflect.DeepEqual(v, want) {
				t.Fatalf("dry run violations = %v, want %v", v, want)
			}
			// It persists across real ticks while the workload runs.
			run(t, f, c, 2*time.Minute)
			if v := dryRun(); !reflect.DeepEqual(v, want) {
				t.Fatalf("after two minutes of ticks: %v, want %v", v, want)
			}
			if m := f.byID["town-01"].metrics; m == nil || m.InvariantViolations != 1 {
				t.Fatalf("last tick metrics %+v, want invariantViolations 1", m)
			}
			if code, body := call(t, h, http.MethodDelete, "/debug/towns/town-01/fault", ""); code != http.StatusOK {
				t.Fatalf("DELETE fault: %d %s", code, body)
			}
			if v := dryRun(); !reflect.DeepEqual(v, []gastown.Violation{}) {
				t.Fatalf("healed town still reports %v", v)
			}
			run(t, f, c, 10*time.Second)
			if m := f.byID["town-01"].metrics; m.InvariantViolations != 0 {
				t.Fatalf("after healing, last tick invariantViolations = %d", m.InvariantViolations)
			}
		})
	}
}

// The checker is generic: it finds broken rows that no fault knob made, with
// Gastown's conditions and in Gastown's order (#7, #5, #3, #6, #4), counts
// included.
func TestCheckInvariantsOnHandMadeState(t *testing.T) {
	tests := []struct {
		name  string
		setup []string
		want  []gastown.Violation
	}{
		{name: "clean", want: []gastown.Violation{}},
		{
			// Only a NULL hook is missing; agents in table order.
			name: "working agents without hook",
			setup: []string{`INSERT INTO agent_metadata VALUES ('7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90', 'polecat', 'working', NULL, 1, '2026-11-28T09:00:00.000Z', NULL)`,
				`INSERT INTO agent_metadata VALUES ('a2', 'polecat', 'working', '', 1, '2026-11-28T09:00:00.000Z', NULL)`,
				`INSERT INTO agent_metadata VALUES ('a1', 'polecat', 'working', NULL, 1, '2026-11-28T09:00:00.000Z', NULL)`},
			want: []gastown.Violation{viol(7, "Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook"), viol(7, "Working agent a1 has no hook")},
		},
		{
			name: "three MRs in progress on one rig, one on another, two on none",
			setup: []string{mr("m1", "rig-x", "in_progress"), mr("m2", "rig-x", "in_progress"), mr("m3", "rig-x", "in_progress"), mr("m4", "rig-y", "in_progress"), mr("m5", "rig-y", "open"),
				`INSERT INTO beads (bead_id, type, status, title, created_at, updated_at) VALUES ('m6', 'merge_request', 'in_progress', 't', '', ''), ('m7', 'merge_request', 'in_progress', 't', '', '')`},
			want: []gastown.Violation{viol(3, "Rig rig-x has 3 in_progress MR beads (should be at most 1)")},
		},
		{
			// An empty hook is a hook: two agents on it break #6.
			name: "two agents on an empty hook",
			setup: []string{`INSERT INTO agent_metadata VALUES ('a1', 'polecat', 'idle', '', 1, '2026-11-28T09:00:00.000Z', NULL)`,
				`INSERT INTO agent_metadata VALUES ('a2', 'polecat', 'idle', '', 1, '2026-11-28T09:00:00.000Z', NULL)`},
			want: []gastown.Violation{viol(6, "Bead  has 2 agents hooked (should be at most 1)")},
		},
		{
			name: "three agents on one bead",
			setup: []string{`INSERT INTO agent_metadata VALUES ('a1', 'polecat', 'working', 'b-issue-0001', 1, '2026-11-28T09:00:00.000Z', NULL)`,
				`INSERT INTO agent_metadata VALUES ('a2', 'polecat', 'working', 'b-issue-0001', 1, '2026-11-28T09:00:00.000Z', NULL)`,
				`INSERT INTO agent_metadata VALUES ('a3', 'polecat', 'idle', 'b-issue-0001', 1, '2026-11-28T09:00:00.000Z', NULL)`},
			want: []gastown.Violation{viol(6, "Bead b-issue-0001 has 3 agents hooked (should be at most 1)")},
		},
		{
			name: "in review: one with an open MR, one whose MR failed, one linked otherwise",
			setup: []string{issue("b-issue-0001", "in_review"), issue("b-issue-0002", "in_review"), issue("b-issue-0003", "in_review"),
				mr("b-mr-0001", "r", "open"), mr("b-mr-0002", "r", "failed"), mr("b-mr-0003", "r", "open"),
				`INSERT INTO bead_dependencies VALUES ('b-mr-0001', 'b-issue-0001', 'tracks')`, `INSERT INTO bead_dependencies VALUES ('b-mr-0002', 'b-issue-0002', 'tracks')`,
				`INSERT INTO bead_dependencies VALUES ('b-mr-0003', 'b-issue-0003', 'blocks')`},
			want: []gastown.Violation{viol(4, "Issue bead b-issue-0002 is in_review but has no open/in_progress MR bead"),
				viol(4, "Issue bead b-issue-0003 is in_review but has no open/in_progress MR bead")},
		},
		{
			name: "all at once, in Gastown's order",
			setup: []string{`INSERT INTO agent_metadata VALUES ('a1', 'polecat', 'working', NULL, 1, '2026-11-28T09:00:00.000Z', NULL)`,
				`INSERT INTO beads (bead_id, type, status, title, created_at, updated_at) VALUES ('b-convoy-0003', 'convoy', 'in_progress', 't', '', '')`,
				mr("m1", "rig-main", "in_progress"), mr("m2", "rig-main", "in_progress"), issue("b-issue-0009", "in_review"),
				`INSERT INTO agent_metadata VALUES ('a2', 'polecat', 'working', 'b-issue-0001', 1, '2026-11-28T09:00:00.000Z', NULL)`,
				`INSERT INTO agent_metadata VALUES ('a3', 'polecat', 'working', 'b-issue-0001', 1, '2026-11-28T09:00:00.000Z', NULL)`},
			want: []gastown.Violation{
				viol(7, "Working agent a1 has no hook"),
				viol(5, "Convoy bead b-convoy-0003 is in_progress (should only be open or closed)"),
				viol(3, "Rig rig-main has 2 in_progress MR beads (should be at most 1)"),
				viol(6, "Bead b-issue-0001 has 2 agents hooked (should be at most 1)"),
				viol(4, "Issue bead b-issue-0009 is in_review but has no open/in_progress MR bead"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := newFleet(t, Options{})
			tw := f.byID["town-01"]
			for _, tbl := range stateTables {
				if err := tw.st.exec(`DELETE FROM ` + tbl.name); err != nil {
					t.Fatal(err)
				}
			}
			for _, q := range tt.setup {
				if err := tw.st.exec(q); err != nil {
					t.Fatal(err)
				}
			}
			got, err := tw.st.checkInvariants()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("violations\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func mr(id, rig, status string) string {
	return `INSERT INTO beads (bead_id, type, status, title, rig_id, created_at, updated_at) VALUES ('` + id + `', 'merge_request', '` + status + `', 't', '` + rig + `', '', '')`
}

func issue(id, status string) string {
	return `INSERT INTO beads (bead_id, type, status, title, created_at, updated_at) VALUES ('` + id + `', 'issue', '` + status + `', 't', '', '')`
}

// With FaultRate, every invariant appears during a run and clears again.
func TestFaultRateBreaksAndRepairsEveryInvariant(t *testing.T) {
	f, c := newFleet(t, Options{Towns: 4, Seed: 2, FaultRate: 0.1})
	seen := map[int]int{}     // ticks on which the invariant was broken somewhere
	cleared := map[int]bool{} // it was broken on a town, then gone there
	open := map[string]map[int]bool{}
	for i := 0; i < 1500; i++ {
		now := c.Advance(time.Second)
		if _, err := f.runDue(now); err != nil {
			t.Fatal(err)
		}
		if i%5 != 0 {
			continue
		}
		for _, tw := range f.towns {
			tw.mu.Lock()
			vs, err := tw.st.checkInvariants()
			tw.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
			now := map[int]bool{}
			for _, v := range vs {
				now[v.Invariant] = true
				seen[v.Invariant]++
			}
			for inv := range open[tw.id] {
				if !now[inv] {
					cleared[inv] = true
				}
			}
			open[tw.id] = now
		}
	}
	for _, inv := range []int{3, 4, 5, 6, 7} {
		if seen[inv] == 0 || !cleared[inv] {
			t.Errorf("invariant %d: seen %d times, cleared %v; want both", inv, seen[inv], cleared[inv])
		}
	}
}

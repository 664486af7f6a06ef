package target

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestCheckStatus(t *testing.T) {
	var s Status
	if err := json.Unmarshal(sample(t, "status.json"), &s); err != nil {
		t.Fatal(err)
	}
	got := CheckStatus(&s)
	want := []Violation{{7, "Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sample: got %+v", got)
	}

	hook := "b-1"
	empty := ""
	s = Status{
		AgentMeta: []Agent{
			{BeadID: "a1", Status: "working", CurrentHookBeadID: &hook},
			{BeadID: "a2", Status: "idle", CurrentHookBeadID: &hook},
			{BeadID: "a3", Status: "working", CurrentHookBeadID: &empty},
			{BeadID: "a4", Status: "idle"},
		},
		BeadSummary: []Bead{
			{BeadID: "c1", Type: "convoy", Status: "in_progress"},
			{BeadID: "c2", Type: "convoy", Status: "open"},
			{BeadID: "i1", Type: "issue", Status: "in_progress"},
		},
	}
	want = []Violation{
		{7, "Working agent a3 has no hook"},
		{5, "Convoy bead c1 is in_progress (should only be open or closed)"},
		{6, "Bead b-1 has 2 agents hooked (should be at most 1)"},
	}
	if got := CheckStatus(&s); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestObservationViolationsPrefersDryRun(t *testing.T) {
	var s Status
	json.Unmarshal(sample(t, "status.json"), &s)
	var withV, without DryRun
	json.Unmarshal(sample(t, "dry-run-with-violations.json"), &withV)
	json.Unmarshal(sample(t, "dry-run.json"), &without)

	if v := (&Observation{DryRun: &withV, Status: &s}).Violations(); len(v) != 2 || v[1].Invariant != 3 {
		t.Errorf("dry run violations not preferred: %+v", v)
	}
	if v := (&Observation{DryRun: &without, Status: &s}).Violations(); len(v) != 1 || v[0].Invariant != 7 {
		t.Errorf("derived violations: %+v", v)
	}
	clean := DryRun{Violations: []Violation{}}
	if v := (&Observation{DryRun: &clean, Status: &s}).Violations(); v == nil || len(v) != 0 {
		t.Errorf("an explicit empty list means clean, got %+v", v)
	}
}

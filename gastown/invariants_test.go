package gastown

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestCheckStatus(t *testing.T) {
	var s Status
	if err := json.Unmarshal(sample(t, "status.json"), &s); err != nil {
		t.Fatal(err)
	}
	got := CheckStatus(&s)
	want := []Violation{{7, "Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook", DerivedFromStatus}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("sample: got %+v", got)
	}

	// Gastown's exact conditions: a hook is missing only when NULL (an
	// empty id is a hook, and counts for #6); #3 only for rows with rig_id.
	hook, empty, rigA, rigB := "b-1", "", "rig-a", "rig-b"
	s = Status{
		AgentMeta: []Agent{
			{BeadID: "a1", Status: "working", CurrentHookBeadID: &hook},
			{BeadID: "a2", Status: "idle", CurrentHookBeadID: &hook},
			{BeadID: "a3", Status: "working", CurrentHookBeadID: &empty},
			{BeadID: "a5", Status: "idle", CurrentHookBeadID: &empty},
			{BeadID: "a4", Status: "working"},
		},
		BeadSummary: []Bead{
			{BeadID: "c1", Type: "convoy", Status: "in_progress"},
			{BeadID: "c2", Type: "convoy", Status: "open"},
			{BeadID: "i1", Type: "issue", Status: "in_progress"},
			{BeadID: "m1", Type: "merge_request", Status: "in_progress", RigID: &rigA},
			{BeadID: "m2", Type: "merge_request", Status: "in_progress", RigID: &rigA},
			{BeadID: "m3", Type: "merge_request", Status: "open", RigID: &rigA},
			{BeadID: "m4", Type: "merge_request", Status: "in_progress", RigID: &rigB},
			{BeadID: "m5", Type: "merge_request", Status: "in_progress"},
			{BeadID: "m6", Type: "merge_request", Status: "in_progress"},
		},
	}
	want = []Violation{
		{7, "Working agent a4 has no hook", DerivedFromStatus},
		{5, "Convoy bead c1 is in_progress (should only be open or closed)", DerivedFromStatus},
		{3, "Rig rig-a has 2 in_progress MR beads (should be at most 1)", DerivedFromStatus},
		{6, "Bead  has 2 agents hooked (should be at most 1)", DerivedFromStatus},
		{6, "Bead b-1 has 2 agents hooked (should be at most 1)", DerivedFromStatus},
	}
	if got := CheckStatus(&s); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestPollChoosesTheViolationSource(t *testing.T) {
	srv := gastown(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /debug/towns/reports/reconcile-dry-run":  body(sample(t, "dry-run-with-violations.json"), 200),
		"GET /debug/towns/reports/status":              body(sample(t, "status.json"), 200),
		"POST /debug/towns/silent/reconcile-dry-run":   body(sample(t, "dry-run.json"), 200),
		"GET /debug/towns/silent/status":               body(sample(t, "status.json"), 200),
		"POST /debug/towns/clean/reconcile-dry-run":    body([]byte(`{"actions":[],"metrics":{},"violations":[]}`), 200),
		"GET /debug/towns/clean/status":                body(sample(t, "status.json"), 200),
		"POST /debug/towns/nostatus/reconcile-dry-run": body(sample(t, "dry-run.json"), 200),
		"POST /debug/towns/counted/reconcile-dry-run":  body(sample(t, "error-500.json"), 500),
		"GET /debug/towns/counted/status":              body(bytes.Replace(sample(t, "status.json"), []byte(`"invariantViolations": 1`), []byte(`"invariantViolations": 3`), 1), 200),
		"GET /debug/towns/restarted/status":            body(sample(t, "status-after-restart.json"), 200),
	})
	c := client(t, srv.URL, nil)
	both := PollOptions{Status: true, DryRun: true}
	poll := func(town string, po PollOptions) Observation {
		return c.Poll(context.Background(), town, po, time.Now)
	}
	no7 := Violation{7, "Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook", DerivedFromStatus}
	if o := poll("reports", both); o.Source != NamedByDryRun || len(o.Violations) != 2 || o.Violations[1].Invariant != 3 || o.Violations[1].Source != NamedByDryRun {
		t.Errorf("dry run violations not preferred: %+v", o)
	}
	// status.json counts 1 violation and its rows show #7: no remainder.
	if o := poll("silent", both); o.Source != DerivedFromStatus || o.RemainderUnknown || !reflect.DeepEqual(o.Violations, []Violation{no7}) {
		t.Errorf("derived violations: %+v", o)
	}
	if o := poll("clean", both); o.Violations == nil || len(o.Violations) != 0 {
		t.Errorf("an explicit empty list means clean, got %+v", o.Violations)
	}
	if o := poll("nostatus", PollOptions{DryRun: true}); !o.OK() || o.Violations != nil || o.Status != nil {
		t.Errorf("without violations or status nothing is known: %+v", o)
	}
	if o := poll("silent", both); o.Status.AlarmStatus.Reconciler.WallClockMs != 41 || o.DryRun.Metrics.EventsDrained != 3 {
		t.Errorf("poll lost counts: %+v %+v", o.Status, o.DryRun)
	}
	// The reconciler counts 3 and the rows name 1: two more, unnamed.
	want := []Violation{no7, {Unnamed, "The reconciler counted 2 invariant violations that the status rows do not name", ReconcilerCount}}
	if o := poll("counted", both); !reflect.DeepEqual(o.Violations, want) {
		t.Errorf("remainder: %+v", o.Violations)
	}
	// No tick since the start: the count, and so the remainder, is unknown.
	if o := poll("restarted", PollOptions{Status: true}); !o.RemainderUnknown || o.Violations == nil || len(o.Violations) != 0 || o.Status.Ticking() {
		t.Errorf("restarted: %+v", o)
	}
}

// TestWithIDIsSprintf: the messages the checks fill without fmt are the
// ones Sprintf would make, whatever the id holds.
func TestWithIDIsSprintf(t *testing.T) {
	for _, msg := range []string{MsgWorkingNoHook, MsgConvoyInProgress} {
		for _, id := range []string{"", "a1", "b-issue-0042", "%s", "%d%%", "naïve \xff", `"quoted"`} {
			if got, want := withID(msg, id), fmt.Sprintf(msg, id); got != want {
				t.Errorf("withID(%q, %q) = %q, want %q", msg, id, got, want)
			}
		}
	}
}

package gastown

import (
	"context"
	"encoding/json"
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

func TestPollPrefersDryRunViolations(t *testing.T) {
	srv := gastown(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /debug/towns/reports/reconcile-dry-run":  body(sample(t, "dry-run-with-violations.json"), 200),
		"GET /debug/towns/reports/status":              body(sample(t, "status.json"), 200),
		"POST /debug/towns/silent/reconcile-dry-run":   body(sample(t, "dry-run.json"), 200),
		"GET /debug/towns/silent/status":               body(sample(t, "status.json"), 200),
		"POST /debug/towns/clean/reconcile-dry-run":    body([]byte(`{"actions":[],"metrics":{},"violations":[]}`), 200),
		"GET /debug/towns/clean/status":                body(sample(t, "status.json"), 200),
		"POST /debug/towns/nostatus/reconcile-dry-run": body(sample(t, "dry-run.json"), 200),
	})
	c := client(t, srv.URL, nil)
	poll := func(town string, withStatus bool) Observation {
		return c.Poll(context.Background(), town, withStatus, time.Now)
	}
	if o := poll("reports", true); !o.OK() || len(o.Violations) != 2 || o.Violations[1].Invariant != 3 {
		t.Errorf("dry run violations not preferred: %+v", o)
	}
	if o := poll("silent", true); !o.OK() || !reflect.DeepEqual(o.Violations, []Violation{{7, "Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook"}}) {
		t.Errorf("derived violations: %+v", o)
	}
	if o := poll("clean", true); o.Violations == nil || len(o.Violations) != 0 {
		t.Errorf("an explicit empty list means clean, got %+v", o.Violations)
	}
	if o := poll("nostatus", false); !o.OK() || o.Violations != nil || o.Status != nil {
		t.Errorf("without violations or status nothing is known: %+v", o)
	}
	if o := poll("silent", true); o.Status.AlarmStatus.Reconciler.WallClockMs != 41 || o.DryRun.Metrics.EventsDrained != 3 {
		t.Errorf("poll lost counts: %+v %+v", o.Status, o.DryRun)
	}
}

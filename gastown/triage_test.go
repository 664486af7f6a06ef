package gastown

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// TestTriagePicksTheNamedRows: each invariant's message names an agent, a
// bead or a rig; Triage returns those rows, the recent events oldest first
// and the last tick.
func TestTriagePicksTheNamedRows(t *testing.T) {
	hook, rigA, rigB := "b-1", "rig-a", "rig-b"
	at := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	s := &Status{
		AlarmStatus: AlarmStatus{
			Reconciler: &ReconcilerMetrics{WallClockMs: 41},
			RecentEvents: []RecentEvent{
				{Time: at, Type: "c", Message: "third"},
				{Time: at.Add(-2 * time.Second), Type: "a", Message: "first"},
				{Time: at.Add(-time.Second), Type: "b", Message: "second"},
			},
		},
		AgentMeta: []Agent{
			{BeadID: "a1", Status: "working"},
			{BeadID: "a2", Status: "idle", CurrentHookBeadID: &hook},
			{BeadID: "a3", Status: "working", CurrentHookBeadID: &hook},
		},
		BeadSummary: []Bead{
			{BeadID: "b-1", Type: "issue", Status: "in_progress", RigID: &rigA},
			{BeadID: "c1", Type: "convoy", Status: "in_progress"},
			{BeadID: "m1", Type: "merge_request", Status: "in_progress", RigID: &rigA},
			{BeadID: "m2", Type: "merge_request", Status: "in_progress", RigID: &rigA},
			{BeadID: "m3", Type: "merge_request", Status: "in_progress", RigID: &rigB},
			{BeadID: "i1", Type: "issue", Status: "in_review"},
		},
	}
	ids := func(tr *Triage) string {
		var as, bs []string
		for _, a := range tr.Agents {
			as = append(as, a.BeadID)
		}
		for _, b := range tr.Beads {
			bs = append(bs, b.BeadID)
		}
		return fmt.Sprintf("agents %v beads %v rig %q", as, bs, tr.Rig)
	}
	for _, tc := range []struct {
		v    Violation
		want string
	}{
		{Violation{Invariant: 7, Message: fmt.Sprintf(MsgWorkingNoHook, "a1")}, `agents [a1] beads [] rig ""`},
		{Violation{Invariant: 5, Message: fmt.Sprintf(MsgConvoyInProgress, "c1")}, `agents [] beads [c1] rig ""`},
		{Violation{Invariant: 3, Message: fmt.Sprintf(MsgRigManyMRs, "rig-a", 2)}, `agents [] beads [m1 m2] rig "rig-a"`},
		{Violation{Invariant: 6, Message: fmt.Sprintf(MsgBeadManyHooked, "b-1", 2)}, `agents [a2 a3] beads [b-1] rig "rig-a"`},
		{Violation{Invariant: 4, Message: fmt.Sprintf(MsgReviewWithoutMR, "i1")}, `agents [] beads [i1] rig ""`},
		{Violation{Invariant: Unnamed, Message: fmt.Sprintf(MsgUnnamed, 2)}, `agents [] beads [] rig ""`},
		{Violation{Invariant: 7, Message: "some other wording about a1"}, `agents [] beads [] rig ""`},
	} {
		tr := s.Triage(tc.v)
		if got := ids(tr); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.v.Message, got, tc.want)
		}
		var msgs []string
		for _, e := range tr.RecentEvents {
			msgs = append(msgs, e.Message)
		}
		if !reflect.DeepEqual(msgs, []string{"first", "second", "third"}) || tr.Reconciler.WallClockMs != 41 {
			t.Errorf("%q: recent events %v, last tick %+v", tc.v.Message, msgs, tr.Reconciler)
		}
	}
	// The order of the status itself is left alone.
	if s.AlarmStatus.RecentEvents[0].Message != "third" {
		t.Error("Triage reordered the status's events")
	}
}

func TestTriageKeepsTheLatestEvents(t *testing.T) {
	s := &Status{}
	at := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	for i := range MaxTriageEvents + 10 {
		s.AlarmStatus.RecentEvents = append(s.AlarmStatus.RecentEvents, RecentEvent{Time: at.Add(-time.Duration(i) * time.Second), Message: fmt.Sprint(i)})
	}
	evs := s.Triage(Violation{Invariant: Unnamed}).RecentEvents
	if len(evs) != MaxTriageEvents || evs[0].Message != fmt.Sprint(MaxTriageEvents-1) || evs[len(evs)-1].Message != "0" {
		t.Errorf("%d events from %s to %s, want the %d latest, oldest first", len(evs), evs[0].Message, evs[len(evs)-1].Message, MaxTriageEvents)
	}
}

// TestPollKeepsTheStatusBodyWhenAsked: the raw answer is kept only when
// asked, only when the status call succeeded, and decodes to the full rows.
func TestPollKeepsTheStatusBodyWhenAsked(t *testing.T) {
	status := sample(t, "status.json")
	srv := gastown(t, map[string]func(http.ResponseWriter, *http.Request){
		"GET /debug/towns/ok/status":  body(status, 200),
		"GET /debug/towns/bad/status": body([]byte(`{"alarmStatus": {"agents": "many"}}`), 200),
	})
	c := client(t, srv.URL, nil)
	poll := func(town string, keep bool) Observation {
		return c.Poll(context.Background(), town, PollOptions{Status: true, KeepStatusBody: keep}, time.Now)
	}
	if o := poll("ok", false); o.StatusBody != nil {
		t.Errorf("body kept unasked")
	}
	o := poll("ok", true)
	if !bytes.Equal(o.StatusBody, status) || !o.OK() || o.Status.AlarmStatus.Reconciler.WallClockMs != 41 || len(o.Violations) != 1 {
		t.Fatalf("kept body of %d bytes (want the %d of the answer), ok %v, violations %v", len(o.StatusBody), len(status), o.OK(), o.Violations)
	}
	full, err := DecodeStatus(o.StatusBody)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.AgentMeta) != 3 || len(full.BeadSummary) != 4 || len(full.AlarmStatus.RecentEvents) != 2 || full.AgentMeta[0].DispatchAttempts != 1 {
		t.Errorf("decoded kept status: %+v", full)
	}
	if o := poll("bad", true); o.OK() || o.StatusBody != nil {
		t.Errorf("malformed status: ok %v, body kept %q", o.OK(), o.StatusBody)
	}
	if _, err := DecodeStatus([]byte(`{"agentMeta": 3}`)); err == nil {
		t.Error("DecodeStatus accepted a malformed status")
	}
}

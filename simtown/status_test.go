package simtown

import (
	"bytes"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

// clearTown empties a town's state and history, for hand-made rows.
func clearTown(t *testing.T, tw *town) {
	t.Helper()
	for _, tbl := range []string{"agent_metadata", "beads", "bead_dependencies", "bead_events", "town_events"} {
		if err := tw.st.exec(`DELETE FROM ` + tbl); err != nil {
			t.Fatal(err)
		}
	}
}

// recentEvents are the newest 20 bead events, worded as Gastown's feed
// words them: the bead's title or its short id, the agent's short id or
// "system", "?" for a missing value.
func TestRecentEventsLikeGastown(t *testing.T) {
	f, _ := newFleet(t, Options{})
	tw := f.byID["town-01"]
	clearTown(t, tw)
	for _, q := range []string{
		`INSERT INTO beads (bead_id, type, status, title, created_at, updated_at) VALUES
			('b-1', 'issue', 'open', 'Fix login redirect', '', ''), ('b-2', 'merge_request', 'in_progress', 'probe MR 2', '', '')`,
	} {
		if err := tw.st.exec(q); err != nil {
			t.Fatal(err)
		}
	}
	// Older events that the limit of 20 leaves out.
	for i := 0; i < 15; i++ {
		if err := tw.st.logBeadEvent("b-1", "", "created", "", "open", "2026-11-28T08:00:00.000Z"); err != nil {
			t.Fatal(err)
		}
	}
	events := []struct{ bead, agent, typ, newValue, at, want string }{
		{"b-2", "seed", "status_changed", "in_progress", "2026-11-28T09:00:00.238Z", `"probe MR 2" → in_progress (by agent seed…)`}, // as measured
		{"b-1", "7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90", "status_changed", "in_progress", "2026-11-28T09:00:01.000Z", `"Fix login redirect" → in_progress (by agent 7f3c2a10…)`},
		{"b-1", "", "status_changed", "", "2026-11-28T09:00:01.000Z", `"Fix login redirect" → ? (by system)`},
		{"b-gone-123456", "", "created", "open", "2026-11-28T09:00:02.000Z", `created: bead b-gone-1…`},
		{"b-1", "7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90", "hooked", "7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90", "2026-11-28T09:00:03.000Z", `hooked: "Fix login redirect"`},
		{"b-1", "refinery", "assigned", "", "2026-11-28T09:00:04.000Z", `"Fix login redirect" assigned to agent refinery…`},
		{"b-1", "7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90", "agent_status", "", "2026-11-28T09:00:05.000Z", `agent 7f3c2a10…: status update`},
		{"b-2", "", "pr_created", "", "2026-11-28T09:00:06.000Z", `PR created for "probe MR 2"`},
		{"b-2", "", "pr_merged", "", "2026-11-28T09:00:06.000Z", `PR merged for "probe MR 2"`},
		{"b-2", "", "pr_creation_failed", "", "2026-11-28T09:00:06.000Z", `PR creation failed for "probe MR 2"`},
		{"b-2", "", "escalation_created", "", "2026-11-28T09:00:06.000Z", `Escalation created: "probe MR 2"`},
		{"", "", "review_submitted", "polecat/x", "2026-11-28T09:00:07.000Z", `review_submitted: unknown`},
	}
	for _, e := range events {
		if err := tw.st.logBeadEvent(e.bead, e.agent, e.typ, "", e.newValue, e.at); err != nil {
			t.Fatal(err)
		}
	}
	var want []recentEventJSON
	for i := len(events) - 1; i >= 0; i-- { // newest first; ties newest logged first
		want = append(want, recentEventJSON{Time: events[i].at, Type: events[i].typ, Message: events[i].want})
	}
	for len(want) < recentEventsMax {
		want = append(want, recentEventJSON{Time: "2026-11-28T08:00:00.000Z", Type: "created", Message: `created: "Fix login redirect"`})
	}
	s, err := tw.status()
	if err != nil {
		t.Fatal(err)
	}
	if got := s.AlarmStatus.RecentEvents; !reflect.DeepEqual(got, want) {
		t.Errorf("recent events\n got %v\nwant %v", got, want)
	}
}

// Status rows are Gastown's: every agent in table order; every bead that is
// not closed or failed (and not an agent bead), by type and status, with no
// limit; later versions add four columns to bead rows and the drain state.
func TestStatusRowsLikeGastown(t *testing.T) {
	for _, version := range []string{VersionMeasured, VersionLater} {
		t.Run(map[string]string{VersionMeasured: "measured", VersionLater: "later"}[version], func(t *testing.T) {
			f, _ := newFleet(t, Options{Version: version})
			tw := f.byID["town-01"]
			clearTown(t, tw)
			for _, q := range []string{
				`INSERT INTO agent_metadata VALUES ('z-agent', 'polecat', 'working', 'b-2', 1, '2026-11-28T09:00:00.000Z', 'rig-a')`,
				`INSERT INTO agent_metadata VALUES ('a-agent', 'mayor', 'idle', NULL, 0, '2026-11-28T09:00:00.000Z', NULL)`,
				`INSERT INTO beads (bead_id, type, status, title, created_at, updated_at) VALUES
					('b-3', 'issue', 'open', 't', '', '2026-11-28T09:00:03.000Z'), ('b-9', 'issue', 'closed', 't', '', ''),
					('b-8', 'issue', 'failed', 't', '', ''), ('b-7', 'agent', 'open', 't', '', '')`,
				`INSERT INTO beads (bead_id, type, status, title, rig_id, created_at, updated_at, created_by) VALUES
					('b-2', 'merge_request', 'in_progress', 'Review: x', 'rig-a', '', '2026-11-28T09:00:02.000Z', 'z-agent')`,
				// Many open issues, more than any page would hold.
				`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600)
					INSERT INTO beads (bead_id, type, status, title, created_at, updated_at)
					SELECT printf('b-open-%04d', 601 - i), 'issue', 'open', 'many', '', '' FROM n`,
				`INSERT INTO beads (bead_id, type, status, title, created_at, updated_at) VALUES ('b-1', 'convoy', 'open', 'c', '', '')`,
			} {
				if err := tw.st.exec(q); err != nil {
					t.Fatal(err)
				}
			}
			code, body := call(t, f.Handler(), http.MethodGet, "/debug/towns/town-01/status", "")
			if code != 200 {
				t.Fatalf("status: %d %s", code, body)
			}
			s := decode[struct {
				AlarmStatus map[string]any   `json:"alarmStatus"`
				AgentMeta   []map[string]any `json:"agentMeta"`
				BeadSummary []map[string]any `json:"beadSummary"`
			}](t, body)
			if got := []any{s.AgentMeta[0]["bead_id"], s.AgentMeta[1]["bead_id"]}; len(s.AgentMeta) != 2 || got[0] != "z-agent" || got[1] != "a-agent" {
				t.Errorf("agents %v, want z-agent then a-agent (table order)", got)
			}
			var ids []string
			for _, b := range s.BeadSummary {
				ids = append(ids, b["bead_id"].(string))
			}
			want := []string{"b-1", "b-3"} // convoy open; issues open in table order
			for i := 600; i >= 1; i-- {
				want = append(want, fmt.Sprintf("b-open-%04d", i))
			}
			want = append(want, "b-2") // merge_request in_progress
			if !reflect.DeepEqual(ids, want) {
				t.Errorf("%d bead rows %v..., want %d %v...", len(ids), ids[:min(4, len(ids))], len(want), want[:4])
			}
			mr := s.BeadSummary[len(s.BeadSummary)-1]
			later := map[string]any{"rig_id": "rig-a", "created_by": "z-agent", "labels": `["gt:merge-request"]`, "metadata": "{}"}
			for k, v := range later {
				if got, ok := mr[k]; ok != (version == VersionLater) || (ok && got != v) {
					t.Errorf("merge request row %v: %s = %v (present %v)", mr, k, got, ok)
				}
			}
			if _, ok := s.BeadSummary[0]["rig_id"]; ok != (version == VersionLater) {
				t.Errorf("convoy row %v: rig_id present %v", s.BeadSummary[0], ok)
			}
			hasDrain := bytes.Contains(body, []byte(`"draining":false,"drainStartedAt":null}`))
			if hasDrain != (version == VersionLater) {
				t.Errorf("draining in %v: %v", s.AlarmStatus, hasDrain)
			}
		})
	}
}

// A side effect that fails is still counted attempted and succeeded, as
// Gastown's side effects catch their own errors: sideEffectsFailed stays 0.
func TestFailedSideEffectsCountAsSucceeded(t *testing.T) {
	f, c := newFleet(t, Options{Seed: 3, SideEffectFailureRate: 1})
	tw := f.byID["town-01"]
	attempted := 0
	for i := 0; i < 6 && attempted == 0; i++ {
		run(t, f, c, 5*time.Second)
		m := tw.metrics
		if m == nil {
			continue
		}
		if m.SideEffectsFailed != 0 || m.SideEffectsSucceeded != m.SideEffectsAttempted {
			t.Fatalf("metrics %+v, want every attempted side effect succeeded", m)
		}
		attempted = m.SideEffectsAttempted
	}
	if attempted == 0 {
		t.Fatal("no side effect in 30 seconds")
	}
	// They did fail: the dispatched containers exited at once.
	n := 0
	for _, e := range eventLog(t, tw) {
		if e.Type == evContainerStatus && strings.Contains(e.Payload, `"start_failed"`) {
			n++
		}
	}
	if n == 0 {
		t.Errorf("no failed container start recorded after %d side effects", attempted)
	}
}

func TestReconcilerWallClockInWholeMilliseconds(t *testing.T) {
	f, c := newFleet(t, Options{SideEffectLatency: 1500 * time.Microsecond})
	run(t, f, c, 5*time.Second)
	_, body := call(t, f.Handler(), http.MethodGet, "/debug/towns/town-01/status", "")
	r := decode[gastown.Status](t, body).AlarmStatus.Reconciler
	if r == nil || r.WallClockMs < 1 || r.WallClockMs != float64(int(r.WallClockMs)) {
		t.Errorf("reconciler %+v, want a whole number of milliseconds, at least the side effects' latency", r)
	}
}

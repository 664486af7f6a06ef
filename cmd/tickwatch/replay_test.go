package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tickwatch/tickwatch/gastown"
)

func TestPrintReplaySample(t *testing.T) {
	b, err := os.ReadFile("../../gastown/testdata/replay.json")
	if err != nil {
		t.Fatal(err)
	}
	var r gastown.ReplayResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := printReplay(&out, "town-a", "2026-11-28T08:00:00Z", "2026-11-28T09:00:00Z", &r); err != nil {
		t.Fatal(err)
	}
	want := `Town town-a, 2026-11-28T08:00:00Z .. 2026-11-28T09:00:00Z: 2 events replayed
Note: Approximate: the window's events were re-applied on top of the town's live state, not on a snapshot taken before the window.

Actions (1)     Count
dispatch_agent  1

Agent                                 Role     Status   Hook          Dispatches  Last activity
c41d9e02-77aa-4f0b-8e3e-1b2c3d4e5f60  polecat  working  b-issue-0052  1           2026-11-28T08:59:41Z

Bead (not terminal)  Type   Status  Assignee  Title
b-issue-0051         issue  open    -         Audit log export
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

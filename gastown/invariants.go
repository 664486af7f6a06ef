package gastown

import (
	"fmt"
	"sort"
)

// Gastown's invariant messages. simtown produces the same texts.
const (
	MsgWorkingNoHook    = "Working agent %s has no hook"
	MsgConvoyInProgress = "Convoy bead %s is in_progress (should only be open or closed)"
	MsgRigManyMRs       = "Rig %s has %d in_progress MR beads (should be at most 1)"
	MsgBeadManyHooked   = "Bead %s has %d agents hooked (should be at most 1)"
	MsgReviewWithoutMR  = "Issue bead %s is in_review but has no open/in_progress MR bead"
)

// CheckStatus derives invariants #7, #5 and #6 from a town's status rows, for
// workers whose dry run does not report violations itself.
func CheckStatus(s *Status) []Violation {
	agents := make([]agentRow, len(s.AgentMeta))
	for i, a := range s.AgentMeta {
		agents[i] = agentRow{a.BeadID, a.Status, a.CurrentHookBeadID}
	}
	beads := make([]beadRow, len(s.BeadSummary))
	for i, b := range s.BeadSummary {
		beads[i] = beadRow{b.BeadID, b.Type, b.Status}
	}
	return checkRows(agents, beads)
}

// agentRow and beadRow are the parts of the status rows the checks read;
// decoding only these skips the timestamps, most of a row's cost.
type agentRow struct {
	BeadID            string  `json:"bead_id"`
	Status            string  `json:"status"`
	CurrentHookBeadID *string `json:"current_hook_bead_id"`
}

type beadRow struct {
	BeadID string `json:"bead_id"`
	Type   string `json:"type"`
	Status string `json:"status"`
}

func checkRows(agents []agentRow, beads []beadRow) []Violation {
	out := []Violation{}
	for _, a := range agents {
		if a.Status == "working" && (a.CurrentHookBeadID == nil || *a.CurrentHookBeadID == "") {
			out = append(out, Violation{7, fmt.Sprintf(MsgWorkingNoHook, a.BeadID)})
		}
	}
	for _, b := range beads {
		if b.Type == "convoy" && b.Status == "in_progress" {
			out = append(out, Violation{5, fmt.Sprintf(MsgConvoyInProgress, b.BeadID)})
		}
	}
	hooked := map[string]int{}
	for _, a := range agents {
		if a.CurrentHookBeadID != nil && *a.CurrentHookBeadID != "" {
			hooked[*a.CurrentHookBeadID]++
		}
	}
	over := make([]string, 0, len(hooked))
	for id, n := range hooked {
		if n > 1 {
			over = append(over, id)
		}
	}
	sort.Strings(over)
	for _, id := range over {
		out = append(out, Violation{6, fmt.Sprintf(MsgBeadManyHooked, id, hooked[id])})
	}
	return out
}

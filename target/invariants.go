package target

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
	out := []Violation{}
	for _, a := range s.AgentMeta {
		if a.Status == "working" && (a.CurrentHookBeadID == nil || *a.CurrentHookBeadID == "") {
			out = append(out, Violation{7, fmt.Sprintf(MsgWorkingNoHook, a.BeadID)})
		}
	}
	for _, b := range s.BeadSummary {
		if b.Type == "convoy" && b.Status == "in_progress" {
			out = append(out, Violation{5, fmt.Sprintf(MsgConvoyInProgress, b.BeadID)})
		}
	}
	hooked := map[string]int{}
	for _, a := range s.AgentMeta {
		if a.CurrentHookBeadID != nil && *a.CurrentHookBeadID != "" {
			hooked[*a.CurrentHookBeadID]++
		}
	}
	beads := make([]string, 0, len(hooked))
	for id, n := range hooked {
		if n > 1 {
			beads = append(beads, id)
		}
	}
	sort.Strings(beads)
	for _, id := range beads {
		out = append(out, Violation{6, fmt.Sprintf(MsgBeadManyHooked, id, hooked[id])})
	}
	return out
}

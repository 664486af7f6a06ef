package gastown

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Gastown's invariant messages. simtown produces the same texts.
const (
	MsgWorkingNoHook    = "Working agent %s has no hook"
	MsgConvoyInProgress = "Convoy bead %s is in_progress (should only be open or closed)"
	MsgRigManyMRs       = "Rig %s has %d in_progress MR beads (should be at most 1)"
	MsgBeadManyHooked   = "Bead %s has %d agents hooked (should be at most 1)"
	MsgReviewWithoutMR  = "Issue bead %s is in_review but has no open/in_progress MR bead"
)

// Unnamed is the invariant number tickwatch gives the part of the
// reconciler's violation count that the status rows do not name. Gastown
// numbers its invariants from 1.
const Unnamed = 0

// InvariantLabel names an invariant in metric labels and Sentry tags:
// its number, or "unnamed" for the remainder.
func InvariantLabel(invariant int) string {
	if invariant == Unnamed {
		return "unnamed"
	}
	return strconv.Itoa(invariant)
}

// MsgUnnamed words the unnamed remainder. Its count is normalised away by
// the violation identity, so a changing count stays one violation.
const MsgUnnamed = "The reconciler counted %d invariant violations that the status rows do not name"

// ViolationSource says how tickwatch learnt of a violation.
type ViolationSource string

const (
	NamedByDryRun     ViolationSource = "dry_run"          // the dry run's violations list
	DerivedFromStatus ViolationSource = "status_rows"      // tickwatch's own check of the status rows
	ReconcilerCount   ViolationSource = "reconciler_count" // the unnamed remainder of the reconciler's count
)

// Derivable says which invariants the status rows let tickwatch name: #7,
// #5 and #6 always, #3 when bead rows carry rig_id (later Gastown
// versions). #4 needs bead dependencies, which no status answer carries.
const Derivable = "#7, #5 and #6 from the agent and bead rows, #3 when bead rows carry rig_id"

// CheckStatus derives what the status rows allow, for workers whose dry run
// does not report violations itself (the real worker never does).
func CheckStatus(s *Status) []Violation {
	agents := make([]agentRow, len(s.AgentMeta))
	for i, a := range s.AgentMeta {
		agents[i] = agentRow{a.BeadID, a.Status, a.CurrentHookBeadID}
	}
	beads := make([]beadRow, len(s.BeadSummary))
	for i, b := range s.BeadSummary {
		beads[i] = beadRow{b.BeadID, b.Type, b.Status, b.RigID}
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
	BeadID string  `json:"bead_id"`
	Type   string  `json:"type"`
	Status string  `json:"status"`
	RigID  *string `json:"rig_id"` // later Gastown versions only
}

// derive names the violations the rows show and tracks the rest of the
// reconciler's count as one unnamed remainder. Without a last tick (the
// town has not ticked since it started) the count is unknown.
func derive(rec *ReconcilerMetrics, agents []agentRow, beads []beadRow) (vs []Violation, remainderUnknown bool) {
	vs = checkRows(agents, beads)
	if rec == nil {
		return vs, true
	}
	if n := rec.InvariantViolations - len(vs); n > 0 {
		vs = append(vs, Violation{Unnamed, fmt.Sprintf(MsgUnnamed, n), ReconcilerCount})
	}
	return vs, false
}

// checkRows runs Gastown's checks that the rows allow, with its exact
// conditions (a hook is missing only when NULL) and in its order.
func checkRows(agents []agentRow, beads []beadRow) []Violation {
	out := []Violation{}
	for _, a := range agents {
		if a.Status == "working" && a.CurrentHookBeadID == nil {
			out = append(out, Violation{7, withID(MsgWorkingNoHook, a.BeadID), DerivedFromStatus})
		}
	}
	// The ids counted below, sorted, with a small town's on the stack.
	var buf [32]string
	ids := buf[:0]
	for _, b := range beads {
		switch {
		case b.Type == "convoy" && b.Status == "in_progress":
			out = append(out, Violation{5, withID(MsgConvoyInProgress, b.BeadID), DerivedFromStatus})
		case b.Type == "merge_request" && b.Status == "in_progress" && b.RigID != nil:
			ids = append(ids, *b.RigID)
		}
	}
	out = appendOver(out, 3, MsgRigManyMRs, ids)
	ids = ids[:0]
	for _, a := range agents {
		if a.CurrentHookBeadID != nil {
			ids = append(ids, *a.CurrentHookBeadID)
		}
	}
	return appendOver(out, 6, MsgBeadManyHooked, ids)
}

// withID is fmt.Sprintf(msg, id) for a message whose one verb is %s: the
// checks run on every poll, and a town that keeps a violation formats it
// every time, where Sprintf was a third of the checks' cost.
func withID(msg, id string) string { return strings.Replace(msg, "%s", id, 1) }

// appendOver adds a violation for every id listed more than once, in id
// order.
func appendOver(out []Violation, invariant int, msg string, ids []string) []Violation {
	slices.Sort(ids)
	for i := 0; i < len(ids); {
		j := i + 1
		for j < len(ids) && ids[j] == ids[i] {
			j++
		}
		if j-i > 1 {
			out = append(out, Violation{invariant, fmt.Sprintf(msg, ids[i], j-i), DerivedFromStatus})
		}
		i = j
	}
	return out
}

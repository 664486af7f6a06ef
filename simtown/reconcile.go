package simtown

import (
	"fmt"
	"time"
)

// reconcile looks at the state after the drain and decides what to do, in a
// fixed order so the same state at the same time gives the same actions.
func (s store) reconcile(now string) ([]action, error) {
	var acts []action
	for _, step := range []func(string) ([]action, error){
		s.patrolAgents, s.reviewMergeRequests, s.dispatchOpenBeads, s.trackConvoys,
	} {
		a, err := step(now)
		if err != nil {
			return nil, fmt.Errorf("reconcile: %w", err)
		}
		acts = append(acts, a...)
	}
	return acts, nil
}

// patrolAgents nudges quiet agents, marks silent ones stalled, recycles
// stalled ones and stops the containers of dead ones.
func (s store) patrolAgents(now string) ([]action, error) {
	agents, err := s.agents(`WHERE status IN ('working', 'stalled', 'dead') ORDER BY bead_id`)
	if err != nil {
		return nil, err
	}
	t := parseTS(now)
	var acts []action
	for _, a := range agents {
		switch a.Status {
		case "working":
			quiet := t.Sub(parseTS(a.LastActivity))
			switch {
			case quiet >= stallAfterTicks*s.active:
				acts = append(acts, action{Type: "transition_agent", AgentID: a.ID, From: "working", To: "stalled", Reason: "no_activity"})
			case quiet >= nudgeAfterTicks*s.active:
				// Minutes as Gastown counts them, in nominal (unscaled) time.
				mins := int(quiet / s.active * activeInterval / time.Minute)
				acts = append(acts, action{Type: "send_nudge", AgentID: a.ID,
					Message: fmt.Sprintf("No activity for %d minutes", mins), Tier: "warn"})
			}
		case "stalled":
			acts = append(acts, action{Type: "stop_agent", AgentID: a.ID, Reason: "stalled"})
			if a.Hook.Valid {
				acts = append(acts, action{Type: "unhook_agent", AgentID: a.ID, Reason: "stalled"})
				b, err := s.bead(a.Hook.String)
				if err != nil {
					return nil, err
				}
				if b != nil && b.Status == "in_progress" {
					acts = append(acts, action{Type: "transition_bead", BeadID: b.ID, From: b.Status, To: "open", Reason: "agent_stalled", Actor: "reconciler"})
				}
			}
			acts = append(acts, action{Type: "transition_agent", AgentID: a.ID, From: "stalled", To: "idle", Reason: "stalled"})
		case "dead":
			acts = append(acts, action{Type: "stop_agent", AgentID: a.ID, Reason: "dead"})
		}
	}
	return acts, nil
}

// reviewMergeRequests polls the PR of every merge request under review and
// lets each rig's refinery pick up the oldest open one when it is free.
func (s store) reviewMergeRequests(string) ([]action, error) {
	mrs, err := s.beads(`WHERE type = 'merge_request' AND status IN ('open', 'in_progress') ORDER BY created_at, bead_id`)
	if err != nil {
		return nil, err
	}
	var acts []action
	busy := map[string]bool{}
	for _, m := range mrs {
		if m.Status == "in_progress" {
			busy[m.Rig.String] = true
			acts = append(acts, action{Type: "poll_pr", BeadID: m.ID, PRURL: m.PRURL.String})
		}
	}
	for _, m := range mrs {
		if m.Status == "open" && !busy[m.Rig.String] {
			busy[m.Rig.String] = true
			acts = append(acts, action{Type: "transition_bead", BeadID: m.ID, From: "open", To: "in_progress", Reason: "refinery_review", Actor: "refinery"})
		}
	}
	return acts, nil
}

// dispatchOpenBeads hooks idle polecats to open issues, oldest first, and asks
// for new polecats (empty agent_id) while the town has room for them.
func (s store) dispatchOpenBeads(string) ([]action, error) {
	open, err := s.beads(`WHERE type = 'issue' AND status = 'open' AND assignee_agent_bead_id IS NULL ORDER BY created_at, bead_id`)
	if err != nil || len(open) == 0 {
		return nil, err
	}
	idle, err := s.agents(`WHERE role = 'polecat' AND status = 'idle' ORDER BY bead_id`)
	if err != nil {
		return nil, err
	}
	polecats, err := s.count(`SELECT COUNT(*) FROM agent_metadata WHERE role = 'polecat' AND bead_id NOT LIKE 'fa017%'`)
	if err != nil {
		return nil, err
	}
	var acts []action
	for _, b := range open {
		switch {
		case len(idle) > 0:
			acts = append(acts, action{Type: "dispatch_agent", AgentID: idle[0].ID, BeadID: b.ID, RigID: b.Rig.String})
			idle = idle[1:]
		case polecats < maxPolecats:
			acts = append(acts, action{Type: "dispatch_agent", AgentID: "", BeadID: b.ID, RigID: b.Rig.String})
			polecats++
		default:
			return acts, nil
		}
	}
	return acts, nil
}

// trackConvoys reports progress of open convoys and lands the finished ones.
func (s store) trackConvoys(string) ([]action, error) {
	convoys, err := s.beads(`WHERE type = 'convoy' AND status = 'open' ORDER BY bead_id`)
	if err != nil {
		return nil, err
	}
	var acts []action
	for _, c := range convoys {
		total, err := s.count(`SELECT COUNT(*) FROM bead_dependencies WHERE bead_id = ?`, c.ID)
		if err != nil {
			return nil, err
		}
		done, err := s.count(`SELECT COUNT(*) FROM bead_dependencies d JOIN beads b ON b.bead_id = d.depends_on_bead_id
			WHERE d.bead_id = ? AND b.status IN ('closed', 'failed')`, c.ID)
		if err != nil {
			return nil, err
		}
		if done != c.Progress {
			acts = append(acts, action{Type: "update_convoy_progress", ConvoyID: c.ID, ClosedBeads: done})
		}
		if total > 0 && done == total {
			acts = append(acts, action{Type: "transition_bead", BeadID: c.ID, From: "open", To: "closed", Reason: "convoy_landed", Actor: "reconciler"})
		}
	}
	return acts, nil
}

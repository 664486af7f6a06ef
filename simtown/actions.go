package simtown

import "fmt"

// applyActions applies actions in order at tick time now. Side-effect-only
// actions (poll_pr, send_nudge, stop_agent) change nothing here.
func (s store) applyActions(acts []action, now string) error {
	for i := range acts {
		if err := s.applyAction(&acts[i], now); err != nil {
			return fmt.Errorf("apply %s: %w", acts[i].Type, err)
		}
	}
	return nil
}

func (s store) applyAction(a *action, now string) error {
	switch a.Type {
	case "transition_agent":
		return s.exec(`UPDATE agent_metadata SET status = ?, last_activity_at = ? WHERE bead_id = ?`, a.To, now, a.AgentID)
	case "unhook_agent":
		if err := s.exec(`INSERT INTO bead_events (bead_id, agent_id, event_type, old_value, created_at)
			SELECT current_hook_bead_id, bead_id, 'unhooked', bead_id, ? FROM agent_metadata
			WHERE bead_id = ? AND current_hook_bead_id IS NOT NULL`, now, a.AgentID); err != nil {
			return err
		}
		return s.exec(`UPDATE agent_metadata SET current_hook_bead_id = NULL WHERE bead_id = ?`, a.AgentID)
	case "create_mr_bead":
		n, err := s.count(`SELECT COUNT(*) FROM beads WHERE type = 'merge_request' AND bead_id NOT LIKE 'b-fault-%'`)
		if err != nil {
			return err
		}
		id := fmt.Sprintf("b-mr-%04d", n+1)
		if err := s.exec(`INSERT INTO beads (bead_id, type, status, title, rig_id, pr_url, created_at, updated_at, created_by)
			VALUES (?, 'merge_request', 'open', ?, ?, ?, ?, ?, ?)`, id, "Review: "+a.Branch, nullable(a.RigID), a.PRURL, now, now, nullable(a.AgentID)); err != nil {
			return err
		}
		if err := s.exec(`INSERT INTO bead_dependencies (bead_id, depends_on_bead_id, kind) VALUES (?, ?, 'tracks')`, id, a.SourceBeadID); err != nil {
			return err
		}
		return s.logBeadEvent(a.SourceBeadID, a.AgentID, "review_submitted", "", a.Branch, now)
	case "transition_bead":
		if err := s.logStatusChange(a.BeadID, a.To, a.Actor, now); err != nil {
			return err
		}
		// The refinery owns the merge request it reviews; any other move
		// leaves the bead unassigned.
		if a.To == "in_progress" && a.Actor == "refinery" {
			return s.exec(`UPDATE beads SET status = ?, updated_at = ?, assignee_agent_bead_id =
				(SELECT bead_id FROM agent_metadata WHERE role = 'refinery' AND rig_id = beads.rig_id ORDER BY bead_id LIMIT 1)
				WHERE bead_id = ?`, a.To, now, a.BeadID)
		}
		return s.exec(`UPDATE beads SET status = ?, updated_at = ?, assignee_agent_bead_id = NULL WHERE bead_id = ?`, a.To, now, a.BeadID)
	case "dispatch_agent":
		id := a.AgentID
		if id == "" {
			// An empty agent_id asks for a new polecat; its id derives from
			// the count of polecats so a rebuilt history gets the same one.
			n, err := s.count(`SELECT COUNT(*) FROM agent_metadata WHERE role = 'polecat' AND bead_id NOT LIKE 'fa017%'`)
			if err != nil {
				return err
			}
			id = uuidFor(s.town, "polecat", fmt.Sprint(n+1))
			if err := s.exec(`INSERT INTO agent_metadata (bead_id, role, status, dispatch_attempts, last_activity_at, rig_id)
				VALUES (?, 'polecat', 'idle', 0, ?, ?)`, id, now, nullable(a.RigID)); err != nil {
				return err
			}
		}
		a.spawned = id
		if err := s.logBeadEvent(a.BeadID, id, "hooked", "", id, now); err != nil {
			return err
		}
		if err := s.logStatusChange(a.BeadID, "in_progress", id, now); err != nil {
			return err
		}
		if err := s.exec(`UPDATE agent_metadata SET status = 'working', current_hook_bead_id = ?,
			dispatch_attempts = dispatch_attempts + 1, last_activity_at = ? WHERE bead_id = ?`, a.BeadID, now, id); err != nil {
			return err
		}
		return s.exec(`UPDATE beads SET status = 'in_progress', assignee_agent_bead_id = ?, updated_at = ? WHERE bead_id = ?`, id, now, a.BeadID)
	case "update_convoy_progress":
		return s.exec(`UPDATE beads SET progress = ?, updated_at = ? WHERE bead_id = ?`, a.ClosedBeads, now, a.ConvoyID)
	}
	return nil
}

// logStatusChange records a bead's move to status by actor, as Gastown's
// updateBeadStatus does: only when the status really changes.
func (s store) logStatusChange(beadID, status, actor, now string) error {
	return s.exec(`INSERT INTO bead_events (bead_id, agent_id, event_type, old_value, new_value, created_at)
		SELECT bead_id, ?, 'status_changed', status, ?, ? FROM beads WHERE bead_id = ? AND status != ?`,
		nullable(actor), status, now, beadID, status)
}

package simtown

import (
	"fmt"

	"github.com/tickwatch/tickwatch/gastown"
)

// checkInvariants reports every broken invariant with Gastown's text and
// Gastown's conditions, in Gastown's order: #7, #5, #3, #6, #4. Its queries
// have no ORDER BY; rows come in table order, groups in key order, which
// the ORDER BY clauses below make explicit.
func (s store) checkInvariants() ([]gastown.Violation, error) {
	out := []gastown.Violation{}
	ids, err := s.strings(`SELECT bead_id FROM agent_metadata
		WHERE status = 'working' AND current_hook_bead_id IS NULL ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("invariant 7: %w", err)
	}
	for _, id := range ids {
		out = append(out, gastown.Violation{Invariant: 7, Message: fmt.Sprintf(gastown.MsgWorkingNoHook, id)})
	}
	ids, err = s.strings(`SELECT bead_id FROM beads WHERE type = 'convoy' AND status = 'in_progress' ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("invariant 5: %w", err)
	}
	for _, id := range ids {
		out = append(out, gastown.Violation{Invariant: 5, Message: fmt.Sprintf(gastown.MsgConvoyInProgress, id)})
	}
	if out, err = s.groupCounts(out, 3, gastown.MsgRigManyMRs, `SELECT rig_id, COUNT(*) FROM beads
		WHERE type = 'merge_request' AND status = 'in_progress' AND rig_id IS NOT NULL
		GROUP BY rig_id HAVING COUNT(*) > 1 ORDER BY rig_id`); err != nil {
		return nil, err
	}
	if out, err = s.groupCounts(out, 6, gastown.MsgBeadManyHooked, `SELECT current_hook_bead_id, COUNT(*) FROM agent_metadata
		WHERE current_hook_bead_id IS NOT NULL
		GROUP BY current_hook_bead_id HAVING COUNT(*) > 1 ORDER BY current_hook_bead_id`); err != nil {
		return nil, err
	}
	ids, err = s.strings(`SELECT b.bead_id FROM beads b WHERE b.type = 'issue' AND b.status = 'in_review'
		AND NOT EXISTS (SELECT 1 FROM bead_dependencies d JOIN beads m ON m.bead_id = d.bead_id
			WHERE d.depends_on_bead_id = b.bead_id AND d.kind = 'tracks'
			AND m.type = 'merge_request' AND m.status IN ('open', 'in_progress'))
		ORDER BY b.rowid`)
	if err != nil {
		return nil, fmt.Errorf("invariant 4: %w", err)
	}
	for _, id := range ids {
		out = append(out, gastown.Violation{Invariant: 4, Message: fmt.Sprintf(gastown.MsgReviewWithoutMR, id)})
	}
	return out, nil
}

func (s store) groupCounts(out []gastown.Violation, inv int, msg, q string) ([]gastown.Violation, error) {
	rows, err := s.c.QueryContext(s.ctx, q)
	if err != nil {
		return nil, fmt.Errorf("invariant %d: %w", inv, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("invariant %d: %w", inv, err)
		}
		out = append(out, gastown.Violation{Invariant: inv, Message: fmt.Sprintf(msg, id, n)})
	}
	return out, rows.Err()
}

// breakInvariant forces the rows that break invariant inv into their broken
// state. The rows are simtown's own (fault ids), so the simulated world never
// touches them, and re-applying is harmless: fault_injected events re-assert
// the break every tick while the fault lasts.
func (s store) breakInvariant(inv int, rig, now string) error {
	agentRow := `INSERT OR REPLACE INTO agent_metadata (bead_id, role, status, current_hook_bead_id,
		dispatch_attempts, last_activity_at, rig_id) VALUES (?, 'polecat', 'working', ?, 1, ?, ?)`
	beadRow := `INSERT OR REPLACE INTO beads (bead_id, type, status, title, assignee_agent_bead_id, rig_id, pr_url,
		created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`
	switch inv {
	case 7:
		return s.exec(agentRow, faultAgentID(7, 1), nil, now, nullable(rig))
	case 5:
		return s.exec(beadRow, faultBeadPrefix+"5-convoy", "convoy", "in_progress", "Stuck convoy", nil, nil, nil, now, now)
	case 3:
		for i := 1; i <= 2; i++ {
			id := fmt.Sprintf("%s3-mr-%d", faultBeadPrefix, i)
			if err := s.exec(beadRow, id, "merge_request", "in_progress", "Review: duplicate merge", nil, nullable(rig),
				"https://example.invalid/pr/fault-"+id, now, now); err != nil {
				return err
			}
		}
		return nil
	case 6:
		id := faultBeadPrefix + "6-issue"
		if err := s.exec(beadRow, id, "issue", "in_progress", "Doubly hooked issue", faultAgentID(6, 1), nullable(rig), nil, now, now); err != nil {
			return err
		}
		for i := 1; i <= 2; i++ {
			if err := s.exec(agentRow, faultAgentID(6, i), id, now, nullable(rig)); err != nil {
				return err
			}
		}
		return nil
	case 4:
		return s.exec(beadRow, faultBeadPrefix+"4-issue", "issue", "in_review", "Review without merge request", nil, nullable(rig), nil, now, now)
	}
	return nil
}

// repairInvariant removes the rows breakInvariant made.
func (s store) repairInvariant(inv int) error {
	agents := fmt.Sprintf("%s%03d-%%", faultAgentPrefix, inv)
	beads := fmt.Sprintf("%s%d-%%", faultBeadPrefix, inv)
	if err := s.exec(`DELETE FROM agent_metadata WHERE bead_id LIKE ?`, agents); err != nil {
		return err
	}
	if err := s.exec(`DELETE FROM bead_dependencies WHERE bead_id LIKE ? OR depends_on_bead_id LIKE ?`, beads, beads); err != nil {
		return err
	}
	return s.exec(`DELETE FROM beads WHERE bead_id LIKE ?`, beads)
}

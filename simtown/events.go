package simtown

import (
	"encoding/json"
	"fmt"
)

// Event types of town_events. Side effects and the simulated world only ever
// record these; the alarm tick is the one place that changes state.
const (
	evAgentRegistered = "agent_registered"
	evBeadCreated     = "bead_created"
	evConvoyStarted   = "convoy_started"
	evAgentDone       = "agent_done"
	evContainerStatus = "container_status"
	evPRStatus        = "pr_status"
	evAgentActivity   = "agent_activity"
	evAgentStopped    = "agent_stopped"
	evFaultInjected   = "fault_injected"
	evFaultRepaired   = "fault_repaired"
)

// payload is the JSON of town_events.payload; each type uses a few fields.
type payload struct {
	Type      string   `json:"type,omitempty"`
	Title     string   `json:"title,omitempty"`
	Role      string   `json:"role,omitempty"`
	RigID     string   `json:"rig_id,omitempty"`
	Branch    string   `json:"branch,omitempty"`
	PRURL     string   `json:"pr_url,omitempty"`
	Summary   string   `json:"summary,omitempty"`
	Status    string   `json:"status,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	ExitCode  *int     `json:"exit_code,omitempty"`
	Members   []string `json:"members,omitempty"`
	Invariant int      `json:"invariant,omitempty"`
}

type event struct {
	ID, Type, AgentID, BeadID string
	Payload                   payload
	CreatedAt                 string
}

const eventCols = `event_id, event_type, COALESCE(agent_id, ''), COALESCE(bead_id, ''), payload, created_at`

func (s store) events(where string, args ...any) ([]event, error) {
	rows, err := s.c.QueryContext(s.ctx, `SELECT `+eventCols+` FROM town_events `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("query events %s: %w", where, err)
	}
	defer rows.Close()
	var out []event
	for rows.Next() {
		var e event
		var p string
		if err := rows.Scan(&e.ID, &e.Type, &e.AgentID, &e.BeadID, &p, &e.CreatedAt); err != nil {
			return nil, err
		}
		// A payload that does not parse is applied as empty: one bad event
		// never stops the drain.
		_ = json.Unmarshal([]byte(p), &e.Payload)
		out = append(out, e)
	}
	return out, rows.Err()
}

// pendingEvents are drained oldest first; rowid breaks ties of created_at.
func (s store) pendingEvents(limit int) ([]event, error) {
	return s.events(`WHERE processed_at IS NULL ORDER BY created_at, rowid LIMIT ?`, limit)
}

func (s store) pendingCount() (int, error) {
	return s.count(`SELECT COUNT(*) FROM town_events WHERE processed_at IS NULL`)
}

func (s store) markProcessed(evs []event, at string) error {
	for _, e := range evs {
		if err := s.exec(`UPDATE town_events SET processed_at = ? WHERE event_id = ?`, at, e.ID); err != nil {
			return err
		}
	}
	return nil
}

func (s store) insertEvent(e event) error {
	p, err := json.Marshal(e.Payload)
	if err != nil {
		return fmt.Errorf("encode payload of %s: %w", e.Type, err)
	}
	return s.exec(`INSERT INTO town_events (event_id, event_type, agent_id, bead_id, payload, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`, e.ID, e.Type, nullable(e.AgentID), nullable(e.BeadID), string(p), e.CreatedAt)
}

// recorded reports whether Gastown would keep the event: a container
// reporting that it is running is never recorded.
func recorded(e event) bool {
	return !(e.Type == evContainerStatus && e.Payload.Status == "running")
}

// applyEvent applies one drained event at tick time now and returns the
// actions it produced, already applied.
func (s store) applyEvent(e event, now string) ([]action, error) {
	var acts []action
	var err error
	switch e.Type {
	case evAgentRegistered:
		err = s.exec(`INSERT OR IGNORE INTO agent_metadata (bead_id, role, status, current_hook_bead_id,
			dispatch_attempts, last_activity_at, rig_id) VALUES (?, ?, 'idle', NULL, 0, ?, ?)`,
			e.AgentID, e.Payload.Role, e.CreatedAt, nullable(e.Payload.RigID))
	case evBeadCreated:
		err = s.exec(`INSERT OR IGNORE INTO beads (bead_id, type, status, title, rig_id, created_at, updated_at)
			VALUES (?, 'issue', 'open', ?, ?, ?, ?)`, e.BeadID, e.Payload.Title, nullable(e.Payload.RigID), e.CreatedAt, e.CreatedAt)
		if err == nil {
			err = s.logBeadEvent(e.BeadID, "", "created", "", "open", e.CreatedAt)
		}
	case evConvoyStarted:
		err = s.startConvoy(e)
	case evAgentDone:
		acts, err = s.agentDone(e)
	case evContainerStatus:
		acts, err = s.containerExited(e)
	case evPRStatus:
		acts, err = s.prStatus(e)
	case evAgentActivity:
		err = s.exec(`UPDATE agent_metadata SET last_activity_at = ? WHERE bead_id = ? AND last_activity_at < ?`,
			e.CreatedAt, e.AgentID, e.CreatedAt)
	case evAgentStopped:
		var a *agent
		if a, err = s.agent(e.AgentID); err == nil && a != nil && a.Status == "dead" {
			acts = []action{{Type: "transition_agent", AgentID: a.ID, From: "dead", To: "idle", Reason: "restarted"}}
		}
	case evFaultInjected:
		err = s.breakInvariant(e.Payload.Invariant, e.Payload.RigID, now)
	case evFaultRepaired:
		err = s.repairInvariant(e.Payload.Invariant)
	}
	if err != nil {
		return nil, fmt.Errorf("apply event %s (%s): %w", e.ID, e.Type, err)
	}
	if err := s.applyActions(acts, now); err != nil {
		return nil, fmt.Errorf("apply event %s (%s): %w", e.ID, e.Type, err)
	}
	return acts, nil
}

func (s store) startConvoy(e event) error {
	if err := s.exec(`INSERT OR IGNORE INTO beads (bead_id, type, status, title, created_at, updated_at)
		VALUES (?, 'convoy', 'open', ?, ?, ?)`, e.BeadID, e.Payload.Title, e.CreatedAt, e.CreatedAt); err != nil {
		return err
	}
	if err := s.logBeadEvent(e.BeadID, "", "created", "", "open", e.CreatedAt); err != nil {
		return err
	}
	for _, m := range e.Payload.Members {
		if err := s.exec(`INSERT OR IGNORE INTO bead_dependencies (bead_id, depends_on_bead_id, kind)
			VALUES (?, ?, 'tracks')`, e.BeadID, m); err != nil {
			return err
		}
	}
	return nil
}

// agentDone: the agent finished its hooked bead and opened a PR.
func (s store) agentDone(e event) ([]action, error) {
	a, err := s.agent(e.AgentID)
	if err != nil || a == nil || a.Status != "working" || !a.Hook.Valid || a.Hook.String != e.BeadID {
		return nil, err // stale: the agent moved on meanwhile
	}
	b, err := s.bead(e.BeadID)
	if err != nil || b == nil {
		return nil, err
	}
	return []action{
		{Type: "transition_agent", AgentID: a.ID, From: "working", To: "idle", Reason: "agent_done"},
		{Type: "unhook_agent", AgentID: a.ID, Reason: "agent_done"},
		{Type: "create_mr_bead", SourceBeadID: b.ID, AgentID: a.ID, RigID: b.Rig.String, Branch: e.Payload.Branch,
			TargetBranch: "main", PRURL: e.Payload.PRURL, Summary: e.Payload.Summary},
		{Type: "transition_bead", BeadID: b.ID, From: b.Status, To: "in_review", Reason: "agent_done", Actor: "reconciler"},
	}, nil
}

// containerExited: the agent's container is gone; its hooked work goes back
// to open. A crash (non-zero exit other than a failed start) kills the agent.
func (s store) containerExited(e event) ([]action, error) {
	if e.Payload.Status != "exited" {
		return nil, nil
	}
	a, err := s.agent(e.AgentID)
	if err != nil || a == nil || (a.Status != "working" && a.Status != "stalled") {
		return nil, err
	}
	reason := e.Payload.Reason
	if reason == "" {
		reason = "container_exited"
	}
	to := "idle"
	if e.Payload.ExitCode != nil && *e.Payload.ExitCode != 0 && reason != "start_failed" {
		to = "dead"
	}
	acts := []action{{Type: "transition_agent", AgentID: a.ID, From: a.Status, To: to, Reason: reason}}
	if a.Hook.Valid {
		acts = append(acts, action{Type: "unhook_agent", AgentID: a.ID, Reason: reason})
		b, err := s.bead(a.Hook.String)
		if err != nil {
			return nil, err
		}
		if b != nil && b.Status == "in_progress" {
			acts = append(acts, action{Type: "transition_bead", BeadID: b.ID, From: b.Status, To: "open", Reason: reason, Actor: "reconciler"})
		}
	}
	return acts, nil
}

// prStatus: the PR of a merge request merged or was closed unmerged.
func (s store) prStatus(e event) ([]action, error) {
	mr, err := s.bead(e.BeadID)
	if err != nil || mr == nil || (mr.Status != "open" && mr.Status != "in_progress") {
		return nil, err
	}
	src, err := s.strings(`SELECT depends_on_bead_id FROM bead_dependencies WHERE bead_id = ? AND kind = 'tracks'`, mr.ID)
	if err != nil {
		return nil, err
	}
	mrTo, srcTo, reason := "closed", "closed", "pr_merged"
	if e.Payload.Status != "merged" {
		mrTo, srcTo, reason = "failed", "open", "pr_closed"
	}
	acts := []action{{Type: "transition_bead", BeadID: mr.ID, From: mr.Status, To: mrTo, Reason: reason, Actor: "refinery"}}
	for _, id := range src {
		b, err := s.bead(id)
		if err != nil {
			return nil, err
		}
		if b != nil && b.Status == "in_review" {
			acts = append(acts, action{Type: "transition_bead", BeadID: b.ID, From: b.Status, To: srcTo, Reason: reason, Actor: "refinery"})
		}
	}
	return acts, nil
}

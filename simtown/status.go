package simtown

import (
	"database/sql"
	"fmt"
	"unicode/utf16"
)

// status answers GET /status from the town's tables and its alarm state:
// nextFireAt is the armed alarm, intervalMs and intervalLabel the interval
// the town's work calls for now, which can differ until the next tick.
func (t *town) status() (*statusJSON, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pending, err := t.st.pendingCount()
	if err != nil {
		return nil, fmt.Errorf("status of town %q: %w", t.id, err)
	}
	active, err := t.st.hasWork(pending)
	if err != nil {
		return nil, fmt.Errorf("status of town %q: %w", t.id, err)
	}
	out := newStatus(t.opts, active)
	a := &out.AlarmStatus
	if !t.next.IsZero() {
		s := ts(t.next)
		a.Alarm.NextFireAt = &s
	}
	if t.metrics != nil {
		m := *t.metrics
		a.Reconciler = &m
	}
	counts := []struct {
		dst *int
		q   string
	}{
		{&a.Agents.Working, `SELECT COUNT(*) FROM agent_metadata WHERE status = 'working'`},
		{&a.Agents.Idle, `SELECT COUNT(*) FROM agent_metadata WHERE status = 'idle'`},
		{&a.Agents.Stalled, `SELECT COUNT(*) FROM agent_metadata WHERE status = 'stalled'`},
		{&a.Agents.Dead, `SELECT COUNT(*) FROM agent_metadata WHERE status = 'dead'`},
		{&a.Agents.Total, `SELECT COUNT(*) FROM agent_metadata`},
		{&a.Beads.Open, `SELECT COUNT(*) FROM beads WHERE status = 'open'`},
		{&a.Beads.InProgress, `SELECT COUNT(*) FROM beads WHERE status = 'in_progress'`},
		{&a.Beads.InReview, `SELECT COUNT(*) FROM beads WHERE status = 'in_review'`},
		{&a.Beads.Failed, `SELECT COUNT(*) FROM beads WHERE status = 'failed'`},
		{&a.Beads.TriageRequests, `SELECT COUNT(*) FROM beads WHERE type = 'triage_request' AND status NOT IN ('closed', 'failed')`},
		{&a.Patrol.StalledAgents, `SELECT COUNT(*) FROM agent_metadata WHERE status = 'stalled'`},
		{&a.Patrol.OrphanedHooks, `SELECT COUNT(*) FROM agent_metadata a WHERE a.current_hook_bead_id IS NOT NULL
			AND NOT EXISTS (SELECT 1 FROM beads b WHERE b.bead_id = a.current_hook_bead_id AND b.status NOT IN ('closed', 'failed'))`},
	}
	for _, c := range counts {
		if *c.dst, err = t.st.count(c.q); err != nil {
			return nil, fmt.Errorf("status of town %q: %w", t.id, err)
		}
	}
	// GUPP patrol: working agents quiet long enough to be nudged (warning)
	// or about to be declared stalled (escalation, the last fifth).
	now := t.last
	if now.IsZero() {
		now = t.opts.Now()
	}
	warn := ts(now.Add(-nudgeAfterTicks * t.st.active))
	esc := ts(now.Add(-stallAfterTicks * t.st.active * 4 / 5))
	if a.Patrol.GuppWarnings, err = t.st.count(`SELECT COUNT(*) FROM agent_metadata WHERE status = 'working' AND last_activity_at <= ? AND last_activity_at > ?`, warn, esc); err != nil {
		return nil, fmt.Errorf("status of town %q: %w", t.id, err)
	}
	if a.Patrol.GuppEscalations, err = t.st.count(`SELECT COUNT(*) FROM agent_metadata WHERE status = 'working' AND last_activity_at <= ?`, esc); err != nil {
		return nil, fmt.Errorf("status of town %q: %w", t.id, err)
	}
	if a.RecentEvents, err = t.st.recentEvents(); err != nil {
		return nil, fmt.Errorf("status of town %q: %w", t.id, err)
	}
	if out.AgentMeta, err = t.st.agentRows(); err != nil {
		return nil, fmt.Errorf("status of town %q: %w", t.id, err)
	}
	if out.BeadSummary, err = t.st.beadRows(t.opts.Version == VersionLater); err != nil {
		return nil, fmt.Errorf("status of town %q: %w", t.id, err)
	}
	return out, nil
}

// newStatus is the status of a town with no rows, no alarm and no tick
// yet: what Gastown answers for an id that was never created.
func newStatus(opts *Options, active bool) *statusJSON {
	out := &statusJSON{AgentMeta: []agentRow{}, BeadSummary: []beadRow{}}
	a := &out.AlarmStatus
	a.RecentEvents = []recentEventJSON{}
	a.Alarm.IntervalMs = opts.IdleInterval.Milliseconds()
	a.Alarm.IntervalLabel = "idle (" + idleLabel(opts.IdleInterval) + ")"
	if active {
		a.Alarm.IntervalMs = activeInterval.Milliseconds()
		a.Alarm.IntervalLabel = "active (5s)"
	}
	if opts.Version == VersionLater {
		a.drainJSON = &drainJSON{}
	}
	return out
}

// agentRows are Gastown's agent rows: every agent, in table order.
func (s store) agentRows() ([]agentRow, error) {
	as, err := s.agents(`ORDER BY rowid`)
	if err != nil {
		return nil, err
	}
	out := make([]agentRow, 0, len(as))
	for _, a := range as {
		out = append(out, agentRow{BeadID: a.ID, Role: a.Role, Status: a.Status, CurrentHookBeadID: nullString(a.Hook),
			DispatchAttempts: a.Attempts, LastActivityAt: a.LastActivity})
	}
	return out, nil
}

// beadRows are Gastown's non-terminal bead rows, by type and status (ties
// in table order, as SQLite's sort leaves them); later versions add four
// columns.
func (s store) beadRows(later bool) ([]beadRow, error) {
	bs, err := s.beads(`WHERE status NOT IN ('closed', 'failed') AND type != 'agent' ORDER BY type, status, rowid`)
	if err != nil {
		return nil, err
	}
	out := make([]beadRow, 0, len(bs))
	for _, b := range bs {
		r := beadRow{BeadID: b.ID, Type: b.Type, Status: b.Status, Title: b.Title,
			AssigneeAgentBeadID: nullString(b.Assignee), UpdatedAt: b.UpdatedAt}
		if later {
			labels := "[]"
			if b.Type == "merge_request" {
				labels = `["gt:merge-request"]`
			}
			r.laterBeadJSON = &laterBeadJSON{RigID: nullString(b.Rig), CreatedBy: nullString(b.CreatedBy), Labels: labels, Metadata: "{}"}
		}
		out = append(out, r)
	}
	return out, nil
}

func nullString(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

// recentEvents are the last 20 bead events, newest first, worded as
// Gastown's activity feed words them.
func (s store) recentEvents() ([]recentEventJSON, error) {
	rows, err := s.c.QueryContext(s.ctx, `SELECT e.created_at, e.event_type, COALESCE(e.new_value, ''),
			COALESCE(e.agent_id, ''), e.bead_id, COALESCE(b.title, '')
		FROM bead_events e LEFT JOIN beads b ON b.bead_id = e.bead_id
		ORDER BY e.created_at DESC, e.seq DESC LIMIT ?`, recentEventsMax)
	if err != nil {
		return nil, fmt.Errorf("query recent events: %w", err)
	}
	defer rows.Close()
	out := []recentEventJSON{}
	for rows.Next() {
		var at, typ, newValue, agentID, beadID, title string
		if err := rows.Scan(&at, &typ, &newValue, &agentID, &beadID, &title); err != nil {
			return nil, err
		}
		out = append(out, recentEventJSON{Time: at, Type: typ, Message: eventMessage(typ, newValue, agentID, beadID, title)})
	}
	return out, rows.Err()
}

// eventMessage words a bead event as Gastown's status feed does; ids are
// cut to their first eight characters.
func eventMessage(typ, newValue, agentID, beadID, title string) string {
	target := "unknown"
	switch {
	case title != "":
		target = `"` + title + `"`
	case beadID != "":
		target = "bead " + first8(beadID) + "…"
	}
	actor := "system"
	if agentID != "" {
		actor = "agent " + first8(agentID) + "…"
	}
	value := newValue
	if value == "" {
		value = "?"
	}
	switch typ {
	case "status_changed":
		return target + " → " + value + " (by " + actor + ")"
	case "assigned":
		return target + " assigned to " + actor
	case "pr_created":
		return "PR created for " + target
	case "pr_merged":
		return "PR merged for " + target
	case "pr_creation_failed":
		return "PR creation failed for " + target
	case "escalation_created":
		return "Escalation created: " + target
	case "agent_status":
		if newValue == "" {
			value = "status update"
		}
		return actor + ": " + value
	}
	return typ + ": " + target
}

// first8 is JavaScript's s.slice(0, 8), in UTF-16 code units.
func first8(s string) string {
	u := utf16.Encode([]rune(s))
	if len(u) <= 8 {
		return s
	}
	return string(utf16.Decode(u[:8]))
}

package simtown

import "fmt"

const beadSummaryMax = 500

// status answers GET /status from the town's tables and its alarm state.
func (t *town) status() (*statusJSON, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := &statusJSON{}
	a := &out.AlarmStatus
	if !t.next.IsZero() {
		s := ts(t.next)
		a.Alarm.NextFireAt = &s
	}
	_, nominal := t.intervals()
	a.Alarm.IntervalMs = nominal.Milliseconds()
	a.Alarm.IntervalLabel = fmt.Sprintf("idle (%ds)", int(nominal.Seconds()))
	if t.active {
		a.Alarm.IntervalLabel = fmt.Sprintf("active (%ds)", int(nominal.Seconds()))
	}
	if t.metrics != nil {
		m := *t.metrics
		a.Reconciler = &m
	}
	var err error
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
	if out.AgentMeta, err = t.st.agentRows(`ORDER BY rowid`); err != nil {
		return nil, fmt.Errorf("status of town %q: %w", t.id, err)
	}
	if out.BeadSummary, err = t.st.beadRows(fmt.Sprintf(`WHERE status NOT IN ('closed', 'failed') ORDER BY bead_id LIMIT %d`, beadSummaryMax)); err != nil {
		return nil, fmt.Errorf("status of town %q: %w", t.id, err)
	}
	return out, nil
}

func (s store) agentRows(where string, args ...any) ([]agentRow, error) {
	as, err := s.agents(where, args...)
	if err != nil {
		return nil, err
	}
	out := make([]agentRow, 0, len(as))
	for _, a := range as {
		r := agentRow{BeadID: a.ID, Role: a.Role, Status: a.Status, DispatchAttempts: a.Attempts, LastActivityAt: a.LastActivity}
		if a.Hook.Valid {
			h := a.Hook.String
			r.CurrentHookBeadID = &h
		}
		out = append(out, r)
	}
	return out, nil
}

func (s store) beadRows(where string, args ...any) ([]beadRow, error) {
	bs, err := s.beads(where, args...)
	if err != nil {
		return nil, err
	}
	out := make([]beadRow, 0, len(bs))
	for _, b := range bs {
		r := beadRow{BeadID: b.ID, Type: b.Type, Status: b.Status, Title: b.Title, UpdatedAt: b.UpdatedAt}
		if b.Assignee.Valid {
			h := b.Assignee.String
			r.AssigneeAgentBeadID = &h
		}
		out = append(out, r)
	}
	return out, nil
}

// recentEvents are the last processed events, newest first.
func (s store) recentEvents() ([]recentEventJSON, error) {
	evs, err := s.events(`WHERE processed_at IS NOT NULL ORDER BY rowid DESC LIMIT ?`, recentEventsMax)
	if err != nil {
		return nil, err
	}
	out := make([]recentEventJSON, 0, len(evs))
	for _, e := range evs {
		out = append(out, recentEventJSON{Time: e.CreatedAt, Type: e.Type, Message: describe(e)})
	}
	return out, nil
}

// describe words an event for humans, like Gastown's recent-events feed.
func describe(e event) string {
	p := e.Payload
	switch e.Type {
	case evAgentRegistered:
		return fmt.Sprintf("%s %s registered", p.Role, e.AgentID)
	case evBeadCreated:
		return fmt.Sprintf("%s created: %s", e.BeadID, p.Title)
	case evConvoyStarted:
		return fmt.Sprintf("%s started with %d beads: %s", e.BeadID, len(p.Members), p.Title)
	case evAgentDone:
		return fmt.Sprintf("%s finished %s", e.AgentID, e.BeadID)
	case evContainerStatus:
		code := 0
		if p.ExitCode != nil {
			code = *p.ExitCode
		}
		return fmt.Sprintf("container of %s %s (exit %d)", e.AgentID, p.Status, code)
	case evPRStatus:
		return fmt.Sprintf("%s: PR %s", e.BeadID, p.Status)
	case evAgentActivity:
		return fmt.Sprintf("%s active", e.AgentID)
	case evAgentStopped:
		return fmt.Sprintf("%s stopped", e.AgentID)
	case evFaultInjected:
		return fmt.Sprintf("invariant #%d broken on purpose", p.Invariant)
	case evFaultRepaired:
		return fmt.Sprintf("invariant #%d repaired", p.Invariant)
	}
	return e.Type
}

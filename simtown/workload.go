package simtown

import (
	"fmt"
	"strings"
)

var issueTitles = []string{
	"Fix login redirect", "Rate-limit password reset", "Audit log export", "Session cookie flags",
	"Paginate the bead list", "Retry webhook delivery", "Trim container images", "Cache rig manifests",
	"Upgrade the SQLite driver", "Flaky merge queue test", "Document the alarm cadence", "Speed up cold start",
}

var convoyTitles = []string{"Auth hardening", "Release 2.4", "Observability pass", "Onboarding cleanup"}

// world is everything outside the reconciler that reports to the town during
// one tick: agents at work, containers, new issues, convoys, and the faults
// that FaultRate and the break_invariant knob inject. It reads state and
// returns events; it never writes state itself.
func (t *town) world() ([]event, error) {
	var evs []event
	working, err := t.st.agents(`WHERE role = 'polecat' AND status = 'working' AND bead_id NOT LIKE 'fa017%' ORDER BY bead_id`)
	if err != nil {
		return nil, err
	}
	stillWorking := map[string]bool{}
	for _, a := range working {
		stillWorking[a.ID] = true
		if t.hung[a.ID] || !a.Hook.Valid {
			continue
		}
		switch r := t.rng.Float64(); {
		case r < 0.01:
			t.hung[a.ID] = true // goes silent until a nudge wakes it
		case r < 0.11:
			evs = append(evs, t.agentDone(a))
		case r < 0.13:
			code := 0
			if t.rng.IntN(2) == 0 {
				code = 137
			}
			evs = append(evs, event{Type: evContainerStatus, AgentID: a.ID, Payload: payload{Status: "exited", ExitCode: &code}})
		case r < 0.33:
			evs = append(evs, event{Type: evAgentActivity, AgentID: a.ID})
		case r < 0.36:
			evs = append(evs, event{Type: evContainerStatus, AgentID: a.ID, Payload: payload{Status: "running"}})
		}
	}
	for id := range t.hung {
		if !stillWorking[id] {
			delete(t.hung, id)
		}
	}
	if t.rng.Float64() < t.busy {
		open, err := t.st.count(`SELECT COUNT(*) FROM beads WHERE type = 'issue' AND status IN ('open', 'in_progress', 'in_review')`)
		if err != nil {
			return nil, err
		}
		if open < maxOpenIssues {
			evs = append(evs, t.newIssue())
		}
	}
	if t.rng.Float64() < 0.03 {
		c, err := t.newConvoy()
		if err != nil {
			return nil, err
		}
		evs = append(evs, c...)
	}
	return append(evs, t.faultEvents()...), nil
}

func (t *town) newIssue() event {
	t.issueSeq++
	title := issueTitles[t.rng.IntN(len(issueTitles))]
	return event{Type: evBeadCreated, BeadID: fmt.Sprintf("b-issue-%04d", t.issueSeq),
		Payload: payload{Type: "issue", Title: title, RigID: t.rigs[t.rng.IntN(len(t.rigs))]}}
}

func (t *town) agentDone(a agent) event {
	t.prSeq++
	title := ""
	if b, _ := t.st.bead(a.Hook.String); b != nil {
		title = b.Title
	}
	return event{Type: evAgentDone, AgentID: a.ID, BeadID: a.Hook.String, Payload: payload{
		Branch:  "polecat/" + strings.ReplaceAll(strings.ToLower(title), " ", "-"),
		PRURL:   fmt.Sprintf("https://example.invalid/%s/pr/%d", t.id, t.prSeq),
		Summary: title,
	}}
}

// newConvoy groups two or three open issues that are in no convoy yet.
func (t *town) newConvoy() ([]event, error) {
	ids, err := t.st.strings(`SELECT bead_id FROM beads WHERE type = 'issue' AND status = 'open'
		AND bead_id NOT LIKE 'b-fault-%'
		AND bead_id NOT IN (SELECT depends_on_bead_id FROM bead_dependencies WHERE kind = 'tracks')
		ORDER BY bead_id LIMIT 3`)
	if err != nil || len(ids) < 2 {
		return nil, err
	}
	t.convSeq++
	return []event{{Type: evConvoyStarted, BeadID: fmt.Sprintf("b-convoy-%04d", t.convSeq),
		Payload: payload{Type: "convoy", Title: convoyTitles[t.rng.IntN(len(convoyTitles))], Members: ids}}}, nil
}

var breakable = []int{3, 4, 5, 6, 7}

// faultEvents keeps the knob's invariant broken, and with FaultRate breaks a
// random invariant for 3 to 12 ticks before repairing it.
func (t *town) faultEvents() []event {
	var evs []event
	knob := t.fault.BreakInvariant
	inject := func(inv int) {
		evs = append(evs, event{Type: evFaultInjected, Payload: payload{Invariant: inv, RigID: t.rigs[0]}})
	}
	switch {
	case t.auto.inv != 0:
		t.auto.ticksLeft--
		if t.auto.ticksLeft <= 0 {
			if t.auto.inv != knob {
				evs = append(evs, event{Type: evFaultRepaired, Payload: payload{Invariant: t.auto.inv}})
			}
			t.auto = autoBreak{}
		} else if t.auto.inv != knob {
			inject(t.auto.inv)
		}
	case t.opts.FaultRate > 0 && t.rng.Float64() < t.opts.FaultRate:
		t.auto = autoBreak{inv: breakable[t.rng.IntN(len(breakable))], ticksLeft: 3 + t.rng.IntN(10)}
		if t.auto.inv != knob {
			inject(t.auto.inv)
		}
	}
	if knob != 0 {
		inject(knob)
	}
	return evs
}

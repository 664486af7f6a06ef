package simtown

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

// isoMillis is Gastown's timestamp format: ISO 8601, milliseconds, Z. The
// database stores timestamps in it too, so they sort as text.
const isoMillis = "2006-01-02T15:04:05.000Z"

func ts(t time.Time) string { return t.UTC().Format(isoMillis) }

func parseTS(s string) time.Time {
	t, _ := time.Parse(isoMillis, s)
	return t
}

// action is one reconciler action. Its JSON has "type" first and then the
// keys Gastown uses for that type, in Gastown's order.
type action struct {
	Type         string
	AgentID      string
	BeadID       string
	RigID        string
	From, To     string // From "" is serialized as null (no prior state)
	Reason       string
	Actor        string
	SourceBeadID string
	Branch       string
	TargetBranch string
	PRURL        string
	Summary      string
	Message      string
	Tier         string
	ConvoyID     string
	ClosedBeads  int

	// spawned is the agent a dispatch_agent with an empty agent_id created.
	spawned string
}

type kv struct {
	k string
	v any
}

func (a action) keys() []kv {
	from := any(a.From)
	if a.From == "" {
		from = nil
	}
	switch a.Type {
	case "transition_agent":
		return []kv{{"agent_id", a.AgentID}, {"from", from}, {"to", a.To}, {"reason", a.Reason}}
	case "unhook_agent":
		return []kv{{"agent_id", a.AgentID}, {"reason", a.Reason}}
	case "create_mr_bead":
		return []kv{{"source_bead_id", a.SourceBeadID}, {"agent_id", a.AgentID}, {"rig_id", a.RigID},
			{"branch", a.Branch}, {"target_branch", a.TargetBranch}, {"pr_url", a.PRURL}, {"summary", a.Summary}}
	case "transition_bead":
		return []kv{{"bead_id", a.BeadID}, {"from", from}, {"to", a.To}, {"reason", a.Reason}, {"actor", a.Actor}}
	case "dispatch_agent":
		return []kv{{"agent_id", a.AgentID}, {"bead_id", a.BeadID}, {"rig_id", a.RigID}}
	case "poll_pr":
		return []kv{{"bead_id", a.BeadID}, {"pr_url", a.PRURL}}
	case "send_nudge":
		return []kv{{"agent_id", a.AgentID}, {"message", a.Message}, {"tier", a.Tier}}
	case "stop_agent":
		return []kv{{"agent_id", a.AgentID}, {"reason", a.Reason}}
	case "update_convoy_progress":
		return []kv{{"convoy_id", a.ConvoyID}, {"closed_beads", a.ClosedBeads}}
	}
	return nil
}

func (a action) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"type":`)
	t, _ := json.Marshal(a.Type)
	b.Write(t)
	for _, f := range a.keys() {
		b.WriteByte(',')
		k, _ := json.Marshal(f.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// countByType is metrics.actionsByType; never nil, so it serializes as {}.
func countByType(acts []action) gastown.ActionCounts {
	m := map[string]int{}
	for _, a := range acts {
		m[a.Type]++
	}
	return gastown.CountActions(m)
}

// The answers below mirror target's wire types; timestamps are kept as the
// stored strings so they always carry milliseconds and Z.

type dryRunJSON struct {
	Actions    []action              `json:"actions"`
	Metrics    gastown.DryRunMetrics `json:"metrics"`
	Violations *[]gastown.Violation  `json:"violations,omitempty"` // only with Options.DryRunViolations
}

type statusJSON struct {
	AlarmStatus alarmStatusJSON `json:"alarmStatus"`
	AgentMeta   []agentRow      `json:"agentMeta"`
	BeadSummary []beadRow       `json:"beadSummary"`
}

type alarmStatusJSON struct {
	Alarm        alarmJSON                  `json:"alarm"`
	Agents       gastown.AgentCounts        `json:"agents"`
	Beads        gastown.BeadCounts         `json:"beads"`
	Patrol       gastown.Patrol             `json:"patrol"`
	Reconciler   *gastown.ReconcilerMetrics `json:"reconciler"`
	RecentEvents []recentEventJSON          `json:"recentEvents"`
	*drainJSON                              // later versions only
}

// drainJSON is what later versions add to alarmStatus; simtown's towns
// never drain.
type drainJSON struct {
	Draining       bool    `json:"draining"`
	DrainStartedAt *string `json:"drainStartedAt"`
}

type alarmJSON struct {
	NextFireAt    *string `json:"nextFireAt"`
	IntervalMs    int64   `json:"intervalMs"`
	IntervalLabel string  `json:"intervalLabel"`
}

type recentEventJSON struct {
	Time    string `json:"time"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

type agentRow struct {
	BeadID            string  `json:"bead_id"`
	Role              string  `json:"role"`
	Status            string  `json:"status"`
	CurrentHookBeadID *string `json:"current_hook_bead_id"`
	DispatchAttempts  int     `json:"dispatch_attempts"`
	LastActivityAt    string  `json:"last_activity_at"`
}

type beadRow struct {
	BeadID              string  `json:"bead_id"`
	Type                string  `json:"type"`
	Status              string  `json:"status"`
	Title               string  `json:"title"`
	AssigneeAgentBeadID *string `json:"assignee_agent_bead_id"`
	UpdatedAt           string  `json:"updated_at"`
	*laterBeadJSON              // later versions only
}

// laterBeadJSON are the bead columns later versions add, as stored: labels
// and metadata are JSON text.
type laterBeadJSON struct {
	RigID     *string `json:"rig_id"`
	CreatedBy *string `json:"created_by"`
	Labels    string  `json:"labels"`
	Metadata  string  `json:"metadata"`
}

type replayJSON struct {
	Caveat         string        `json:"caveat"`
	EventsReplayed int           `json:"eventsReplayed"`
	Actions        []action      `json:"actions"`
	StateSnapshot  stateSnapshot `json:"stateSnapshot"`
}

type stateSnapshot struct {
	Agents           []agentRow `json:"agents"`
	NonTerminalBeads []beadRow  `json:"nonTerminalBeads"`
}

type errorJSON struct {
	Success *bool  `json:"success,omitempty"`
	Error   string `json:"error"`
}

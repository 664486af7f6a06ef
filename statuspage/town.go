package statuspage

import (
	"time"

	"github.com/tickwatch/tickwatch/alerts"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/exporter"
	"github.com/tickwatch/tickwatch/gastown"
)

// Town is what a town's page and its JSON show.
type Town struct {
	TownRow
	AlarmIntervalSeconds *float64             `json:"alarm_interval_seconds"`
	Agents               *gastown.AgentCounts `json:"agents"` // from the last status call
	Beads                *gastown.BeadCounts  `json:"beads"`
	// What the reconciler would do now (the last dry run); empty while it fails.
	DryRunActions []ActionCount `json:"dry_run_actions"`
	// Set while the dry run keeps failing with one HTTP status and is
	// called less often; null otherwise.
	DryRunBackoff *DryRunBackoff `json:"dry_run_backoff"`
	// The reconciler's last real tick; null before it ticked.
	LastTickDetail *LastTickDetail `json:"last_tick_detail"`
	Violations     []Violation     `json:"violations"` // open now
	History        []Sample        `json:"history"`    // oldest first
	RecentErrors   []RecentError   `json:"recent_errors"`
	Links          TownLinks       `json:"links"`
}

// DryRunBackoff is a dry run that keeps failing with one HTTP status: it is
// not called again before NextAttempt.
type DryRunBackoff struct {
	StatusCode  int       `json:"status_code"`
	Failures    int       `json:"failures"` // in a row, all with StatusCode
	NextAttempt time.Time `json:"next_attempt"`
}

// ActionCount is one action type and how many of it.
type ActionCount struct {
	Type  string `json:"type"`
	Count int    `json:"count"`
}

// LastTickDetail is the reconciler's own account of its last tick.
type LastTickDetail struct {
	Actions              []ActionCount `json:"actions"`
	SideEffectsAttempted int           `json:"side_effects_attempted"`
	SideEffectsSucceeded int           `json:"side_effects_succeeded"`
	SideEffectsFailed    int           `json:"side_effects_failed"`
	InvariantViolations  int           `json:"invariant_violations"` // the reconciler's own count
}

// Violation is one open violation and what Sentry was told of it.
type Violation struct {
	Invariant    string    `json:"invariant"` // "7", or "unnamed"
	Message      string    `json:"message"`
	Subject      string    `json:"subject,omitempty"`
	Source       string    `json:"source"` // dry_run (reported), status_rows (derived), reconciler_count
	FirstSeen    time.Time `json:"first_seen"`
	LastSeen     time.Time `json:"last_seen"`
	Observations int       `json:"observations"`
	// The last event about it: "opened" or "repeated", when, and its id
	// (the Sentry event id, also when it was only logged).
	EventKind string    `json:"event_kind"`
	EventAt   time.Time `json:"event_at"`
	EventID   string    `json:"event_id"`
}

// TownLinks lead from a town to where an operator looks next; empty when
// not configured.
type TownLinks struct {
	Page    string `json:"page"`
	JSON    string `json:"json"`
	Grafana string `json:"grafana,omitempty"`
	Sentry  string `json:"sentry,omitempty"`
}

func buildTown(town string, st *exporter.TownState, src fleetSources, h *History, l links) Town {
	t := Town{TownRow: townRow(town, st, src.open[town], src.th)}
	t.Problems = t.problems()
	t.OpenViolations = []string{}
	t.DryRunActions = []ActionCount{}
	t.Violations = []Violation{}
	if s := st.Status; s != nil {
		t.AlarmIntervalSeconds = &s.AlarmIntervalSeconds
		t.Agents, t.Beads = &s.Agents, &s.Beads
		if lt := s.LastTick; lt != nil {
			t.LastTickDetail = &LastTickDetail{Actions: actionCounts(lt.Actions),
				SideEffectsAttempted: lt.SideEffectsAttempted, SideEffectsSucceeded: lt.SideEffectsSucceeded,
				SideEffectsFailed: lt.SideEffectsFailed, InvariantViolations: lt.InvariantViolations}
		}
	}
	if d := st.ServedDryRun(); d != nil && d.Up {
		t.DryRunActions = actionCounts(d.Actions)
	}
	if src.opened != nil {
		for _, tr := range src.opened(town) {
			t.OpenViolations = append(t.OpenViolations, violationLine(tr))
			t.Violations = append(t.Violations, violation(tr))
		}
	}
	t.History = h.Samples(town)
	if t.History == nil {
		t.History = []Sample{}
	}
	t.RecentErrors = h.Errors(town)
	if t.RecentErrors == nil {
		t.RecentErrors = []RecentError{}
	}
	t.Links = l.town(town)
	return t
}

func violation(tr dedupe.Transition) Violation {
	inv := gastown.InvariantLabel(tr.Invariant)
	return Violation{Invariant: inv, Message: tr.Message, Subject: tr.Subject, Source: string(tr.Source),
		FirstSeen: tr.FirstSeen, LastSeen: tr.LastSeen, Observations: tr.Observations,
		EventKind: string(tr.Kind), EventAt: tr.At, EventID: alerts.EventID(tr)}
}

func actionCounts(tc []exporter.TypeCount) []ActionCount {
	out := make([]ActionCount, len(tc))
	for i, c := range tc {
		out[i] = ActionCount{c.Type(), int(c.Count)}
	}
	return out
}

// Package gastown is the client, wire types and invariant checks of the
// Gastown debug API: the dry run, status and replay calls, and the invariants
// the sidecar can check itself over the status rows.
package gastown

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/tickwatch/tickwatch/internal/lastbykey"
)

// DryRun is the answer of POST /debug/towns/{town}/reconcile-dry-run.
type DryRun struct {
	Actions    []Action      `json:"actions"`
	Metrics    DryRunMetrics `json:"metrics"`
	Violations []Violation   `json:"violations"` // nil (absent or null): derive from status
}

// DryRunMetrics are the counts the worker computed for the dry run.
type DryRunMetrics struct {
	ActionsEmitted    int          `json:"actionsEmitted"`
	ActionsByType     ActionCounts `json:"actionsByType"`
	PendingEventCount int          `json:"pendingEventCount"`
	EventsDrained     int          `json:"eventsDrained"`
}

// ActionCounts is an actionsByType object: how many actions of each type,
// sorted by type, one entry per type. A slice, not a map: every poll decodes
// two, and a slice of a few entries is built without hashing its keys.
type ActionCounts []ActionCount

// ActionCount is the count of one action type.
type ActionCount struct {
	Type  string
	Count int
}

// CountActions builds ActionCounts from a map of counts.
func CountActions(m map[string]int) ActionCounts {
	if m == nil {
		return nil
	}
	a := make(ActionCounts, 0, len(m))
	for t, n := range m {
		a = append(a, ActionCount{t, n})
	}
	return a.normalized()
}

// normalized sorts a by type, keeping the last count of a type listed more
// than once, as a JSON object's repeated key does.
func (a ActionCounts) normalized() ActionCounts {
	return lastbykey.Sort(a, func(c ActionCount) string { return c.Type })
}

// Get is the count of type t; 0 when it is not listed.
func (a ActionCounts) Get(t string) int {
	i, ok := slices.BinarySearchFunc(a, t, func(c ActionCount, t string) int { return strings.Compare(c.Type, t) })
	if !ok {
		return 0
	}
	return a[i].Count
}

// All yields each type and its count, in type order.
func (a ActionCounts) All() iter.Seq2[string, int] {
	return func(yield func(string, int) bool) {
		for _, c := range a {
			if !yield(c.Type, c.Count) {
				return
			}
		}
	}
}

// MarshalJSON writes the counts as an object, as the worker does; nil is
// null.
func (a ActionCounts) MarshalJSON() ([]byte, error) {
	if a == nil {
		return []byte("null"), nil
	}
	m := make(map[string]int, len(a))
	for _, c := range a {
		m[c.Type] = c.Count
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads an object of counts, adding to what *a holds as
// decoding into a map would (a repeated key); null sets nil.
func (a *ActionCounts) UnmarshalJSON(b []byte) error {
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if m == nil {
		*a = nil
		return nil
	}
	for _, c := range *a {
		if _, ok := m[c.Type]; !ok {
			m[c.Type] = c.Count
		}
	}
	*a = CountActions(m)
	return nil
}

// Action is one reconciler action. Only its type is interpreted; the rest
// differs per type and is kept verbatim in Raw.
type Action struct {
	Type string
	Raw  json.RawMessage
}

func (a *Action) UnmarshalJSON(b []byte) error {
	var t struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return err
	}
	a.Type, a.Raw = t.Type, append(json.RawMessage(nil), b...)
	return nil
}

func (a Action) MarshalJSON() ([]byte, error) {
	if a.Raw != nil {
		return a.Raw, nil
	}
	return json.Marshal(struct {
		Type string `json:"type"`
	}{a.Type})
}

// Violation is one broken invariant, as Gastown words it.
type Violation struct {
	Invariant int             `json:"invariant"`
	Message   string          `json:"message"`
	Source    ViolationSource `json:"-"` // how tickwatch learnt of it
}

// Status is the answer of GET /debug/towns/{town}/status.
type Status struct {
	AlarmStatus AlarmStatus `json:"alarmStatus"`
	AgentMeta   []Agent     `json:"agentMeta"`
	BeadSummary []Bead      `json:"beadSummary"`
}

type AlarmStatus struct {
	Alarm        Alarm              `json:"alarm"`
	Agents       AgentCounts        `json:"agents"`
	Beads        BeadCounts         `json:"beads"`
	Patrol       Patrol             `json:"patrol"`
	Reconciler   *ReconcilerMetrics `json:"reconciler"`
	RecentEvents []RecentEvent      `json:"recentEvents"`
}

type Alarm struct {
	NextFireAt    *time.Time `json:"nextFireAt"`
	IntervalMs    int64      `json:"intervalMs"`
	IntervalLabel string     `json:"intervalLabel"`
}

// IdleIntervalMs is the alarm interval Gastown uses for a town with no active work.
const IdleIntervalMs = 60000

// Idle reports whether the town's alarm runs at the idle cadence.
func (a Alarm) Idle() bool { return a.IntervalMs >= IdleIntervalMs }

type AgentCounts struct {
	Working int `json:"working"`
	Idle    int `json:"idle"`
	Stalled int `json:"stalled"`
	Dead    int `json:"dead"`
	Total   int `json:"total"`
}

type BeadCounts struct {
	Open           int `json:"open"`
	InProgress     int `json:"inProgress"`
	InReview       int `json:"inReview"`
	Failed         int `json:"failed"`
	TriageRequests int `json:"triageRequests"`
}

type Patrol struct {
	GuppWarnings    int `json:"guppWarnings"`
	GuppEscalations int `json:"guppEscalations"`
	StalledAgents   int `json:"stalledAgents"`
	OrphanedHooks   int `json:"orphanedHooks"`
}

// ReconcilerMetrics describe the last real alarm tick; nil after the town
// restarts until its next tick.
type ReconcilerMetrics struct {
	EventsDrained        int          `json:"eventsDrained"`
	ActionsEmitted       int          `json:"actionsEmitted"`
	ActionsByType        ActionCounts `json:"actionsByType"`
	SideEffectsAttempted int          `json:"sideEffectsAttempted"`
	SideEffectsSucceeded int          `json:"sideEffectsSucceeded"`
	SideEffectsFailed    int          `json:"sideEffectsFailed"`
	InvariantViolations  int          `json:"invariantViolations"`
	WallClockMs          float64      `json:"wallClockMs"`
	PendingEventCount    int          `json:"pendingEventCount"`
}

type RecentEvent struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Message string    `json:"message"`
}

// Agent is a row of agent metadata.
type Agent struct {
	BeadID            string    `json:"bead_id"`
	Role              string    `json:"role"`
	Status            string    `json:"status"`
	CurrentHookBeadID *string   `json:"current_hook_bead_id"`
	DispatchAttempts  int       `json:"dispatch_attempts"`
	LastActivityAt    time.Time `json:"last_activity_at"`
}

// Bead is a row of the bead summary.
type Bead struct {
	BeadID              string    `json:"bead_id"`
	Type                string    `json:"type"`
	Status              string    `json:"status"`
	Title               string    `json:"title"`
	AssigneeAgentBeadID *string   `json:"assignee_agent_bead_id"`
	UpdatedAt           time.Time `json:"updated_at"`
	RigID               *string   `json:"rig_id,omitempty"` // later Gastown versions only
}

// ReplayRequest is the body of POST /debug/towns/{town}/replay-events.
// Mode "faithful" is a simtown extension; Gastown ignores it.
type ReplayRequest struct {
	From string `json:"from"`
	To   string `json:"to"`
	Mode string `json:"mode,omitempty"`
}

type ReplayResponse struct {
	Caveat         string        `json:"caveat"`
	EventsReplayed int           `json:"eventsReplayed"`
	Actions        []Action      `json:"actions"`
	StateSnapshot  StateSnapshot `json:"stateSnapshot"`
}

type StateSnapshot struct {
	Agents           []Agent `json:"agents"`
	NonTerminalBeads []Bead  `json:"nonTerminalBeads"`
}

// ErrorBody covers both of Gastown's error envelopes:
// {"success":false,"error":"..."} and replay's {"error":"..."}.
type ErrorBody struct {
	Success *bool  `json:"success,omitempty"`
	Error   string `json:"error"`
}

// TownList is simtown's GET /debug/towns answer.
type TownList struct {
	Towns []string `json:"towns"`
}

// Call is the outcome of one API call of a poll.
type Call struct {
	Done     bool          // the call was made this poll
	Err      error         // nil: a 2xx answer that decoded
	Code     int           // HTTP status of the answer; 0 when none came (timeout, refused connection)
	Duration time.Duration // wall time of the call
}

// OK reports whether the call was made and succeeded.
func (c Call) OK() bool { return c.Done && c.Err == nil }

// TimedOut reports whether the call ran out of time.
func (c Call) TimedOut() bool { return errors.Is(c.Err, context.DeadlineExceeded) }

// Observation is the outcome of polling one town once: a status call and a
// dry run, two independent looks at one town. A failed dry run does not
// discard a good status, nor the other way round.
type Observation struct {
	Town string
	At   time.Time // when the poll started

	StatusCall Call
	Status     *Status // alarm, counts and reconciler; nil unless StatusCall.OK()
	StatusBody []byte  // the status answer as it came, with PollOptions.KeepStatusBody
	DryRunCall Call
	DryRun     *DryRun // counts and violations, not the action list; nil unless DryRunCall.OK()

	// Violations are the dry run's when it names them, else those derived
	// from the status rows plus the unnamed remainder of the reconciler's
	// count; nil when neither call could tell.
	Violations []Violation
	Source     ViolationSource
	// RemainderUnknown: the reconciler has not ticked since the town
	// started, so its count is unknown and the unnamed remainder can be
	// neither confirmed nor cleared by this poll.
	RemainderUnknown bool
}

// OK reports whether the town's reconciler was readable: the status call
// succeeded (the dry run, when the status call is off).
func (o *Observation) OK() bool {
	if o.StatusCall.Done {
		return o.StatusCall.OK()
	}
	return o.DryRunCall.OK()
}

// Err is why the poll is not OK, or nil.
func (o *Observation) Err() error {
	if o.StatusCall.Done {
		return o.StatusCall.Err
	}
	if !o.DryRunCall.Done {
		return nil
	}
	return o.DryRunCall.Err
}

// TimedOut reports whether the call OK depends on ran out of time.
func (o *Observation) TimedOut() bool {
	if o.StatusCall.Done {
		return o.StatusCall.TimedOut()
	}
	return o.DryRunCall.TimedOut()
}

// Ticking reports whether the status shows a reconciler that runs: an armed
// alarm or a last tick. A town id that was never created answers the debug
// routes with neither, and never ticks.
func (s *Status) Ticking() bool {
	return s.AlarmStatus.Alarm.NextFireAt != nil || s.AlarmStatus.Reconciler != nil
}

// replayLayouts are the ISO 8601 forms ParseReplayBound accepts, longest
// first. A time without an offset is UTC.
var replayLayouts = []string{
	time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02",
}

// ParseReplayBound reads a replay window bound in any ISO 8601 form: with
// an offset or Z, fractional seconds or none, or a bare date (midnight UTC).
func ParseReplayBound(s string) (time.Time, error) {
	for _, l := range replayLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time (e.g. 2026-12-03T01:24:52Z or 2026-12-03T02:24:52+01:00)", s)
}

// FormatReplayBound writes a bound the way Gastown stores created_at
// (2026-12-03T01:24:52.762Z): it compares the window with the stored
// strings, so a bound in another form or offset would select wrongly.
func FormatReplayBound(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

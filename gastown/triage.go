package gastown

import (
	"fmt"
	"sort"
	"strings"
)

// Triage is what the poll that opened (or repeated) a violation saw of its
// town, for whoever decides what to do about it: the town's recent events,
// the status rows the violation names, and the reconciler's last tick.
type Triage struct {
	RecentEvents []RecentEvent      `json:"recent_events,omitempty"` // oldest first
	Agents       []Agent            `json:"agents,omitempty"`
	Beads        []Bead             `json:"beads,omitempty"`
	Rig          string             `json:"rig,omitempty"` // the rig the rows belong to, when they say
	Reconciler   *ReconcilerMetrics `json:"reconciler,omitempty"`
}

// MaxTriageEvents bounds the recent events a Triage keeps: Gastown's list is
// short, but nothing in the API promises so.
const MaxTriageEvents = 50

// DecodeStatus decodes a whole status answer, such as the one Poll keeps
// with PollOptions.KeepStatusBody.
func DecodeStatus(body []byte) (*Status, error) {
	var s Status
	if err := fastJSON.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("status: malformed JSON: %w", err)
	}
	return &s, nil
}

// Triage picks from the status what concerns v: the agent or bead its
// message names (for #6 also the agents hooked to the bead, for #3 the rig's
// in_progress merge requests), the recent events oldest first, and the last
// tick's metrics. The unnamed remainder names no row.
func (s *Status) Triage(v Violation) *Triage {
	tr := &Triage{Reconciler: s.AlarmStatus.Reconciler}
	evs := s.AlarmStatus.RecentEvents
	if len(evs) > 0 {
		tr.RecentEvents = append([]RecentEvent(nil), evs...)
		sort.SliceStable(tr.RecentEvents, func(i, j int) bool { return tr.RecentEvents[i].Time.Before(tr.RecentEvents[j].Time) })
		if over := len(tr.RecentEvents) - MaxTriageEvents; over > 0 {
			tr.RecentEvents = tr.RecentEvents[over:]
		}
	}
	id := namedID(v)
	if id == "" {
		return tr
	}
	switch v.Invariant {
	case 7:
		tr.Agents = s.agents(func(a Agent) bool { return a.BeadID == id })
	case 3:
		tr.Rig = id
		tr.Beads = s.beads(func(b Bead) bool {
			return b.Type == "merge_request" && b.Status == "in_progress" && b.RigID != nil && *b.RigID == id
		})
	case 6:
		tr.Beads = s.beads(func(b Bead) bool { return b.BeadID == id })
		tr.Agents = s.agents(func(a Agent) bool { return a.CurrentHookBeadID != nil && *a.CurrentHookBeadID == id })
	default:
		tr.Beads = s.beads(func(b Bead) bool { return b.BeadID == id })
	}
	if tr.Rig == "" {
		tr.Rig = commonRig(tr.Beads)
	}
	return tr
}

func (s *Status) agents(keep func(Agent) bool) []Agent {
	var out []Agent
	for _, a := range s.AgentMeta {
		if keep(a) {
			out = append(out, a)
		}
	}
	return out
}

func (s *Status) beads(keep func(Bead) bool) []Bead {
	var out []Bead
	for _, b := range s.BeadSummary {
		if keep(b) {
			out = append(out, b)
		}
	}
	return out
}

// commonRig is the rig all the beads carry, or "" when they carry none or
// several.
func commonRig(beads []Bead) string {
	rig := ""
	for _, b := range beads {
		switch {
		case b.RigID == nil:
		case rig == "":
			rig = *b.RigID
		case rig != *b.RigID:
			return ""
		}
	}
	return rig
}

// namedID is the id Gastown's message of v names (agent, bead or rig), read
// by the message's own wording; "" for any other wording.
func namedID(v Violation) string {
	format, ok := map[int]string{
		7: MsgWorkingNoHook, 5: MsgConvoyInProgress, 3: MsgRigManyMRs, 6: MsgBeadManyHooked, 4: MsgReviewWithoutMR,
	}[v.Invariant]
	if !ok {
		return ""
	}
	lead, _, _ := strings.Cut(format, "%s")
	rest, ok := strings.CutPrefix(v.Message, lead)
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, " ")
	return id
}

package simtown

import (
	"fmt"
	"time"
)

// Caveats of replay-events: Gastown's own, and simtown's faithful mode.
const (
	CaveatApproximate = "Approximate: the window's events were re-applied on top of the town's live state, not on a snapshot taken before the window."
	CaveatFaithful    = "Faithful: the town's state as of \"from\" was rebuilt from its event log by re-running its alarm ticks, then the window's ticks were re-run; the snapshot is the state the town had at \"to\"."
)

// Replay modes; "" is Gastown's approximate replay.
const (
	ModeApproximate = ""
	ModeFaithful    = "faithful"
)

// replay answers replay-events for [from, to] inside a SAVEPOINT that is
// always rolled back.
func (t *town) replay(from, to time.Time, mode string, now time.Time) (*replayJSON, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := &replayJSON{Caveat: CaveatApproximate, Actions: []action{}}
	fn := func() error { return t.replayApproximate(from, to, now, out) }
	if mode == ModeFaithful {
		out.Caveat = CaveatFaithful
		fn = func() error { return t.replayFaithful(from, to, out) }
	}
	if err := t.st.inSavepoint("replay", fn); err != nil {
		return nil, fmt.Errorf("replay town %q: %w", t.id, err)
	}
	return out, nil
}

// replayApproximate is Gastown's replay: the window's events re-applied on
// top of the live state, then one reconciler pass.
func (t *town) replayApproximate(from, to, now time.Time, out *replayJSON) error {
	if now.Before(t.last) {
		now = t.last
	}
	evs, err := t.st.events(`WHERE created_at >= ? AND created_at <= ? ORDER BY created_at, rowid`, ts(from), ts(to))
	if err != nil {
		return err
	}
	res, err := t.st.passNoMark(evs, ts(now))
	if err != nil {
		return err
	}
	out.EventsReplayed = len(evs)
	out.Actions = append(out.Actions, res.actions...)
	return t.st.fillSnapshot(&out.StateSnapshot)
}

// replayFaithful restores the newest checkpoint at or before "from" (or the
// empty state of a new town) and re-runs every recorded alarm tick after it
// up to "to", each with exactly the events it drained. Ticks after "from" are
// the window: their events and actions are what the answer reports.
func (t *town) replayFaithful(from, to time.Time, out *replayJSON) error {
	fromS := ts(from)
	cp, err := t.st.checkpointFor(fromS)
	if err != nil {
		return err
	}
	if err := t.st.restoreCheckpoint(cp); err != nil {
		return err
	}
	ticks, err := t.st.strings(`SELECT tick_at FROM alarm_ticks WHERE tick_at > ? AND tick_at <= ? ORDER BY seq`, cp, ts(to))
	if err != nil {
		return err
	}
	for _, at := range ticks {
		evs, err := t.st.events(`WHERE processed_at = ? ORDER BY created_at, rowid`, at)
		if err != nil {
			return err
		}
		res, err := t.st.passNoMark(evs, at)
		if err != nil {
			return fmt.Errorf("re-run tick %s: %w", at, err)
		}
		if at > fromS {
			out.EventsReplayed += res.drained
			out.Actions = append(out.Actions, res.actions...)
		}
	}
	return t.st.fillSnapshot(&out.StateSnapshot)
}

// fillSnapshot is replay's stateSnapshot: every agent and the beads that are
// not closed or failed, both by id.
func (s store) fillSnapshot(snap *stateSnapshot) error {
	var err error
	if snap.Agents, err = s.agentRows(`ORDER BY bead_id`); err != nil {
		return err
	}
	snap.NonTerminalBeads, err = s.beadRows(`WHERE status NOT IN ('closed', 'failed') ORDER BY bead_id`)
	return err
}

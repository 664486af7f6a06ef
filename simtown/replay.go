package simtown

import (
	"fmt"
	"time"
)

// Caveats of replay-events: Gastown's own, and simtown's faithful mode.
const (
	CaveatApproximate = "Events are re-applied on top of current live state, not from a pre-window snapshot. " +
		"Non-idempotent handlers may produce different results than the original processing. " +
		"Use for debugging event flow, not faithful historical reconstruction."
	CaveatFaithful = "Faithful: the town's state as of \"from\" was rebuilt from its event log by re-running its alarm ticks, then the window's ticks were re-run; the snapshot is the state the town had at \"to\"."
)

// Replay modes; "" is Gastown's approximate replay.
const (
	ModeApproximate = ""
	ModeFaithful    = "faithful"
)

// replayWindow is a replay's [from, to]: the values Gastown binds into its
// SQL (the JSON values as sent, so strings compare as text with
// created_at) and the instants they name, which faithful mode uses.
type replayWindow struct {
	from, to     any
	fromAt, toAt time.Time
}

// emptyReplay is the answer for a town with no events and no rows.
func emptyReplay() *replayJSON {
	return &replayJSON{Caveat: CaveatApproximate, Actions: []action{},
		StateSnapshot: stateSnapshot{Agents: []agentRow{}, NonTerminalBeads: []beadRow{}}}
}

// replay answers replay-events for the window inside a SAVEPOINT that is
// always rolled back.
func (t *town) replay(w replayWindow, mode string, now time.Time) (*replayJSON, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := emptyReplay()
	fn := func() error { return t.replayApproximate(w.from, w.to, now, out) }
	if mode == ModeFaithful {
		out.Caveat = CaveatFaithful
		fn = func() error { return t.replayFaithful(w.fromAt, w.toAt, out) }
	}
	if err := t.st.inSavepoint("replay", fn); err != nil {
		return nil, fmt.Errorf("replay town %q: %w", t.id, err)
	}
	return out, nil
}

// replayApproximate is Gastown's replay: the window's events re-applied on
// top of the live state, then one reconciler pass.
func (t *town) replayApproximate(from, to any, now time.Time, out *replayJSON) error {
	if now.Before(t.last) {
		now = t.last
	}
	evs, err := t.st.events(`WHERE created_at >= ? AND created_at <= ? ORDER BY created_at, rowid`, from, to)
	if err != nil {
		return err
	}
	res, err := t.st.passNoMark(evs, ts(now))
	if err != nil {
		return err
	}
	out.EventsReplayed = len(evs)
	out.Actions = append(out.Actions, res.actions...)
	return t.fillSnapshot(&out.StateSnapshot)
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
	return t.fillSnapshot(&out.StateSnapshot)
}

// fillSnapshot is replay's stateSnapshot: the rows status would show.
func (t *town) fillSnapshot(snap *stateSnapshot) error {
	var err error
	if snap.Agents, err = t.st.agentRows(); err != nil {
		return err
	}
	snap.NonTerminalBeads, err = t.st.beadRows(t.opts.Version == VersionLater)
	return err
}

package simtown

import (
	"context"
	"fmt"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

// tick runs one real alarm tick at now: drain, reconcile, apply, check
// invariants (one transaction); then the side effects (outside the lock, they
// may be slow); then it records what the side effects and the simulated world
// reported, and re-arms the alarm from the end of the tick, as Gastown does.
// It returns when the alarm fires next.
func (t *town) tick(ctx context.Context, now time.Time) (time.Time, error) {
	start := time.Now()
	t.mu.Lock()
	if !now.After(t.last) {
		now = t.last.Add(time.Millisecond) // tick times are strictly increasing
	}
	at := ts(now)
	now = parseTS(at)
	stalled := t.fault.StallAlarm
	var res passResult
	var violations []gastown.Violation
	err := error(nil)
	if !stalled {
		err = t.st.inTx(func() error {
			evs, err := t.st.pendingEvents(t.opts.MaxDrain)
			if err != nil {
				return err
			}
			if res, err = t.st.pass(evs, at); err != nil {
				return err
			}
			if err := t.st.exec(`INSERT INTO alarm_ticks (tick_at) VALUES (?)`, at); err != nil {
				return err
			}
			if err := t.st.maybeCheckpoint(at, t.opts.CheckpointEvery); err != nil {
				return err
			}
			violations, err = t.st.checkInvariants()
			return err
		})
		if err == nil {
			t.last = now
		}
	} else {
		// Gastown catches a drain that fails and records the tick anyway:
		// nothing drained, the invariants checked, the queue as it is.
		err = t.st.inTx(func() error {
			var err error
			violations, err = t.st.checkInvariants()
			return err
		})
	}
	if err != nil {
		t.active = true // retry at the active cadence
		next := t.rearm()
		t.mu.Unlock()
		return next, fmt.Errorf("tick town %q: %w", t.id, err)
	}
	t.mu.Unlock()

	fx := t.sideEffects(ctx, res.actions)

	t.mu.Lock()
	defer t.mu.Unlock()
	var pending int
	err = t.st.inTx(func() error {
		evs, err := t.world()
		if err != nil {
			return err
		}
		if err := t.record(append(fx.events, evs...), at); err != nil {
			return err
		}
		if pending, err = t.st.pendingCount(); err != nil {
			return err
		}
		if gap := t.fault.QueueDepth - pending; gap > 0 {
			if err := t.record(t.filler(gap), at); err != nil {
				return err
			}
			pending += gap
		}
		t.active, err = t.st.hasWork(pending)
		return err
	})
	if err != nil {
		t.active = true
		return t.rearm(), fmt.Errorf("tick town %q: record events: %w", t.id, err)
	}
	t.metrics = &gastown.ReconcilerMetrics{
		EventsDrained:        res.drained,
		ActionsEmitted:       len(res.actions),
		ActionsByType:        countByType(res.actions),
		SideEffectsAttempted: fx.attempted,
		SideEffectsSucceeded: fx.attempted,
		InvariantViolations:  len(violations),
		// Whole milliseconds, as Date.now() differences are.
		WallClockMs:       float64(time.Since(start).Milliseconds()),
		PendingEventCount: pending,
	}
	return t.rearm(), nil
}

// rearm schedules the next alarm from the end of the tick (mu held): the
// interval of the workload the tick left, from the clock's now.
func (t *town) rearm() time.Time {
	end := t.opts.Now()
	if end.Before(t.last) {
		end = t.last
	}
	t.next = end.Add(t.opts.scaled(t.interval(t.active)))
	return t.next
}

// hasWork is Gastown's hasActiveWork (working or stalled agents, idle
// agents with a hook, merge requests open or in progress), plus pending
// events: simtown's work arrives through the queue, where Gastown's calls
// change the rows at once.
func (s store) hasWork(pending int) (bool, error) {
	if pending > 0 {
		return true, nil
	}
	n, err := s.count(`SELECT (SELECT COUNT(*) FROM agent_metadata WHERE status IN ('working', 'stalled')
			OR (status = 'idle' AND current_hook_bead_id IS NOT NULL))
		+ (SELECT COUNT(*) FROM beads WHERE type = 'merge_request' AND status IN ('open', 'in_progress'))`)
	return n > 0, err
}

// filler are harmless events (the mayor checking in) that keep the queue at
// the depth the queue_depth knob asks for.
func (t *town) filler(n int) []event {
	evs := make([]event, n)
	for i := range evs {
		evs[i] = event{Type: evAgentActivity, AgentID: uuidFor(t.id, "mayor")}
	}
	return evs
}

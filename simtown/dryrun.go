package simtown

import (
	"fmt"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

// dryRun does what the next real tick would do, inside a SAVEPOINT that is
// always rolled back: drain and apply the pending events, reconcile, apply
// the actions and, with Options.DryRunViolations, check the invariants on
// the result.
func (t *town) dryRun(now time.Time) (*dryRunJSON, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Before(t.last) {
		now = t.last
	}
	at := ts(now)
	out := &dryRunJSON{}
	err := t.st.inSavepoint("dry_run", func() error {
		evs, err := t.st.pendingEvents(t.opts.MaxDrain)
		if err != nil {
			return err
		}
		res, err := t.st.pass(evs, at)
		if err != nil {
			return err
		}
		pending, err := t.st.pendingCount()
		if err != nil {
			return err
		}
		if t.opts.DryRunViolations {
			vs, err := t.st.checkInvariants()
			if err != nil {
				return err
			}
			out.Violations = &vs
		}
		out.Actions = res.actions
		out.Metrics = gastown.DryRunMetrics{
			ActionsEmitted: len(res.actions), ActionsByType: countByType(res.actions),
			PendingEventCount: pending, EventsDrained: res.drained,
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dry run of town %q: %w", t.id, err)
	}
	if out.Actions == nil {
		out.Actions = []action{}
	}
	return out, nil
}

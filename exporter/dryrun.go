package exporter

import (
	"sync"
	"time"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/gastown"
)

// The dry run costs the worker about fifteen status calls (a real Gastown
// worker spends ~220 ms of CPU on one, ~14 ms on a status), so the status
// call is the every-poll heartbeat and the dry run is made only when it can
// tell something the status does not: see planDryRun.

// Values of the reason label of tickwatch_dry_runs_deferred_total.
const (
	deferQuiet   = "quiet"
	deferBackoff = "backoff"
)

// planDryRun decides, before a town's poll, whether the poll makes the dry
// run, and says why. It is made
//   - on every poll without status calls (the dry run is then the heartbeat);
//   - never while its back-off holds (it keeps failing with one HTTP status);
//   - on a town's first poll, while its status call fails with an answer
//     (the dry run is the only look left), while the last poll saw a backlog
//     (see busy), and while WantDryRun asks for it (violations only the dry
//     run can name);
//   - otherwise once DryRunInterval has passed since the last one.
//
// It reads what the last poll saw: a town that turns busy gets its dry run
// from its next poll on (an alarm period later).
func (p *Poller) planDryRun(town string, prev *TownState, s *Settings, now time.Time) (bool, string) {
	if !s.WithStatus || s.DryRunInterval <= 0 {
		return true, "every_poll"
	}
	if b, ok := p.backoffs.get(town); ok && now.Before(b.Until) {
		return false, deferBackoff
	}
	switch {
	case prev == nil, prev.DryRun == nil:
		return true, "first"
	case !prev.Up && prev.StatusCode != 0:
		return true, "status_failing"
	// A status call without an answer leaves the interval to decide: a
	// worker too slow to answer one within the timeout is not helped by a
	// call that costs it fifteen, and a refused connection refuses the dry
	// run too.
	case prev.Up && busy(prev):
		return true, "busy"
	case prev.Up && p.WantDryRun != nil && p.WantDryRun(town, prev):
		return true, "violations"
	case !now.Before(prev.DryRun.At.Add(s.DryRunInterval)):
		return true, "interval"
	}
	return false, deferQuiet
}

// busy: the last poll saw a backlog, events the last tick left pending or a
// queue in the last dry run. Then the queue is what a reader watches, and the
// dry run reads it as it is now; the next dry run also shows it emptied.
// Events drained alone do not count: on the real worker nearly every tick
// drains one (a container status event), and a tick that leaves nothing
// pending has kept up.
func busy(prev *TownState) bool {
	if prev.Status == nil {
		return false
	}
	if lt := prev.Status.LastTick; lt != nil && lt.PendingEvents > 0 {
		return true
	}
	d := prev.DryRun
	return d.Up && (d.QueueDepth > 0 || d.PendingEvents > 0)
}

// DryRunBackoff is the failing streak of one town's dry run.
type DryRunBackoff struct {
	Code     int       // the HTTP status each attempt of the streak answered
	Failures int       // attempts in a row that answered it
	Until    time.Time // no attempt before; zero while the streak is too short to back off
}

// backoffs holds the towns whose dry run is failing with an HTTP answer.
type backoffs struct {
	mu sync.Mutex
	m  map[string]DryRunBackoff
}

func (b *backoffs) get(town string) (DryRunBackoff, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.m[town]
	return s, ok
}

// note records the outcome of a dry run made at at. Only failures with the
// same HTTP status extend a streak: a timeout or a refused connection says
// nothing about the dry run itself (the status call fails alike), and a
// different status is a different problem, looked at again at once. The
// poller also ends a streak when the town's status call fails or shows a
// restarted reconciler, and on a reload.
func (b *backoffs) note(town string, c gastown.Call, at time.Time, interval time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c.OK() || c.Code == 0 {
		delete(b.m, town)
		return
	}
	s := b.m[town]
	if s.Code != c.Code {
		s = DryRunBackoff{Code: c.Code}
	}
	s.Failures++
	if s.Failures >= 2 {
		s.Until = at.Add(backoffWait(s.Failures, interval))
	}
	if b.m == nil {
		b.m = map[string]DryRunBackoff{}
	}
	b.m[town] = s
}

// backoffWait is the least time between two attempts after the given number
// of failures in a row: one poll interval doubled with each failure after the
// first, up to config.MaxDryRunWait.
func backoffWait(failures int, interval time.Duration) time.Duration {
	w := max(interval, time.Second)
	for i := 1; i < failures && w < config.MaxDryRunWait; i++ {
		w *= 2
	}
	return min(w, config.MaxDryRunWait)
}

// drop forgets the town's streak.
func (b *backoffs) drop(town string) {
	b.mu.Lock()
	delete(b.m, town)
	b.mu.Unlock()
}

// reset forgets every streak (a reload: the operator may have fixed the cause).
func (b *backoffs) reset() {
	b.mu.Lock()
	b.m = nil
	b.mu.Unlock()
}

// retain drops the streaks of towns no longer watched.
func (b *backoffs) retain(owned map[string]bool) {
	b.mu.Lock()
	for t := range b.m {
		if !owned[t] {
			delete(b.m, t)
		}
	}
	b.mu.Unlock()
}

// DryRunBackoff returns the town's failing dry-run streak, for the status
// page; ok is false when its dry run is not failing with an HTTP answer.
func (p *Poller) DryRunBackoff(town string) (DryRunBackoff, bool) {
	return p.backoffs.get(town)
}

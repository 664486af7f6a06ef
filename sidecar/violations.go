package sidecar

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickwatch/tickwatch/alerts"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/exporter"
	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/metricnames"
	"github.com/tickwatch/tickwatch/statuspage"
)

// Violations is the pipeline from observations to Sentry: the tracker turns
// each town's violation set into transitions, the notifier's outbox keeps
// them until Sentry accepted them.
type Violations struct {
	Tracker  *dedupe.Tracker
	Notifier *alerts.Notifier
	logger   *slog.Logger

	mu      sync.Mutex
	pending []dedupe.Transition // this tick's, enqueued together at its end (or flushAt at a time)
	named   map[string]bool     // towns whose dry run has named violations

	transitions, adopted, events, dropped, outbox, api, unresolved *prometheus.Desc
}

func NewViolations(t *dedupe.Tracker, n *alerts.Notifier, logger *slog.Logger) *Violations {
	return &Violations{
		Tracker: t, Notifier: n, logger: logger, named: map[string]bool{},
		transitions: prometheus.NewDesc(metricnames.ViolationTransitions, metricnames.Help(metricnames.ViolationTransitions), []string{"transition"}, nil),
		adopted:     prometheus.NewDesc(metricnames.ViolationsAdopted, metricnames.Help(metricnames.ViolationsAdopted), nil, nil),
		events:      prometheus.NewDesc(metricnames.SentryEvents, metricnames.Help(metricnames.SentryEvents), []string{"result"}, nil),
		dropped:     prometheus.NewDesc(metricnames.SentryEventsDropped, metricnames.Help(metricnames.SentryEventsDropped), nil, nil),
		outbox:      prometheus.NewDesc(metricnames.SentryOutbox, metricnames.Help(metricnames.SentryOutbox), nil, nil),
		api:         prometheus.NewDesc(metricnames.SentryAPIRequests, metricnames.Help(metricnames.SentryAPIRequests), []string{"call", "result"}, nil),
		unresolved:  prometheus.NewDesc(metricnames.SentryUnresolved, metricnames.Help(metricnames.SentryUnresolved), nil, nil),
	}
}

// repeatSlack is how far ahead MayNotify looks for a repeat that falls due:
// more than one poll takes.
const repeatSlack = time.Minute

// MayNotify reports whether the town's next poll may open or repeat a
// violation: that poll keeps its raw status, for the event's triage context.
func (v *Violations) MayNotify(town string) bool {
	return v.Tracker.MayNotify(town, time.Now(), repeatSlack)
}

// WantsDryRun reports whether the town's next poll needs its dry run for the
// violations: its dry run names them (the status rows cannot) and one is
// open or pending, or the last tick counted some. Only a dry run then
// confirms, opens or clears them: a poll without one tells the tracker
// nothing (see Observe). A town whose dry run names nothing has its
// violations from the status rows, on every poll.
func (v *Violations) WantsDryRun(town string, prev *exporter.TownState) bool {
	v.mu.Lock()
	named := v.named[town]
	v.mu.Unlock()
	if !named {
		return false
	}
	if st := prev.Status; st != nil && st.LastTick != nil && st.LastTick.InvariantViolations > 0 {
		return true
	}
	return v.Tracker.Tracking(town)
}

// Observe feeds one poll's outcome to the tracker. What the poll could not
// tell resolves nothing: a failed poll, one that named no violations (no
// violations in the dry run and status polling off), the unnamed remainder
// while the reconciler's count is unknown, and, for a town whose dry run
// names its violations, a poll whose dry run failed or was not made:
// switching to the derived set for one poll would resolve and reopen what
// the rows cannot name.
func (v *Violations) Observe(o *gastown.Observation) {
	v.mu.Lock()
	switch {
	case o.Source == gastown.NamedByDryRun:
		v.named[o.Town] = true
	case o.DryRunCall.OK():
		// The dry run answered and named nothing: a worker (another
		// version) that no longer names violations has its rows judged.
		delete(v.named, o.Town)
	}
	stick := v.named[o.Town] && o.Source != gastown.NamedByDryRun
	v.mu.Unlock()
	if !o.OK() && o.Source != gastown.NamedByDryRun || o.Violations == nil || stick {
		return
	}
	var unjudged func(int) bool
	if o.RemainderUnknown {
		unjudged = func(inv int) bool { return inv == gastown.Unnamed }
	}
	ts := v.Tracker.ObservePartly(o.Town, o.Violations, unjudged)
	if len(ts) == 0 {
		return
	}
	v.addTriage(o, ts)
	v.mu.Lock()
	v.pending = append(v.pending, ts...)
	var flush []dedupe.Transition
	if len(v.pending) >= flushAt {
		flush, v.pending = v.pending, nil
	}
	v.mu.Unlock()
	if flush != nil {
		v.write(flush) // a failed write is kept by the notifier and retried
	}
}

// write saves the tracker, then writes transitions to the outbox: the
// tracker first, so that whatever reached the outbox (and may reach
// Sentry) is never undone by a restart; a crash in between leaves them in
// the saved state only, and Reissue writes them at the next start.
func (v *Violations) write(ts []dedupe.Transition) {
	if err := v.Tracker.Save(); err != nil {
		v.logger.Error("saving violation state", "err", err)
	}
	if err := v.Notifier.Enqueue(ts); err != nil {
		v.logger.Error("writing transitions to the outbox; kept in memory and retried", "transitions", len(ts), "err", err)
	}
}

// reissueWithin bounds the transitions Reissue looks at: the outbox
// remembers the ids it sent for alerts.DefaultDoneRetention, and anything
// older than this, gone since, is not sent again.
const reissueWithin = alerts.DefaultDoneRetention / 2

// Reissue hands the outbox, at a start, the last transitions the tracker
// saved (dedupe.Tracker.LastTransitions). The outbox keeps those it never
// had: a tick's that the process saved and died before writing.
func (v *Violations) Reissue(now time.Time) {
	if v.Notifier.LogOnly() {
		return
	}
	ts := v.Tracker.LastTransitions(now.Add(-reissueWithin))
	if len(ts) == 0 {
		return
	}
	before := v.Notifier.Stats().Pending
	if err := v.Notifier.Enqueue(ts); err != nil {
		v.logger.Error("writing saved transitions to the outbox; kept in memory and retried", "err", err)
		return
	}
	if n := v.Notifier.Stats().Pending - before; n > 0 {
		v.logger.Warn("transitions saved before a crash but never written to the outbox; written now", "transitions", n)
	}
}

// flushAt is how many transitions a tick holds in memory before writing
// them to the outbox: each opened one carries its triage until then, and a
// first start on a fleet with a violation everywhere opens one per town in
// the same tick.
const flushAt = 500

// addTriage gives each opened or repeated transition what the poll saw of
// its town. The kept status answer is decoded in full only here, for the few
// polls that open a violation; without it only the last tick is known.
func (v *Violations) addTriage(o *gastown.Observation, ts []dedupe.Transition) {
	var st *gastown.Status
	for i := range ts {
		if ts[i].Kind == dedupe.Resolved {
			continue
		}
		if st == nil {
			st = o.Status
			if o.StatusBody != nil {
				full, err := gastown.DecodeStatus(o.StatusBody)
				if err != nil {
					v.logger.Warn("status kept for the Sentry event does not decode; the event goes without rows and recent events", "town", o.Town, "err", err)
				} else {
					st = full
				}
			}
			if st == nil {
				return
			}
		}
		ts[i].Triage = st.Triage(gastown.Violation{Invariant: ts[i].Invariant, Message: ts[i].Message})
	}
}

// TickDone saves the tracker and writes the tick's transitions to the
// outbox in one batch (one fsync, not one per town; a tick with more wrote
// the others flushAt at a time), in that order (see write). It writes even
// with nothing new: the notifier then retries what an earlier failed write
// left in memory, and says whether that is still failing.
func (v *Violations) TickDone() {
	v.mu.Lock()
	ts := v.pending
	v.pending = nil
	v.mu.Unlock()
	v.write(ts)
}

// Retain drops the violation state of every town not watched, including
// towns that left the list while the sidecar was down.
func (v *Violations) Retain(owned map[string]bool) {
	v.Tracker.Retain(owned)
	v.mu.Lock()
	for t := range v.named {
		if !owned[t] {
			delete(v.named, t)
		}
	}
	v.mu.Unlock()
}

// OutboxStatus is the status page's view of the notifier.
func (v *Violations) OutboxStatus() *statuspage.OutboxStatus {
	s := v.Notifier.Stats()
	return &statuspage.OutboxStatus{LogOnly: v.Notifier.LogOnly(), Logged: s.Logged, Pending: s.Pending, Sent: s.Sent,
		Failed: s.Failed, RateLimited: s.RateLimited, Dropped: s.Dropped}
}

func (v *Violations) Describe(ch chan<- *prometheus.Desc) {
	ch <- v.transitions
	ch <- v.adopted
	ch <- v.events
	ch <- v.dropped
	ch <- v.outbox
	ch <- v.api
	ch <- v.unresolved
}

func (v *Violations) Collect(ch chan<- prometheus.Metric) {
	counts := v.Tracker.TransitionCounts()
	for _, k := range dedupe.Kinds {
		ch <- prometheus.MustNewConstMetric(v.transitions, prometheus.CounterValue, float64(counts[k]), string(k))
	}
	ch <- prometheus.MustNewConstMetric(v.adopted, prometheus.CounterValue, float64(v.Tracker.Adopted()))
	s := v.Notifier.Stats()
	for _, r := range []struct {
		result string
		n      uint64
	}{{"sent", s.Sent}, {"failed", s.Failed}, {"rate_limited", s.RateLimited}, {"logged", s.Logged}} {
		ch <- prometheus.MustNewConstMetric(v.events, prometheus.CounterValue, float64(r.n), r.result)
	}
	ch <- prometheus.MustNewConstMetric(v.dropped, prometheus.CounterValue, float64(s.Dropped))
	ch <- prometheus.MustNewConstMetric(v.outbox, prometheus.GaugeValue, float64(s.Pending))
	for _, c := range []struct {
		call string
		s    alerts.APIStats
	}{{"lookup", s.Lookup}, {"resolve", s.Resolve}} {
		for _, r := range []struct {
			result string
			n      uint64
		}{{"success", c.s.Success}, {"not_found", c.s.NotFound}, {"failed", c.s.Failed}, {"rate_limited", c.s.RateLimited}} {
			ch <- prometheus.MustNewConstMetric(v.api, prometheus.CounterValue, float64(r.n), c.call, r.result)
		}
	}
	ch <- prometheus.MustNewConstMetric(v.unresolved, prometheus.CounterValue, float64(s.Unresolved))
}

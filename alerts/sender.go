package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
)

// Backoff after failed attempts (network error, 5xx, 401/403, and a lookup
// answered 404): doubling
// from BackoffMin up to BackoffMax. A single sender and a durable outbox
// need no jitter: there is no herd to spread.
const (
	BackoffMin = time.Second
	BackoffMax = 5 * time.Minute
)

func backoff(failures int) time.Duration {
	d := BackoffMin
	for i := 1; i < failures && d < BackoffMax; i++ {
		d *= 2
	}
	return min(d, BackoffMax)
}

// SendDue sends, oldest first, every outbox entry that the rate limiter and
// any pause (backoff, 429) allow at the notifier's now(). It returns how long
// to wait before calling again: 0 when the outbox is empty. It is the
// deterministic core of Run and Flush; tests drive it with a manual clock.
//
// Events and web API calls (resolves) pause apart, so that a refused token
// or an API outage never holds back an event; a resolve waits for every
// older event, so its issue's event is accepted before it is looked up.
func (n *Notifier) SendDue(ctx context.Context) time.Duration {
	if n.box == nil {
		return 0
	}
	n.sendMu.Lock()
	defer n.sendMu.Unlock()
	sent := false
	defer func() {
		if sent {
			n.box.release() // the entries' triage was read from the file to send them
		}
	}()
	for ctx.Err() == nil {
		n.takeReload()
		now := n.now()
		r, wait := n.next(now)
		if r == nil {
			return wait
		}
		res := n.limiter.ReserveN(now, 1)
		if d := res.DelayFrom(now); d > 0 {
			res.CancelAt(now)
			return d
		}
		resolve := r.Step == stepResolve && n.api.Load() != nil
		triage, err := n.box.pick(r, !resolve)
		if err != nil {
			res.CancelAt(now)
			if errors.Is(err, errGone) {
				continue
			}
			n.logger.Error("cannot read sentry outbox", "err", err)
			if resolve {
				n.pauseAPIAfterStoreFailure(now)
			} else {
				n.pauseAfterStoreFailure(now)
			}
			continue
		}
		sent = true
		if resolve {
			n.resolveStep(ctx, r)
			continue
		}
		o := n.deliver(ctx, r, triage)
		if o.status == http.StatusRequestEntityTooLarge && triage != nil {
			// The triage (rows, recent events) made it too large: the
			// violation itself still goes, without them.
			n.logger.Warn("sentry refused the event as too large; sending it without its triage", "event_id", r.EventID, "town", r.town, "detail", o.detail)
			o = n.deliver(ctx, r, nil)
		}
		if ctx.Err() != nil && !o.accepted() {
			return 0 // shutting down: the entry stays for the next start
		}
		n.settle(r, o)
	}
	return 0
}

// next picks the entry to send now, or says how long until one may go (0
// when the outbox is empty).
func (n *Notifier) next(now time.Time) (*record, time.Duration) {
	api := n.api.Load() != nil
	classes := allClasses
	if api {
		classes = eventClasses
	}
	var pick *record
	var wait time.Duration
	soonest := func(d time.Duration) {
		if wait == 0 || d < wait {
			wait = d
		}
	}
	ev := n.box.eventHead(classes)
	before := uint64(math.MaxUint64)
	if ev != nil {
		before = ev.key
		if now.Before(n.pausedUntil) {
			soonest(n.pausedUntil.Sub(now))
		} else {
			pick = ev
		}
	}
	if api {
		r, due := n.box.dueResolve(now, before)
		switch {
		case r != nil && now.Before(n.apiPausedUntil):
			soonest(n.apiPausedUntil.Sub(now))
		case r != nil && (pick == nil || r.key < pick.key):
			pick = r
		case r == nil && !due.IsZero():
			soonest(due.Sub(now))
		}
	}
	if pick != nil {
		return pick, 0
	}
	return nil, wait
}

// deliver hands the event, with the triage read back with it, to the sentry
// client, which fills in SDK and runtime data and calls the transport
// synchronously.
func (n *Notifier) deliver(ctx context.Context, r *record, triage *gastown.Triage) outcome {
	t := *r.Transition
	t.Triage = triage
	ev := newEvent(t, n.spec.Load())
	n.transport.begin(ctx)
	id := n.client.CaptureEvent(ev, nil, nil)
	o := n.transport.finish()
	if id == nil || o.eventID != r.EventID {
		return outcome{eventID: r.EventID, status: http.StatusBadRequest, err: errors.New("event dropped by the sentry client before sending")}
	}
	return o
}

// settle books an event's outcome and sets the pause before the next event.
func (n *Notifier) settle(r *record, o outcome) {
	now := n.now()
	switch {
	case o.accepted():
		n.sent.Add(1)
		key := n.issueKey(*r.Transition)
		is := n.box.issue(key)
		is.LastEvent, is.Resolved, is.At = r.key, false, now
		if is.GroupID == "" && is.EventID == "" {
			is.EventID = r.EventID
		}
		if !n.markDone(r, resultSent, now, key, &is) {
			n.pauseAfterStoreFailure(now)
			return
		}
		n.failures = 0
		if o.pause > 0 { // a 2xx may still announce a limit for what follows
			n.pausedUntil = now.Add(o.pause)
		}
	case o.status == http.StatusTooManyRequests:
		n.rateLimited.Add(1)
		n.pausedUntil = now.Add(o.pause)
		n.logger.Warn("sentry rate limit; pausing", "event_id", r.EventID, "pause", o.pause, "pending", n.box.len())
	case o.err == nil && o.status >= 400 && o.status < 500 && o.status != http.StatusUnauthorized && o.status != http.StatusForbidden:
		// This event will never be accepted; it must not block the rest.
		n.failed.Add(1)
		n.dropped.Add(1)
		n.logger.Error("sentry rejected event; dropped", "event_id", r.EventID, "status", o.status, "detail", o.detail, "town", r.town, "transition", r.kind)
		if !n.markDone(r, resultRejected, now, "", nil) {
			n.pauseAfterStoreFailure(now)
		}
	case o.err != nil && o.status == http.StatusBadRequest:
		n.failed.Add(1)
		n.dropped.Add(1)
		n.logger.Error("cannot build sentry event; dropped", "event_id", r.EventID, "err", o.err)
		if !n.markDone(r, resultRejected, now, "", nil) {
			n.pauseAfterStoreFailure(now)
		}
	default: // network error, 5xx, 401/403: Sentry or the way to it is unwell
		n.failed.Add(1)
		n.failures++
		wait := max(backoff(n.failures), o.pause)
		n.pausedUntil = now.Add(wait)
		n.logger.Warn("sentry delivery failed; will retry", "event_id", r.EventID, "reason", o.reason(), "retry_in", wait, "pending", n.box.len())
	}
}

// issueKey names the Sentry issue a transition's events go to: the project
// and the fingerprint they are sent with now.
func (n *Notifier) issueKey(t dedupe.Transition) string {
	return n.project + "\x00" + fingerprintKey(t, n.spec.Load().groupBy)
}

// resolveStep takes a resolve one call further: the lookup of its issue
// when the group id is not known yet, else the resolve itself.
func (n *Notifier) resolveStep(ctx context.Context, r *record) {
	api := n.api.Load()
	key := n.issueKey(*r.Transition)
	is := n.box.issue(key)
	now := n.now()
	switch {
	case is.LastEvent > r.key:
		// An event of the issue came after the violation cleared: another
		// violation (or this one again) holds it open.
		n.markDone(r, resultSuperseded, now, "", nil)
		return
	case is.Resolved:
		n.markDone(r, resultSuperseded, now, "", nil) // resolved already, nothing sent since
		return
	case is.GroupID != "":
		o := api.resolve(ctx, is.GroupID)
		if ctx.Err() != nil && !o.accepted() {
			return
		}
		n.settleResolve(r, key, is, o)
		return
	}
	eventID := is.EventID
	if eventID == "" && r.Transition.Adopted {
		// Taken over from another replica, which sent the events: none of
		// them is known here to look the issue up by.
		n.giveUp(r, "the violation was taken over from another replica, which sent its events", now)
		return
	}
	if eventID == "" {
		// No event of the issue known to be accepted (sent before the
		// outbox kept issues, or forgotten): the violation's opened event,
		// the one before its resolve unless it was repeated.
		prev := *r.Transition
		prev.Kind, prev.Seq = dedupe.Opened, prev.Seq-1
		eventID = EventID(prev)
		if res := n.box.doneResult(eventID); r.Transition.Seq < 2 || res == resultDropped || res == resultRejected {
			n.giveUp(r, "no event of its issue was accepted by Sentry", now)
			return
		}
	}
	gid, o := api.lookup(ctx, eventID)
	if ctx.Err() != nil && !o.accepted() {
		return
	}
	now = n.now()
	switch {
	case o.accepted():
		n.apiSucceeded(&n.lookupStats)
		is.GroupID, is.At = gid, now
		if err := n.box.setIssue(key, is); err != nil {
			n.logger.Error("cannot update sentry outbox", "err", err)
			n.pauseAPIAfterStoreFailure(now)
			return
		}
		r.lookedUp = true
	case o.status == http.StatusNotFound:
		n.lookupStats.notFound.Add(1)
		if r.NotFoundSince.IsZero() {
			r.NotFoundSince = now
			if err := n.box.save(r); err != nil && !errors.Is(err, errGone) {
				n.logger.Error("cannot update sentry outbox", "err", err)
			}
		}
		if now.Sub(r.NotFoundSince) >= LookupPatience {
			if is.EventID == eventID { // a later event may be found where this one was not
				is.EventID, is.At = "", now
				if err := n.box.setIssue(key, is); err != nil {
					n.logger.Error("cannot update sentry outbox", "err", err)
				}
			}
			n.giveUp(r, fmt.Sprintf("Sentry did not find its event %s in organization %q within %s", eventID, api.org, LookupPatience), now)
			return
		}
		r.notFound++
		r.notBefore = now.Add(backoff(r.notFound))
	default:
		n.apiFailed(r, callLookup, &n.lookupStats, o, now)
	}
}

// settleResolve books the answer to a resolve call.
func (n *Notifier) settleResolve(r *record, key string, is issue, o outcome) {
	now := n.now()
	switch {
	case o.accepted():
		n.apiSucceeded(&n.resolveStats)
		is.Resolved, is.At = true, now
		if !n.markDone(r, resultSent, now, key, &is) {
			n.pauseAPIAfterStoreFailure(now)
		}
	case o.status == http.StatusNotFound && !r.lookedUp:
		// The issue is gone (deleted, or merged into another): look it up
		// again by its event, right away.
		n.resolveStats.notFound.Add(1)
		is.GroupID, is.At = "", now
		if err := n.box.setIssue(key, is); err != nil {
			n.logger.Error("cannot update sentry outbox", "err", err)
			n.pauseAPIAfterStoreFailure(now)
		}
	case o.status == http.StatusNotFound:
		n.resolveStats.notFound.Add(1)
		n.giveUp(r, "Sentry answered 404 to the resolve of the issue it had just found", now)
	default:
		n.apiFailed(r, callResolve, &n.resolveStats, o, now)
	}
}

// apiSucceeded resets the API's backoff, and says so if the token had been
// refused.
func (n *Notifier) apiSucceeded(c *apiCounters) {
	c.success.Add(1)
	n.apiFailures = 0
	if n.authReported {
		n.authReported = false
		n.logger.Info("sentry API accepts the auth token again; issues resolve again")
	}
}

// apiFailed books a failed web API call: 429 pauses the API as Sentry asks,
// a refused token (401/403) is logged once and retried with backoff while
// events go on, another 4xx gives the resolve up, and anything else (5xx,
// network) is retried with backoff.
func (n *Notifier) apiFailed(r *record, call string, c *apiCounters, o outcome, now time.Time) {
	switch {
	case o.status == http.StatusTooManyRequests:
		c.rateLimited.Add(1)
		n.apiPausedUntil = now.Add(o.pause)
		n.logger.Warn("sentry API rate limit; pausing issue resolves", "call", call, "pause", o.pause)
		return
	case o.status == http.StatusUnauthorized || o.status == http.StatusForbidden:
		c.failed.Add(1)
		n.apiFailures++
		wait := backoff(n.apiFailures)
		n.apiPausedUntil = now.Add(wait)
		level := slog.LevelDebug
		if !n.authReported {
			n.authReported, level = true, slog.LevelError
		}
		n.logger.Log(context.Background(), level, "sentry API refused the auth token: issues will not resolve until it is fixed; events are still sent",
			"call", call, "status", o.status, "detail", o.detail, "hint", tokenHint(o.status), "retry_in", wait)
		return
	case o.err == nil && o.status >= 400 && o.status < 500 || o.err != nil && o.status == http.StatusBadRequest:
		c.failed.Add(1)
		n.giveUp(r, fmt.Sprintf("the %s call failed: %s %s", call, o.reason(), o.detail), now)
		return
	}
	c.failed.Add(1)
	n.apiFailures++
	wait := max(backoff(n.apiFailures), o.pause)
	n.apiPausedUntil = now.Add(wait)
	n.logger.Warn("sentry API call failed; will retry", "call", call, "town", r.town, "reason", o.reason(), "retry_in", wait)
}

// tokenHint says what a refused token most likely lacks.
func tokenHint(status int) string {
	if status == http.StatusUnauthorized {
		return "the token in sentry.auth_token_file is not valid (revoked, expired, or for another Sentry)"
	}
	return "the token lacks a scope, or sentry.organization is not its organization: the lookup needs org:read, the resolve event:write"
}

// giveUp ends a resolve whose issue stays open in Sentry.
func (n *Notifier) giveUp(r *record, why string, now time.Time) {
	n.unresolved.Add(1)
	n.logger.Warn("sentry issue not resolved; resolve it by hand", "town", r.town, "invariant", r.Transition.Invariant,
		"message", r.Transition.Message, "why", why)
	n.markDone(r, resultUnresolved, now, "", nil)
}

// markDone takes r out of the outbox, recording the issue's new state when
// is is not nil. It reports false when the outbox cannot be written: the
// entry stays pending and is sent again later with the same event id, which
// Sentry deduplicates.
func (n *Notifier) markDone(r *record, result string, now time.Time, key string, is *issue) bool {
	if err := n.box.finish(r, result, now, key, is); err != nil && !errors.Is(err, errGone) {
		n.logger.Error("cannot update sentry outbox", "err", err)
		return false
	}
	return true
}

// pauseAfterStoreFailure backs off after the outbox could not record a
// delivery, so the same entry is not sent again at once, and again, for as
// long as the disk fails.
func (n *Notifier) pauseAfterStoreFailure(now time.Time) {
	n.failures++
	n.pausedUntil = now.Add(backoff(n.failures))
}

func (n *Notifier) pauseAPIAfterStoreFailure(now time.Time) {
	n.apiFailures++
	n.apiPausedUntil = now.Add(backoff(n.apiFailures))
}

// Run drains the outbox until ctx is done: it sends what is due, sleeps
// until the limiter, a pause or a new Enqueue lets it send again, and once
// an hour forgets done event ids older than the retention.
func (n *Notifier) Run(ctx context.Context) {
	if n.box == nil {
		<-ctx.Done()
		return
	}
	n.prune()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		n.retryUnsaved()
		wait := n.SendDue(ctx)
		var tick <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		case <-tick:
		case <-prune.C:
			n.prune()
		}
		timer.Stop()
	}
}

func (n *Notifier) retryUnsaved() {
	if n.unsavedLen() > 0 {
		if err := n.Enqueue(nil); err != nil {
			n.logger.Error("sentry outbox still not writable", "err", err)
		}
	}
}

func (n *Notifier) prune() {
	if k, err := n.box.pruneDone(n.now(), n.doneRetention); err != nil {
		n.logger.Error("prune sentry outbox", "err", err)
	} else if k > 0 {
		n.logger.Debug("forgot old sent event ids", "count", k)
	}
}

// Flush sends what it can within timeout (wall time), waiting for the rate
// limiter and pauses as long as the bound allows. What remains stays in the
// outbox for the next start; the error says how much. Transitions held in
// memory because the outbox could not be written are retried too (once a
// second); while any are left Flush fails, and Stats.Unsaved counts them.
// Stop Run first.
func (n *Notifier) Flush(timeout time.Duration) error {
	if n.box == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		n.retryUnsaved()
		wait := n.SendDue(ctx)
		unsaved := n.unsavedLen()
		left := n.box.len() + unsaved
		if left == 0 {
			return nil
		}
		if wait <= 0 {
			wait = 10 * time.Millisecond // cancelled mid-send; re-check the deadline
		}
		if unsaved > 0 {
			wait = max(wait, time.Second) // each failed write is logged
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			if unsaved > 0 {
				return fmt.Errorf("sentry flush: the outbox is not writable; %d transitions held in memory will be issued again at the next start, %d events kept in the outbox", unsaved, left-unsaved)
			}
			return fmt.Errorf("sentry flush: %d events still pending after %s; kept in the outbox for the next start", left, timeout)
		case <-t.C:
		}
	}
}

package alerts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Backoff after failed attempts (network error, 5xx, 401/403): doubling
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
func (n *Notifier) SendDue(ctx context.Context) time.Duration {
	if n.box == nil {
		return 0
	}
	n.sendMu.Lock()
	defer n.sendMu.Unlock()
	for ctx.Err() == nil {
		now := n.now()
		if now.Before(n.pausedUntil) {
			return n.pausedUntil.Sub(now)
		}
		r := n.box.head()
		if r == nil {
			return 0
		}
		res := n.limiter.ReserveN(now, 1)
		if d := res.DelayFrom(now); d > 0 {
			res.CancelAt(now)
			return d
		}
		o := n.deliver(ctx, r)
		if ctx.Err() != nil && !o.accepted() {
			return 0 // shutting down: the entry stays for the next start
		}
		if wait, stop := n.settle(r, o); stop {
			return wait
		}
	}
	return 0
}

// deliver hands the event to the sentry client, which fills in SDK and
// runtime data and calls the transport synchronously.
func (n *Notifier) deliver(ctx context.Context, r *record) outcome {
	ev := newEvent(r.Transition, n.spec)
	n.transport.begin(ctx)
	id := n.client.CaptureEvent(ev, nil, nil)
	o := n.transport.finish()
	if id == nil || o.eventID != r.EventID {
		return outcome{eventID: r.EventID, status: http.StatusBadRequest, err: errors.New("event dropped by the sentry client before sending")}
	}
	return o
}

// settle books an outcome. stop=true ends this round of sending, with the
// time to wait before the next.
func (n *Notifier) settle(r *record, o outcome) (wait time.Duration, stop bool) {
	now := n.now()
	switch {
	case o.accepted():
		n.sent.Add(1)
		if !n.markDone(r, resultSent, now) {
			return n.pauseAfterStoreFailure(now), true
		}
		n.failures = 0
		if o.pause > 0 { // a 2xx may still announce a limit for what follows
			n.pausedUntil = now.Add(o.pause)
			return o.pause, true
		}
		return 0, false
	case o.status == http.StatusTooManyRequests:
		n.rateLimited.Add(1)
		n.pausedUntil = now.Add(o.pause)
		n.logger.Warn("sentry rate limit; pausing", "event_id", r.EventID, "pause", o.pause, "pending", n.box.len())
		return o.pause, true
	case o.err == nil && o.status >= 400 && o.status < 500 && o.status != http.StatusUnauthorized && o.status != http.StatusForbidden:
		// This event will never be accepted; it must not block the rest.
		n.failed.Add(1)
		n.dropped.Add(1)
		n.logger.Error("sentry rejected event; dropped", "event_id", r.EventID, "status", o.status, "town", r.Transition.Town, "transition", r.Transition.Kind)
		if !n.markDone(r, resultRejected, now) {
			return n.pauseAfterStoreFailure(now), true
		}
		return 0, false
	case o.err != nil && o.status == http.StatusBadRequest:
		n.failed.Add(1)
		n.dropped.Add(1)
		n.logger.Error("cannot build sentry event; dropped", "event_id", r.EventID, "err", o.err)
		if !n.markDone(r, resultRejected, now) {
			return n.pauseAfterStoreFailure(now), true
		}
		return 0, false
	default: // network error, 5xx, 401/403: Sentry or the way to it is unwell
		n.failed.Add(1)
		n.failures++
		wait := max(backoff(n.failures), o.pause)
		n.pausedUntil = now.Add(wait)
		reason := fmt.Sprintf("status %d", o.status)
		if o.err != nil {
			reason = o.err.Error()
		}
		n.logger.Warn("sentry delivery failed; will retry", "event_id", r.EventID, "reason", reason, "retry_in", wait, "pending", n.box.len())
		return wait, true
	}
}

// markDone takes r out of the outbox. It reports false when the outbox
// cannot be written: the entry stays pending and is sent again later with
// the same event id, which Sentry deduplicates.
func (n *Notifier) markDone(r *record, result string, now time.Time) bool {
	if err := n.box.finish(r, result, now); err != nil && !errors.Is(err, errGone) {
		n.logger.Error("cannot update sentry outbox", "err", err)
		return false
	}
	return true
}

// pauseAfterStoreFailure backs off after the outbox could not record a
// delivery, so the same entry is not sent again at once, and again, for as
// long as the disk fails.
func (n *Notifier) pauseAfterStoreFailure(now time.Time) time.Duration {
	n.failures++
	wait := backoff(n.failures)
	n.pausedUntil = now.Add(wait)
	return wait
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
	n.unsavedMu.Lock()
	pending := len(n.unsaved) > 0
	n.unsavedMu.Unlock()
	if pending {
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
// outbox for the next start; the error says how much. Stop Run first.
func (n *Notifier) Flush(timeout time.Duration) error {
	if n.box == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		n.retryUnsaved()
		wait := n.SendDue(ctx)
		left := n.box.len()
		if left == 0 {
			return nil
		}
		if wait <= 0 {
			wait = 10 * time.Millisecond // cancelled mid-send; re-check the deadline
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("sentry flush: %d events still pending after %s; kept in the outbox for the next start", left, timeout)
		case <-t.C:
		}
	}
}

package alerts

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
)

func benchNotifier(b *testing.B, srv *sentrytest.Server, now func() time.Time) *Notifier {
	b.Helper()
	cfg := sentryCfg(srv.DSN())
	cfg.MaxEventsPerSecond, cfg.Burst = 0, 1 // no limit: measure the outbox, not the limiter
	n, err := NewNotifier(cfg, 0, b.TempDir(), now, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = n.Close() })
	return n
}

// BenchmarkSimulatedDay counts the Sentry events that reach the server over
// a day of 5 s polls of one town whose violation never clears (its count
// drifts), next to the seed behaviour measured in the same run: one event
// per violation per poll.
func BenchmarkSimulatedDay(b *testing.B) {
	const polls = 24 * time.Hour / (5 * time.Second)
	var events, seed int
	for b.Loop() {
		srv := sentrytest.NewServer()
		c := newClock()
		n := benchNotifier(b, srv, c.Now)
		tr := dedupe.NewTracker(dedupe.Options{OpenAfter: 2, ResolveAfter: 3, RepeatInterval: 24 * time.Hour}, c.Now)
		seed = 0
		for i := range int(polls) {
			vs := []gastown.Violation{rigMRs(2 + i%5)}
			seed += len(vs)
			if err := n.Enqueue(tr.Observe("town-a", true, vs)); err != nil {
				b.Fatal(err)
			}
			n.SendDue(context.Background())
			c.Add(5 * time.Second)
		}
		events = len(srv.Events())
		srv.Close()
	}
	b.ReportMetric(float64(events), "events/day")
	b.ReportMetric(float64(seed), "seed-events/day")
}

// BenchmarkOutboxPerTransition measures the durable path of one transition
// (Enqueue with fsync, event build, envelope POST to a local Sentry, mark
// done with fsync), next to the same POST without the outbox.
func BenchmarkOutboxPerTransition(b *testing.B) {
	srv := sentrytest.NewServer()
	defer srv.Close()
	n := benchNotifier(b, srv, time.Now)
	ctx := context.Background()
	seq := uint64(0)
	for b.Loop() {
		seq++
		if err := n.Enqueue([]dedupe.Transition{transition("town-a", dedupe.Opened, seq)}); err != nil {
			b.Fatal(err)
		}
		n.SendDue(ctx)
	}
	if got := n.Stats().Sent; got != seq {
		b.Fatalf("sent %d of %d", got, seq)
	}
	b.StopTimer()
	// Baseline: the same events, built and posted directly.
	const k = 500
	start := time.Now()
	for i := range k {
		tr := transition("town-b", dedupe.Opened, uint64(i+1))
		if o := n.transport.post(ctx, newEvent(tr, n.spec.Load())); !o.accepted() {
			b.Fatalf("baseline send: %+v", o)
		}
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/k, "send-only-ns/op")
}

// BenchmarkEnqueue measures writing transitions to the outbox alone, one per
// transaction, and 100 or 10,000 (a whole tick of towns) per transaction.
func BenchmarkEnqueue(b *testing.B) {
	for _, batch := range []int{1, 100, 10000} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			srv := sentrytest.NewServer()
			defer srv.Close()
			n, err := NewNotifier(sentryCfg(srv.DSN()), 0, b.TempDir(), time.Now, slog.New(slog.DiscardHandler), WithMaxPending(1<<30))
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			seq := uint64(0)
			ts := make([]dedupe.Transition, batch)
			for b.Loop() {
				for i := range ts {
					seq++
					ts[i] = transition("town-a", dedupe.Opened, seq)
				}
				if err := n.Enqueue(ts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq), "ns/transition")
		})
	}
}

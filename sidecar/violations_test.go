package sidecar

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/alerts"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
)

// TestLargeTickWritesTransitionsAsTheyCome: a tick that opens more than
// flushAt violations hands them to the notifier flushAt at a time during
// the tick, and the rest at its end.
func TestLargeTickWritesTransitionsAsTheyCome(t *testing.T) {
	n, err := alerts.NewNotifier(config.Default().Sentry, 0, t.TempDir(), time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if !n.LogOnly() {
		t.Fatal("want a log-only notifier: the default config has no DSN")
	}
	v := NewViolations(dedupe.NewTracker(dedupe.Options{OpenAfter: 1, ResolveAfter: 1}, time.Now), n, slog.New(slog.DiscardHandler))
	const towns = 2*flushAt + 7
	for i := range towns {
		v.Observe(&gastown.Observation{
			Town:       fmt.Sprintf("town-%04d", i),
			DryRunCall: gastown.Call{Done: true, Code: 200},
			Violations: []gastown.Violation{{Invariant: 7, Message: "agent a1 is working with no hook", Source: gastown.NamedByDryRun}},
			Source:     gastown.NamedByDryRun,
		})
	}
	if got := n.Stats().Logged; got != 2*flushAt {
		t.Errorf("%d transitions written during the tick, want %d", got, 2*flushAt)
	}
	v.TickDone()
	if got := n.Stats().Logged; got != towns {
		t.Errorf("%d transitions written after the tick, want %d", got, towns)
	}
}

package alerts

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
)

// TestEventContent checks every field SPEC section 5 names, as Sentry
// receives them.
func TestEventContent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kind    dedupe.Kind
		groupBy []string
		level   string
		message string
		fp      []string
	}{
		{"opened, default group_by", dedupe.Opened, []string{"invariant"}, "error",
			"Reconciler invariant #7 violated: " + noHook.Message, []string{"reconciler-invariant", "7"}},
		{"resolved", dedupe.Resolved, []string{"invariant"}, "info",
			"Reconciler invariant #7 resolved: " + noHook.Message, []string{"reconciler-invariant", "7"}},
		{"repeated", dedupe.Repeated, []string{"invariant"}, "error",
			"Reconciler invariant #7 violated: " + noHook.Message, []string{"reconciler-invariant", "7"}},
		{"group by town", dedupe.Opened, []string{"invariant", "town"}, "error",
			"Reconciler invariant #7 violated: " + noHook.Message, []string{"reconciler-invariant", "7", "town-a"}},
		{"group by subject", dedupe.Opened, []string{"invariant", "town", "subject"}, "error",
			"Reconciler invariant #7 violated: " + noHook.Message,
			[]string{"reconciler-invariant", "7", "town-a", "7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *config.Sentry) {
				c.GroupBy = tc.groupBy
				c.Environment = "staging"
				c.Release = "tickwatch@1.2.3"
			})
			tr := transition("town-a", tc.kind, 4)
			h.enqueue([]dedupe.Transition{tr})
			h.drain()
			evs := h.srv.Events()
			if len(evs) != 1 {
				t.Fatalf("%d events, want 1", len(evs))
			}
			ev := evs[0]
			if ev.EventID != EventID(tr) {
				t.Errorf("event id %s, want %s", ev.EventID, EventID(tr))
			}
			if ev.Message != tc.message || ev.Level != tc.level {
				t.Errorf("message/level %q/%q, want %q/%q", ev.Message, ev.Level, tc.message, tc.level)
			}
			wantTags := map[string]string{"town": "town-a", "invariant": "7", "transition": string(tc.kind), "shard": "3"}
			if !reflect.DeepEqual(ev.Tags, wantTags) {
				t.Errorf("tags %v, want %v", ev.Tags, wantTags)
			}
			if !reflect.DeepEqual(ev.Fingerprint, tc.fp) {
				t.Errorf("fingerprint %q, want %q", ev.Fingerprint, tc.fp)
			}
			wantCtx := map[string]any{
				"invariant": 7.0, "message": noHook.Message, "subject": "7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90",
				"town": "town-a", "first_seen": "2026-11-28T08:59:50Z", "last_seen": "2026-11-28T09:00:00Z",
				"observations": 3.0, "source": "status_rows",
				"how_known": "derived by tickwatch from the town's status rows (it derives " + gastown.Derivable + ")",
			}
			if got := ev.Contexts["violation"]; !reflect.DeepEqual(got, wantCtx) {
				t.Errorf("violation context %v, want %v", got, wantCtx)
			}
			if ev.Environment != "staging" || ev.Release != "tickwatch@1.2.3" || ev.Platform != "go" || ev.Logger != "tickwatch" {
				t.Errorf("environment/release/platform/logger = %q/%q/%q/%q", ev.Environment, ev.Release, ev.Platform, ev.Logger)
			}
			if !ev.Timestamp.Equal(t0) || !ev.SentAt.Equal(t0) {
				t.Errorf("timestamp %s sent_at %s, want %s", ev.Timestamp, ev.SentAt, t0)
			}
			if _, ok := ev.Contexts["runtime"]; !ok {
				t.Errorf("runtime context missing (sentry client integrations not applied): %v", ev.Contexts)
			}
			if strings.Contains(string(ev.Raw), h.srv.Key) {
				t.Errorf("event body contains the DSN key: %s", ev.Raw)
			}
		})
	}
}

// TestUnnamedRemainderEvent: the part of the reconciler's count that the
// rows do not name is one violation, and its event says so.
func TestUnnamedRemainderEvent(t *testing.T) {
	h := newHarness(t, nil)
	v := gastown.Violation{Invariant: gastown.Unnamed, Message: fmt.Sprintf(gastown.MsgUnnamed, 2), Source: gastown.ReconcilerCount}
	tr := dedupe.Transition{Town: "town-a", Identity: dedupe.Identity(v), Invariant: v.Invariant, Message: v.Message,
		Source: v.Source, Kind: dedupe.Opened, Seq: 1, At: t0, FirstSeen: t0, LastSeen: t0, Observations: 2}
	h.enqueue([]dedupe.Transition{tr})
	h.drain()
	evs := h.srv.Events()
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	ev := evs[0]
	if ev.Message != "Reconciler invariant (unnamed) violated: The reconciler counted 2 invariant violations that the status rows do not name" ||
		ev.Tags["invariant"] != "unnamed" || !reflect.DeepEqual(ev.Fingerprint, []string{"reconciler-invariant", "unnamed"}) {
		t.Errorf("event: %q tags %v fingerprint %v", ev.Message, ev.Tags, ev.Fingerprint)
	}
	how, _ := ev.Contexts["violation"]["how_known"].(string)
	if !strings.Contains(how, "reconciler's own count") || !strings.Contains(how, "#7, #5 and #6") {
		t.Errorf("how_known = %q", how)
	}
}

func TestEventIDStableAndDistinct(t *testing.T) {
	base := transition("town-a", dedupe.Opened, 1)
	id := EventID(base)
	if len(id) != 32 {
		t.Fatalf("event id %q is not 32 hex digits", id)
	}
	// Fields outside (town, identity, kind, seq) do not change it.
	later := base
	later.At, later.LastSeen, later.Observations, later.Message = base.At.Add(time.Hour), base.At.Add(time.Hour), 99, "other text"
	if EventID(later) != id {
		t.Errorf("event id depends on more than (town, identity, kind, seq)")
	}
	seen := map[string]string{id: "base"}
	for name, mod := range map[string]func(*dedupe.Transition){
		"town":     func(t *dedupe.Transition) { t.Town = "town-b" },
		"identity": func(t *dedupe.Transition) { t.Identity = "7:other" },
		"kind":     func(t *dedupe.Transition) { t.Kind = dedupe.Repeated },
		"seq":      func(t *dedupe.Transition) { t.Seq = 2 },
		"boundary": func(t *dedupe.Transition) { t.Town, t.Identity = "town-a7:", "Working" },
	} {
		tr := base
		mod(&tr)
		got := EventID(tr)
		if prev, dup := seen[got]; dup {
			t.Errorf("changing %s gives the id of %s", name, prev)
		}
		seen[got] = name
	}
}

package alerts

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
)

// tick runs one poll the way the poller does: Observe, Enqueue, Save.
func tick(t *testing.T, tr *dedupe.Tracker, n *Notifier, town string, ok bool, vs ...gastown.Violation) {
	t.Helper()
	if err := n.Enqueue(tr.Observe(town, ok, vs)); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if err := tr.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}
}

func TestPersistentViolationIsOneEvent(t *testing.T) {
	h := newHarness(t, nil)
	tr := dedupe.NewTracker(dedupe.Options{OpenAfter: 2, ResolveAfter: 3, RepeatInterval: 24 * time.Hour}, h.clock.Now)
	for i := range 1000 {
		// The MR count drifts between 2 and 6: same identity.
		tick(t, tr, h.n, "town-a", true, rigMRs(2+i%5))
		h.drain()
		h.clock.Add(5 * time.Second)
	}
	evs := h.srv.Events()
	if len(evs) != 1 {
		t.Fatalf("%d events for one violation over 1000 polls, want 1", len(evs))
	}
	ev := evs[0]
	if want := "Reconciler invariant #3 violated: Rig rig-main has 3 in_progress MR beads (should be at most 1)"; ev.Message != want {
		t.Errorf("message %q, want %q", ev.Message, want)
	}
	if ev.Level != "error" {
		t.Errorf("level %q, want error", ev.Level)
	}
	if got := h.n.Stats(); got != (Stats{Sent: 1}) {
		t.Errorf("stats %+v, want only Sent 1", got)
	}
}

func TestShortViolationNoEventResolvedIsInfo(t *testing.T) {
	for _, tc := range []struct {
		name         string
		sendResolved bool
		polls        [][]gastown.Violation
		want         []string // "level message"
	}{
		{"seen fewer than open_after", true,
			[][]gastown.Violation{{noHook}, {}, {noHook}, {}, {}, {}, {}}, nil},
		{"opened then resolved", true,
			[][]gastown.Violation{{noHook}, {noHook}, {}, {}, {}},
			[]string{
				"error Reconciler invariant #7 violated: " + noHook.Message,
				"info Reconciler invariant #7 resolved: " + noHook.Message,
			}},
		{"send_resolved off", false,
			[][]gastown.Violation{{noHook}, {noHook}, {}, {}, {}},
			[]string{"error Reconciler invariant #7 violated: " + noHook.Message}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *config.Sentry) { c.SendResolved = tc.sendResolved })
			tr := dedupe.NewTracker(dedupe.Options{OpenAfter: 2, ResolveAfter: 3}, h.clock.Now)
			for _, vs := range tc.polls {
				tick(t, tr, h.n, "town-a", true, vs...)
				h.drain()
				h.clock.Add(5 * time.Second)
			}
			var got []string
			for _, e := range h.srv.Events() {
				got = append(got, e.Level+" "+e.Message)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("events %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFailingPollNeverResolves(t *testing.T) {
	h := newHarness(t, nil)
	tr := dedupe.NewTracker(dedupe.Options{OpenAfter: 2, ResolveAfter: 3}, h.clock.Now)
	tick(t, tr, h.n, "town-a", true, noHook)
	tick(t, tr, h.n, "town-a", true, noHook)
	for range 500 { // 40 minutes of failed polls
		tick(t, tr, h.n, "town-a", false)
		h.clock.Add(5 * time.Second)
	}
	h.drain()
	if evs := h.srv.Events(); len(evs) != 1 || evs[0].Tags["transition"] != "opened" {
		t.Fatalf("events after failed polls: %d (%v), want the single opened", len(evs), evs)
	}
	if got := tr.OpenCounts(); !reflect.DeepEqual(got, map[string]map[int]int{"town-a": {7: 1}}) {
		t.Fatalf("open counts after failed polls = %v", got)
	}
}

// TestSentryOutageThenRecovery: 429 with Retry-After, then 503, then the
// connection dropped three times; every transition arrives once Sentry
// recovers, each exactly once, with the waits Sentry and the backoff ask for.
func TestSentryOutageThenRecovery(t *testing.T) {
	for _, tc := range []struct {
		name      string
		script    []sentrytest.Reply
		wantWaits []time.Duration
		want      Stats
	}{
		{
			name: "429 Retry-After, 503, down",
			script: []sentrytest.Reply{
				{Status: 429, Header: http.Header{"Retry-After": {"30"}}},
				{Status: 503},
				sentrytest.Down, sentrytest.Down, sentrytest.Down,
			},
			wantWaits: []time.Duration{30 * time.Second, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second},
			want:      Stats{Sent: 6, Failed: 4, RateLimited: 1},
		},
		{
			name: "X-Sentry-Rate-Limits wins over Retry-After",
			script: []sentrytest.Reply{
				{Status: 429, Header: http.Header{"Retry-After": {"30"}, "X-Sentry-Rate-Limits": {"120:error;transaction:key, 10:transaction:org"}}},
			},
			wantWaits: []time.Duration{120 * time.Second},
			want:      Stats{Sent: 6, RateLimited: 1},
		},
		{
			name:      "429 without headers",
			script:    []sentrytest.Reply{{Status: 429}},
			wantWaits: []time.Duration{DefaultRateLimitPause},
			want:      Stats{Sent: 6, RateLimited: 1},
		},
		{
			name:      "401 is a configuration problem: kept and retried",
			script:    []sentrytest.Reply{{Status: 401}, {Status: 401}},
			wantWaits: []time.Duration{time.Second, 2 * time.Second},
			want:      Stats{Sent: 6, Failed: 2},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(c *config.Sentry) { c.MaxEventsPerSecond = 1000; c.Burst = 100 })
			h.srv.Script(tc.script...)
			var ts []dedupe.Transition
			for i := range 3 {
				town := fmt.Sprintf("town-%d", i)
				ts = append(ts, transition(town, dedupe.Opened, 1), transition(town, dedupe.Resolved, 2))
			}
			h.enqueue(ts)
			waits := h.drain()
			if !reflect.DeepEqual(waits, tc.wantWaits) {
				t.Errorf("waits %v, want %v", waits, tc.wantWaits)
			}
			evs := h.srv.Events()
			ids := eventIDs(evs)
			if len(evs) != 6 || len(ids) != 6 {
				t.Fatalf("%d events with %d distinct ids, want 6 and 6", len(evs), len(ids))
			}
			for _, tr := range ts {
				if ids[EventID(tr)] != 1 {
					t.Errorf("transition %s/%s/%d arrived %d times", tr.Town, tr.Kind, tr.Seq, ids[EventID(tr)])
				}
			}
			if got := h.n.Stats(); got != tc.want {
				t.Errorf("stats %+v, want %+v", got, tc.want)
			}
			if want := len(tc.script) + 6; h.srv.Requests() != want {
				t.Errorf("%d requests, want %d", h.srv.Requests(), want)
			}
		})
	}
}

func TestRejectedEventDoesNotBlock(t *testing.T) {
	h := newHarness(t, nil)
	h.srv.Script(sentrytest.Reply{Status: 400, Body: `{"detail":"invalid event envelope"}`}, sentrytest.Reply{Status: 413})
	h.enqueue([]dedupe.Transition{transition("a", dedupe.Opened, 1), transition("b", dedupe.Opened, 1), transition("c", dedupe.Opened, 1)})
	if waits := h.drain(); waits != nil {
		t.Errorf("waits %v, want none", waits)
	}
	evs := h.srv.Events()
	if len(evs) != 1 || evs[0].Tags["town"] != "c" {
		t.Fatalf("events %v, want only town c's", evs)
	}
	if got, want := h.n.Stats(), (Stats{Sent: 1, Failed: 2, Dropped: 2}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	if !strings.Contains(h.logs.String(), `msg="sentry rejected event; dropped" event_id=`) ||
		!strings.Contains(h.logs.String(), `status=400 detail="invalid event envelope"`) {
		t.Errorf("no log line for the rejection with Sentry's reason: %s", h.logs.String())
	}
	// A rejected id is done: enqueuing it again sends nothing.
	h.enqueue([]dedupe.Transition{transition("a", dedupe.Opened, 1)})
	if p := h.n.Stats().Pending; p != 0 {
		t.Errorf("rejected transition re-queued: pending %d", p)
	}
}

// TestTooLargeEventGoesWithoutItsTriage: an opened event Sentry refuses
// as too large (413) is sent again at once without its triage, not dropped.
func TestTooLargeEventGoesWithoutItsTriage(t *testing.T) {
	h := newHarness(t, nil)
	h.srv.Script(sentrytest.Reply{Status: 413, Body: `{"detail":"envelope exceeded size limits"}`})
	tr := transition("a", dedupe.Opened, 1)
	tr.Triage = &gastown.Triage{Rig: "rig-main", RecentEvents: []gastown.RecentEvent{{Time: t0, Type: "hooked", Message: "polecat-1 hooked"}}}
	h.enqueue([]dedupe.Transition{tr})
	if waits := h.drain(); waits != nil {
		t.Errorf("waits %v, want none", waits)
	}
	evs := h.srv.Events()
	if len(evs) != 1 {
		t.Fatalf("%d events, want town a's", len(evs))
	}
	if ev := evs[0]; ev.Tags["town"] != "a" || ev.Tags["rig"] != "" || strings.Contains(string(ev.Raw), "polecat-1 hooked") {
		t.Fatalf("event %s, want town a's without its triage", ev.Raw)
	}
	if got, want := h.n.Stats(), (Stats{Sent: 1}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	if !strings.Contains(h.logs.String(), `detail="envelope exceeded size limits"`) {
		t.Errorf("the log does not give Sentry's reason: %s", h.logs.String())
	}
}

// TestTenThousandTownsOneTick: every town opens a violation in the same
// tick. The send rate never exceeds the limiter (burst, then
// max_events_per_second) and every event arrives once.
func TestTenThousandTownsOneTick(t *testing.T) {
	const towns = 10000
	h := newHarness(t, nil) // defaults: 1 event/s, burst 20
	tr := dedupe.NewTracker(dedupe.Options{OpenAfter: 1, ResolveAfter: 3}, h.clock.Now)
	var all []dedupe.Transition
	for i := range towns {
		all = append(all, tr.Observe(fmt.Sprintf("town-%05d", i), true, []gastown.Violation{noHook})...)
	}
	if len(all) != towns {
		t.Fatalf("%d transitions, want %d", len(all), towns)
	}
	h.enqueue(all)
	if p := h.n.Stats().Pending; p != towns {
		t.Fatalf("pending %d after one Enqueue, want %d", p, towns)
	}
	start := h.clock.Now()
	h.drain()

	evs := h.srv.Events()
	if len(evs) != towns || len(eventIDs(evs)) != towns {
		t.Fatalf("%d events, %d distinct ids, want %d", len(evs), len(eventIDs(evs)), towns)
	}
	// Token bucket: any k consecutive sends span at least (k-burst)/rate.
	burst, perSec := h.cfg.Burst, h.cfg.MaxEventsPerSecond
	for j := burst; j < len(evs); j++ {
		i := j - burst
		span := evs[j].SentAt.Sub(evs[i].SentAt)
		if min := time.Duration(float64(j-i+1-burst) / perSec * float64(time.Second)); span < min {
			t.Fatalf("events %d..%d sent within %s, limiter allows no less than %s", i, j, span, min)
		}
	}
	if got, want := evs[len(evs)-1].SentAt.Sub(start), time.Duration(towns-burst)*time.Second; got != want {
		t.Errorf("last event sent %s after the tick, want %s (burst then 1/s)", got, want)
	}
	if got := h.n.Stats(); got != (Stats{Sent: towns}) {
		t.Errorf("stats %+v", got)
	}
}

func TestRestartDoesNotResend(t *testing.T) {
	h := newHarness(t, nil)
	tr := dedupe.NewTracker(dedupe.Options{OpenAfter: 1, ResolveAfter: 1}, h.clock.Now)
	first := tr.Observe("town-a", true, []gastown.Violation{noHook})
	h.enqueue(first)
	h.drain()
	if err := h.n.Close(); err != nil {
		t.Fatal(err)
	}
	h.open()
	// The crash came between Enqueue and the tracker's Save: the tracker
	// issues the same transition again. Same id, already sent: ignored.
	h.enqueue(first)
	if got := h.n.Stats(); got != (Stats{Duplicates: 1}) {
		t.Fatalf("stats after re-issue %+v, want one duplicate", got)
	}
	h.drain()
	if n := len(h.srv.Events()); n != 1 {
		t.Fatalf("%d events, want 1", n)
	}
}

func TestOutboxCapDropsResolvedFirst(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.n.Close(); err != nil {
		t.Fatal(err)
	}
	h.open(WithMaxPending(4))
	h.enqueue([]dedupe.Transition{
		transition("a", dedupe.Opened, 1), transition("a", dedupe.Resolved, 2),
		transition("b", dedupe.Opened, 1), transition("b", dedupe.Resolved, 2),
	})
	h.enqueue([]dedupe.Transition{transition("c", dedupe.Opened, 1), transition("d", dedupe.Repeated, 2), transition("e", dedupe.Opened, 1)})
	// 7 for 4 places: both resolved go, then the repeated.
	if got := h.n.Stats(); got != (Stats{Dropped: 3, Pending: 4}) {
		t.Fatalf("stats %+v, want 3 dropped, 4 pending", got)
	}
	h.drain()
	var got []string
	for _, e := range h.srv.Events() {
		got = append(got, e.Tags["town"]+"/"+e.Tags["transition"])
	}
	if want := []string{"a/opened", "b/opened", "c/opened", "e/opened"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("sent %v, want %v", got, want)
	}
	if !strings.Contains(h.logs.String(), "sentry outbox full; dropped oldest entries (resolved first)") {
		t.Error("no log line for the drop")
	}
}

func TestFlushBounded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		script  []sentrytest.Reply
		wantErr string
		sent    int
	}{
		{"all accepted", nil, "", 5},
		{"sentry down", []sentrytest.Reply{sentrytest.Down, sentrytest.Down, sentrytest.Down, sentrytest.Down},
			"sentry flush: 5 events still pending after 300ms; kept in the outbox for the next start", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sentrytest.NewServer()
			defer srv.Close()
			srv.Script(tc.script...)
			cfg := sentryCfg(srv.DSN())
			cfg.MaxEventsPerSecond, cfg.Burst = 1000, 10
			n, err := NewNotifier(cfg, 0, t.TempDir(), time.Now, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			var ts []dedupe.Transition
			for i := range 5 {
				ts = append(ts, transition(fmt.Sprint("town-", i), dedupe.Opened, 1))
			}
			if err := n.Enqueue(ts); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = n.Flush(300 * time.Millisecond)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("Flush took %s for a 300ms bound", took)
			}
			if (err == nil) != (tc.wantErr == "") || (err != nil && err.Error() != tc.wantErr) {
				t.Fatalf("Flush error %v, want %q", err, tc.wantErr)
			}
			if got := len(srv.Events()); got != tc.sent {
				t.Errorf("%d events sent, want %d", got, tc.sent)
			}
		})
	}
}

func TestNoDSNLogsTransitions(t *testing.T) {
	var logs syncBuffer
	cfg := config.Default().Sentry
	n, err := NewNotifier(cfg, 0, t.TempDir(), time.Now, slogText(&logs))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if !n.LogOnly() {
		t.Fatal("empty DSN is not log-only")
	}
	tr := transition("town-a", dedupe.Opened, 1)
	if err := n.Enqueue([]dedupe.Transition{tr, transition("town-a", dedupe.Resolved, 2)}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`level=WARN msg="Reconciler invariant #7 violated: Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook" transition=opened town=town-a invariant=7 subject=7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 source=status_rows seq=1 event_id=` + EventID(tr) + ` first_seen=2026-11-28T08:59:50.000Z last_seen=2026-11-28T09:00:00.000Z observations=3`,
		`level=INFO msg="Reconciler invariant #7 resolved: Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook" transition=resolved town=town-a`,
	}
	for _, w := range want {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs.String())
		}
	}
	if got := n.Stats(); got != (Stats{Logged: 2}) {
		t.Errorf("stats %+v, want Logged 2 (log lines are not counted as sent)", got)
	}
}

func TestDSNNeverLogged(t *testing.T) {
	for _, dsn := range []string{"http://supersecretkey@127.0.0.1:notaport/1", "://supersecretkey@", "http://supersecretkey@host/"} {
		var logs syncBuffer
		cfg := sentryCfg(dsn)
		_, err := NewNotifier(cfg, 0, t.TempDir(), time.Now, slogText(&logs))
		if err == nil {
			t.Fatalf("DSN %q accepted", dsn)
		}
		if strings.Contains(err.Error(), "supersecretkey") || strings.Contains(logs.String(), "supersecretkey") {
			t.Errorf("DSN leaked: err %q, logs %q", err, logs.String())
		}
		if !strings.HasPrefix(err.Error(), "sentry.dsn: ") {
			t.Errorf("error %q does not name the setting", err)
		}
	}
	// Failing deliveries do not log it either.
	h := newHarness(t, nil)
	h.srv.Script(sentrytest.Down, sentrytest.Reply{Status: 500})
	h.enqueue([]dedupe.Transition{transition("a", dedupe.Opened, 1)})
	h.drain()
	if strings.Contains(h.logs.String(), h.srv.Key+"@") || strings.Contains(h.logs.String(), h.srv.URL) {
		t.Errorf("logs name the DSN or endpoint: %s", h.logs.String())
	}
	if !strings.Contains(h.logs.String(), "sentry delivery failed; will retry") {
		t.Errorf("no retry log line: %s", h.logs.String())
	}
}

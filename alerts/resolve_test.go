package alerts

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
	bolt "go.etcd.io/bbolt"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
)

// byTown groups events by invariant and town: towns do not share issues.
func byTown(c *config.Sentry) { c.GroupBy = []string{"invariant", "town"} }

// flap drives one violation of town-a through open, resolve, reopen,
// resolve, reopen, resolve, draining the outbox after each poll.
func flap(t *testing.T, h *harness) {
	t.Helper()
	tr := dedupe.NewTracker(dedupe.Options{OpenAfter: 1, ResolveAfter: 1}, h.clock.Now)
	for range 3 {
		for _, vs := range [][]gastown.Violation{{noHook}, nil} {
			tick(t, tr, h.n, "town-a", true, vs...)
			h.drain()
			h.clock.Add(5 * time.Second)
		}
	}
}

// TestIssueFollowsViolation: a violation that opens, resolves and reopens
// twice. Without a token every transition is an event and the issue never
// resolves; with one, Sentry gets an event per opening, one lookup, and a
// resolve per clearing, and its issue ends resolved after two regressions.
func TestIssueFollowsViolation(t *testing.T) {
	issuePath := "/api/0/organizations/tickwatch-org/issues/1000/"
	for _, tc := range []struct {
		name        string
		token       bool
		levels      []string
		calls       []string
		status      string
		regressions int
		want        Stats
	}{
		{
			name:   "without a token: an info event per resolve",
			levels: []string{"error", "info", "error", "info", "error", "info"},
			status: "unresolved",
			want:   Stats{Sent: 6},
		},
		{
			name:   "with a token: the issue is resolved through the API",
			token:  true,
			levels: []string{"error", "error", "error"},
			calls: []string{
				"GET /api/0/organizations/tickwatch-org/eventids/" + EventID(transition("town-a", dedupe.Opened, 1)) + "/ 200",
				"PUT " + issuePath + " 200", "PUT " + issuePath + " 200", "PUT " + issuePath + " 200",
			},
			status:      "resolved",
			regressions: 2,
			want:        Stats{Sent: 3, Lookup: APIStats{Success: 1}, Resolve: APIStats{Success: 3}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h *harness
			if tc.token {
				h = newResolvingHarness(t, allScopes, nil)
			} else {
				h = newHarness(t, nil)
			}
			flap(t, h)
			var levels []string
			for _, e := range h.srv.Events() {
				levels = append(levels, e.Level)
			}
			if !reflect.DeepEqual(levels, tc.levels) {
				t.Errorf("event levels %q, want %q", levels, tc.levels)
			}
			if got := calls(h.srv); !reflect.DeepEqual(got, tc.calls) {
				t.Errorf("API calls:\n%q\nwant\n%q", got, tc.calls)
			}
			issues := h.srv.Issues()
			if len(issues) != 1 {
				t.Fatalf("%d issues, want 1", len(issues))
			}
			if is := issues[0]; is.Status != tc.status || is.Regressions != tc.regressions || len(is.Events) != len(tc.levels) {
				t.Errorf("issue %+v, want status %s, %d regressions, %d events", is, tc.status, tc.regressions, len(tc.levels))
			}
			if got := h.n.Stats(); got != tc.want {
				t.Errorf("stats %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestStartupSaysWhetherIssuesResolve(t *testing.T) {
	const line = "no sentry.auth_token_file: Sentry issues will not resolve by themselves"
	without := newHarness(t, nil)
	if n := strings.Count(without.logs.String(), line); n != 1 {
		t.Errorf("without a token the line is logged %d times, want once:\n%s", n, without.logs.String())
	}
	with := newResolvingHarness(t, allScopes, nil)
	if strings.Contains(with.logs.String(), line) {
		t.Errorf("with a token the log says issues will not resolve:\n%s", with.logs.String())
	}
	if !strings.Contains(with.logs.String(), "api="+with.srv.URL+" organization=tickwatch-org") {
		t.Errorf("with a token the log does not say which API: %s", with.logs.String())
	}
	if strings.Contains(with.logs.String(), token) {
		t.Errorf("the token is in the log")
	}
}

// TestOpenedEventCarriesTriage checks the triage context as Sentry receives
// it: breadcrumbs oldest first, the rows, the last tick, the rig tag and the
// links, and nothing from the config but the two link bases.
func TestOpenedEventCarriesTriage(t *testing.T) {
	h := newResolvingHarness(t, allScopes, nil)
	h.n.SetLinks(config.Web{ExternalURL: "https://tickwatch.example/", GrafanaURL: "https://grafana.example/g"})
	rig, hook := "rig-main", "b-issue-0052"
	tr := transition("town-a", dedupe.Opened, 1)
	tr.Triage = &gastown.Triage{
		RecentEvents: []gastown.RecentEvent{
			{Time: t0.Add(-20 * time.Second), Type: "hooked", Message: "polecat-2 hooked to b-issue-0052"},
			{Time: t0.Add(-3 * time.Second), Type: "status_changed", Message: "b-issue-0042: in_progress -> in_review"},
		},
		Agents: []gastown.Agent{{BeadID: "7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90", Role: "polecat", Status: "working", DispatchAttempts: 4, LastActivityAt: t0.Add(-time.Minute)}},
		Beads:  []gastown.Bead{{BeadID: "b-mr-0017", Type: "merge_request", Status: "in_progress", Title: "Review", AssigneeAgentBeadID: &hook, UpdatedAt: t0, RigID: &rig}},
		Rig:    rig,
		Reconciler: &gastown.ReconcilerMetrics{EventsDrained: 2, ActionsEmitted: 5, ActionsByType: gastown.CountActions(map[string]int{"dispatch_agent": 2}),
			SideEffectsAttempted: 4, SideEffectsSucceeded: 3, SideEffectsFailed: 1, InvariantViolations: 1, WallClockMs: 41, PendingEventCount: 1},
	}
	h.enqueue([]dedupe.Transition{tr})
	h.drain()
	evs := h.srv.Events()
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	ev := evs[0]
	var raw struct {
		Breadcrumbs []sentry.Breadcrumb `json:"breadcrumbs"`
	}
	if err := json.Unmarshal(ev.Raw, &raw); err != nil {
		t.Fatal(err)
	}
	var crumbs []string
	for _, b := range raw.Breadcrumbs {
		crumbs = append(crumbs, b.Timestamp.UTC().Format(time.RFC3339)+" "+b.Category+" "+b.Message+" "+string(b.Level))
	}
	if want := []string{
		"2026-11-28T08:59:40Z hooked polecat-2 hooked to b-issue-0052 info",
		"2026-11-28T08:59:57Z status_changed b-issue-0042: in_progress -> in_review info",
	}; !reflect.DeepEqual(crumbs, want) {
		t.Errorf("breadcrumbs %q, want %q", crumbs, want)
	}
	wantTags := map[string]string{"town": "town-a", "invariant": "7", "transition": "opened", "shard": "3", "rig": "rig-main"}
	if !reflect.DeepEqual(ev.Tags, wantTags) {
		t.Errorf("tags %v, want %v", ev.Tags, wantTags)
	}
	wantRows := map[string]any{
		"agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90": map[string]any{"role": "polecat", "status": "working", "hook": nil,
			"dispatch_attempts": 4.0, "last_activity_at": "2026-11-28T08:59:00Z"},
		"bead b-mr-0017": map[string]any{"type": "merge_request", "status": "in_progress", "title": "Review",
			"assignee": "b-issue-0052", "updated_at": "2026-11-28T09:00:00Z", "rig": "rig-main"},
	}
	if got := ev.Contexts["status_rows"]; !reflect.DeepEqual(got, wantRows) {
		t.Errorf("status_rows %v\nwant %v", got, wantRows)
	}
	wantTick := map[string]any{"eventsDrained": 2.0, "actionsEmitted": 5.0, "actionsByType": map[string]any{"dispatch_agent": 2.0},
		"sideEffectsAttempted": 4.0, "sideEffectsSucceeded": 3.0, "sideEffectsFailed": 1.0, "invariantViolations": 1.0,
		"wallClockMs": 41.0, "pendingEventCount": 1.0}
	if got := ev.Contexts["reconciler"]; !reflect.DeepEqual(got, wantTick) {
		t.Errorf("reconciler %v\nwant %v", got, wantTick)
	}
	from, to := t0.Add(-10*time.Second-LinkMargin).UnixMilli(), t0.Add(LinkMargin).UnixMilli()
	wantLinks := map[string]any{
		"town_page": "https://tickwatch.example/towns/town-a",
		"dashboard": "https://grafana.example/g/d/tickwatch-reconciler?from=" + strconv.FormatInt(from, 10) + "&to=" + strconv.FormatInt(to, 10) + "&var-town=town-a",
	}
	if got := ev.Contexts["links"]; !reflect.DeepEqual(got, wantLinks) {
		t.Errorf("links %v\nwant %v", got, wantLinks)
	}
	for _, secret := range []string{h.srv.Key, token, h.cfg.AuthTokenFile, h.dir} {
		if strings.Contains(string(ev.Raw), secret) {
			t.Errorf("event holds %q: %s", secret, ev.Raw)
		}
	}
}

// TestLookupWaitsForProcessing: Sentry answers the lookup 404 until it has
// processed the event. The resolve retries with backoff and resolves; an
// event enqueued meanwhile is not held back.
func TestLookupWaitsForProcessing(t *testing.T) {
	h := newResolvingHarness(t, allScopes, byTown)
	h.srv.SetProcessingLag(3)
	h.enqueue([]dedupe.Transition{transition("town-a", dedupe.Opened, 1), transition("town-a", dedupe.Resolved, 2)})
	if w := h.n.SendDue(context.Background()); w != time.Second {
		t.Fatalf("wait after the first 404: %s, want 1s", w)
	}
	h.enqueue([]dedupe.Transition{transition("town-b", dedupe.Opened, 1)})
	if w := h.n.SendDue(context.Background()); w != time.Second {
		t.Fatalf("wait after town-b's event: %s, want the lookup's 1s", w)
	}
	if evs := h.srv.Events(); len(evs) != 2 || evs[1].Tags["town"] != "town-b" {
		t.Fatalf("town-b's event waited behind the lookup: %d events", len(evs))
	}
	if waits, want := h.drain(), []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}; !reflect.DeepEqual(waits, want) {
		t.Errorf("waits %v, want the backoff %v", waits, want)
	}
	if got, want := h.n.Stats(), (Stats{Sent: 2, Lookup: APIStats{Success: 1, NotFound: 3}, Resolve: APIStats{Success: 1}}); got != want {
		t.Errorf("stats %+v, want %+v", got, want)
	}
	if is := h.srv.Issues()[0]; is.Status != "resolved" {
		t.Errorf("issue %+v not resolved", is)
	}
}

// TestLookupGivesUp: an event Sentry never finds (dropped after it was
// accepted) leaves its issue open after LookupPatience, counted and logged.
func TestLookupGivesUp(t *testing.T) {
	h := newResolvingHarness(t, allScopes, nil)
	h.srv.SetProcessingLag(1 << 30)
	h.enqueue([]dedupe.Transition{transition("town-a", dedupe.Opened, 1), transition("town-a", dedupe.Resolved, 2)})
	start := h.clock.Now()
	h.drain()
	if took := h.clock.Now().Sub(start); took < LookupPatience || took > LookupPatience+BackoffMax {
		t.Errorf("gave up after %s, want between %s and %s", took, LookupPatience, LookupPatience+BackoffMax)
	}
	s := h.n.Stats()
	if s.Unresolved != 1 || s.Resolve != (APIStats{}) || s.Lookup.Success != 0 || s.Lookup.NotFound < 5 {
		t.Errorf("stats %+v, want one unresolved after several 404s and no resolve call", s)
	}
	if !strings.Contains(h.logs.String(), `msg="sentry issue not resolved; resolve it by hand" town=town-a invariant=7`) ||
		!strings.Contains(h.logs.String(), "Sentry did not find its event "+EventID(transition("town-a", dedupe.Opened, 1))+` in organization \"tickwatch-org\" within 30m0s`) {
		t.Errorf("no log line for the given-up resolve: %s", h.logs.String())
	}
	if evs := h.srv.Events(); len(evs) != 1 {
		t.Errorf("%d events, want only the opened one", len(evs))
	}
}

// TestAPIFailuresPauseTheAPIOnly: 429, 5xx and dropped connections on the
// web API pause its calls as they pause events, while events go on.
func TestAPIFailuresPauseTheAPIOnly(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script []sentrytest.Reply
		waits  []time.Duration
		lookup APIStats
	}{
		{"429 with Retry-After", []sentrytest.Reply{{Status: 429, Header: http.Header{"Retry-After": {"30"}}}},
			[]time.Duration{30 * time.Second}, APIStats{Success: 1, RateLimited: 1}},
		{"429 with X-Sentry-Rate-Limit-Reset", []sentrytest.Reply{{Status: 429, Header: http.Header{"X-Sentry-Rate-Limit-Reset": {strconv.FormatInt(t0.Add(7*time.Second).Unix(), 10)}}}},
			[]time.Duration{7 * time.Second}, APIStats{Success: 1, RateLimited: 1}},
		{"429 without headers", []sentrytest.Reply{{Status: 429}},
			[]time.Duration{DefaultRateLimitPause}, APIStats{Success: 1, RateLimited: 1}},
		{"503, then 502", []sentrytest.Reply{{Status: 503}, {Status: 502}},
			[]time.Duration{time.Second, 2 * time.Second}, APIStats{Success: 1, Failed: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newResolvingHarness(t, allScopes, byTown)
			h.srv.APIScript(tc.script...)
			h.enqueue([]dedupe.Transition{transition("town-a", dedupe.Opened, 1), transition("town-a", dedupe.Resolved, 2)})
			if w := h.n.SendDue(context.Background()); w != tc.waits[0] {
				t.Fatalf("wait %s after the lookup's first answer, want %s", w, tc.waits[0])
			}
			// An event behind the paused resolve still goes out.
			h.enqueue([]dedupe.Transition{transition("town-b", dedupe.Opened, 1)})
			if waits := h.drain(); !reflect.DeepEqual(waits, tc.waits) {
				t.Errorf("waits %v, want %v", waits, tc.waits)
			}
			if evs := h.srv.Events(); len(evs) != 2 || evs[1].Tags["town"] != "town-b" || !evs[1].SentAt.Equal(t0) {
				t.Errorf("town-b's event did not go out at once: %v", evs)
			}
			if got := h.n.Stats(); got.Lookup != tc.lookup || got.Resolve != (APIStats{Success: 1}) || got.Sent != 2 {
				t.Errorf("stats %+v", got)
			}
		})
	}
	// A dropped connection is seen on the resolve (a PUT is not sent again
	// by net/http on its own).
	h := newResolvingHarness(t, allScopes, nil)
	h.srv.APIScript(sentrytest.Pass, sentrytest.Down)
	h.enqueue([]dedupe.Transition{transition("town-a", dedupe.Opened, 1), transition("town-a", dedupe.Resolved, 2)})
	if waits := h.drain(); !reflect.DeepEqual(waits, []time.Duration{time.Second}) {
		t.Errorf("waits %v after a dropped resolve, want [1s]", waits)
	}
	if got := h.n.Stats().Resolve; got != (APIStats{Success: 1, Failed: 1}) {
		t.Errorf("resolve stats %+v", got)
	}
}

// TestTokenWithoutScope: a token that may look issues up but not update
// them. The sidecar says so once, with what to fix, keeps sending events,
// and resolves the issue once the token has its scope.
func TestTokenWithoutScope(t *testing.T) {
	h := newResolvingHarness(t, []string{"org:read"}, byTown)
	h.enqueue([]dedupe.Transition{transition("town-a", dedupe.Opened, 1), transition("town-a", dedupe.Resolved, 2)})
	for i := range 6 { // a few retries, and more events meanwhile
		h.enqueue([]dedupe.Transition{transition("town-b", dedupe.Opened, uint64(2*i+1))})
		w := h.n.SendDue(context.Background())
		if w <= 0 {
			t.Fatalf("round %d: wait %s with the resolve pending", i, w)
		}
		h.clock.Add(w)
	}
	if n := len(h.srv.Events()); n != 7 {
		t.Errorf("%d events while the token is refused, want all 7", n)
	}
	logs := h.logs.String()
	if n := strings.Count(logs, "sentry API refused the auth token"); n != 1 {
		t.Errorf("refusal logged %d times, want once:\n%s", n, logs)
	}
	for _, want := range []string{"level=ERROR", "call=resolve status=403", `detail="You do not have permission to perform this action."`, "the resolve event:write"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if s := h.n.Stats(); s.Resolve.Failed < 3 || s.Resolve.Success != 0 || s.Pending != 1 {
		t.Errorf("stats %+v: want the resolve kept and retried", s)
	}
	// The token gets its scope: the next retry resolves.
	h.srv.AddToken(token, allScopes...)
	h.drain()
	if is := h.srv.Issues(); is[0].Status != "resolved" {
		t.Errorf("issue %+v not resolved after the scope was granted", is[0])
	}
	if !strings.Contains(h.logs.String(), "sentry API accepts the auth token again") {
		t.Errorf("recovery not logged")
	}
}

func TestUnknownTokenIsAnAuthProblem(t *testing.T) {
	h := newResolvingHarness(t, allScopes, nil)
	h.srv.AddToken(token) // the real token is now scopeless, and another one is presented:
	h.cfg.AuthTokenFile = writeToken(t, "sntrys_revoked")
	if err := h.n.Update(h.cfg, 3); err != nil {
		t.Fatal(err)
	}
	h.enqueue([]dedupe.Transition{transition("town-a", dedupe.Opened, 1), transition("town-a", dedupe.Resolved, 2)})
	h.n.SendDue(context.Background())
	h.n.SendDue(context.Background())
	if got := calls(h.srv); len(got) != 1 || !strings.HasSuffix(got[0], " 401") {
		t.Fatalf("calls %q, want one 401", got)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "is not valid (revoked, expired, or for another Sentry)") || strings.Contains(logs, "sntrys_revoked") {
		t.Errorf("log: %s", logs)
	}
}

// TestOtherViolationsHoldTheIssueOpen: with group_by [invariant], town-a and
// town-b share an issue. It is resolved only when the last of them clears.
func TestOtherViolationsHoldTheIssueOpen(t *testing.T) {
	var tr *dedupe.Tracker
	h := newResolvingHarness(t, allScopes, nil)
	tr = dedupe.NewTracker(dedupe.Options{OpenAfter: 1, ResolveAfter: 1}, h.clock.Now)
	if err := h.n.Close(); err != nil {
		t.Fatal(err)
	}
	h.open(WithOpenViolations(tr.AllOpenViolations))
	observe := func(town string, vs ...gastown.Violation) {
		t.Helper()
		h.enqueue(tr.Observe(town, true, vs))
		h.drain()
	}
	observe("town-a", noHook)
	observe("town-b", noHook)
	observe("town-a")
	if got := calls(h.srv); len(got) != 0 {
		t.Fatalf("town-b still holds the issue open, yet: %q", got)
	}
	observe("town-b")
	if got := calls(h.srv); len(got) != 2 || h.srv.Issues()[0].Status != "resolved" {
		t.Errorf("after the last violation cleared: calls %q, issue %+v", got, h.srv.Issues()[0])
	}
	if evs := h.srv.Events(); len(evs) != 2 {
		t.Errorf("%d events, want the two opened", len(evs))
	}
}

// TestReopenedBeforeTheResolve: the violation comes back while its resolve
// waits for Sentry to process the event. The new event goes out and the
// stale resolve is dropped: the issue stays open, as the violation is.
func TestReopenedBeforeTheResolve(t *testing.T) {
	h := newResolvingHarness(t, allScopes, nil)
	h.srv.SetProcessingLag(2)
	h.enqueue([]dedupe.Transition{transition("town-a", dedupe.Opened, 1), transition("town-a", dedupe.Resolved, 2)})
	h.n.SendDue(context.Background())
	h.enqueue([]dedupe.Transition{transition("town-a", dedupe.Opened, 3)})
	h.drain()
	if got := calls(h.srv); len(got) != 1 {
		t.Errorf("calls %q, want the one lookup answered 404", got)
	}
	is := h.srv.Issues()[0]
	if is.Status != "unresolved" || len(is.Events) != 2 {
		t.Errorf("issue %+v, want open with both events", is)
	}
	if s := h.n.Stats(); s.Pending != 0 || s.Unresolved != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestGroupIDKeptAcrossRestarts: a restart with an empty outbox keeps the
// issue's group id (no second lookup) and the order of its events (the
// next resolve is not taken for an old one).
func TestGroupIDKeptAcrossRestarts(t *testing.T) {
	h := newResolvingHarness(t, allScopes, nil)
	for seq := uint64(1); seq <= 6; seq++ {
		kind := dedupe.Opened
		if seq%2 == 0 {
			kind = dedupe.Resolved
		}
		h.enqueue([]dedupe.Transition{transition("town-a", kind, seq)})
		h.drain()
		if err := h.n.Close(); err != nil {
			t.Fatal(err)
		}
		h.open()
	}
	got := calls(h.srv)
	if len(got) != 4 || !strings.HasPrefix(got[0], "GET ") {
		t.Fatalf("calls %q, want one lookup and three resolves", got)
	}
	if is := h.srv.Issues()[0]; is.Resolves != 3 || is.Status != "resolved" {
		t.Errorf("issue %+v", is)
	}
}

// TestTokenRemovedOnReload: resolves still pending when the token goes are
// sent as info events, as without a token.
func TestTokenRemovedOnReload(t *testing.T) {
	h := newResolvingHarness(t, allScopes, nil)
	h.srv.APIScript(sentrytest.Reply{Status: 503})
	h.enqueue([]dedupe.Transition{transition("town-a", dedupe.Opened, 1), transition("town-a", dedupe.Resolved, 2)})
	h.n.SendDue(context.Background())
	cfg := h.cfg
	cfg.AuthTokenFile, cfg.Organization = "", ""
	if err := h.n.Update(cfg, 3); err != nil {
		t.Fatal(err)
	}
	h.drain()
	var got []string
	for _, e := range h.srv.Events() {
		got = append(got, e.Level+" "+e.Tags["transition"])
	}
	if want := []string{"error opened", "info resolved"}; !reflect.DeepEqual(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

func TestBadTokenFile(t *testing.T) {
	srv := sentrytest.NewServer()
	defer srv.Close()
	dir := t.TempDir()
	for _, tc := range []struct{ content, want string }{
		{"", "sentry.auth_token_file: " + dir + "/tok is empty"},
		{"two words", "sentry.auth_token_file: " + dir + "/tok holds more than one word; write the token alone"},
	} {
		cfg := sentryCfg(srv.DSN())
		cfg.AuthTokenFile, cfg.Organization = dir+"/tok", "org"
		if err := os.WriteFile(cfg.AuthTokenFile, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := NewNotifier(cfg, 0, t.TempDir(), time.Now, nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("token file %q: error %v, want %q", tc.content, err, tc.want)
		}
	}
}

func TestAPIBase(t *testing.T) {
	for _, tc := range []struct{ apiURL, dsn, want string }{
		{"", "https://key@sentry.example.com/42", "https://sentry.example.com"},
		{"", "http://key@sentry.example.com:9000/sentry/42", "http://sentry.example.com:9000/sentry"},
		{"", "https://key@o123.ingest.sentry.io/42", "https://sentry.io"},
		{"", "https://key@o123.ingest.us.sentry.io/42", "https://us.sentry.io"},
		{"https://acme.sentry.io/", "https://key@o123.ingest.de.sentry.io/42", "https://acme.sentry.io"},
	} {
		dsn, err := sentry.NewDsn(tc.dsn)
		if err != nil {
			t.Fatal(err)
		}
		if got := apiBase(tc.apiURL, dsn); got != tc.want {
			t.Errorf("apiBase(%q, %q) = %q, want %q", tc.apiURL, tc.dsn, got, tc.want)
		}
	}
}

// TestResolveWithoutAKnownEvent: the outbox knows no accepted event of the
// issue. An outbox from before issues were kept: the violation's opened
// event is looked up. An opened event Sentry rejected: there is no issue to
// resolve, and the resolve gives up at once.
func TestResolveWithoutAKnownEvent(t *testing.T) {
	t.Run("opened before issues were kept", func(t *testing.T) {
		h := newResolvingHarness(t, allScopes, nil)
		h.enqueue([]dedupe.Transition{transition("town-a", dedupe.Opened, 1)})
		h.drain()
		if err := h.n.box.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketIssues) }); err != nil {
			t.Fatal(err)
		}
		if err := h.n.Close(); err != nil {
			t.Fatal(err)
		}
		h.open()
		h.enqueue([]dedupe.Transition{transition("town-a", dedupe.Resolved, 2)})
		h.drain()
		if got := calls(h.srv); len(got) != 2 || !strings.Contains(got[0], EventID(transition("town-a", dedupe.Opened, 1))) {
			t.Errorf("calls %q, want the opened event looked up, then the resolve", got)
		}
	})
	t.Run("opened event rejected", func(t *testing.T) {
		h := newResolvingHarness(t, allScopes, nil)
		h.srv.Script(sentrytest.Reply{Status: 400})
		h.enqueue([]dedupe.Transition{transition("town-a", dedupe.Opened, 1), transition("town-a", dedupe.Resolved, 2)})
		h.drain()
		if got := calls(h.srv); len(got) != 0 {
			t.Errorf("calls %q for an issue that does not exist", got)
		}
		if s := h.n.Stats(); s.Unresolved != 1 || s.Dropped != 1 {
			t.Errorf("stats %+v, want the rejected event dropped and the resolve given up", s)
		}
	})
}

// TestResolveOfAViolationTakenOver: a replica that took a violation over
// from another never sent an event of it, so it looks nothing up (a lookup
// would only 404 for half an hour): the resolve is given up and counted.
func TestResolveOfAViolationTakenOver(t *testing.T) {
	h := newResolvingHarness(t, allScopes, nil)
	tr := transition("town-a", dedupe.Resolved, 2)
	tr.Adopted = true
	h.enqueue([]dedupe.Transition{tr})
	h.drain()
	if got := calls(h.srv); len(got) != 0 {
		t.Errorf("calls %q, want none", got)
	}
	if s := h.n.Stats(); s.Unresolved != 1 || s.Pending != 0 {
		t.Errorf("stats %+v, want the resolve given up", s)
	}
}

// TestAPIRejectionGivesUp: a 4xx other than 401, 403, 404 and 429 will not
// get better by retrying: the resolve is given up, counted and logged.
func TestAPIRejectionGivesUp(t *testing.T) {
	h := newResolvingHarness(t, allScopes, nil)
	h.srv.APIScript(sentrytest.Reply{Status: 400})
	h.enqueue([]dedupe.Transition{transition("town-a", dedupe.Opened, 1), transition("town-a", dedupe.Resolved, 2)})
	if waits := h.drain(); waits != nil {
		t.Errorf("waits %v, want none", waits)
	}
	if s := h.n.Stats(); s.Unresolved != 1 || s.Lookup != (APIStats{Failed: 1}) || s.Resolve != (APIStats{}) {
		t.Errorf("stats %+v", s)
	}
	if !strings.Contains(h.logs.String(), `why="the lookup call failed: status 400 Bad Request"`) {
		t.Errorf("log: %s", h.logs.String())
	}
}

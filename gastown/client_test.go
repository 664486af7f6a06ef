package gastown

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"
)

func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gastown serves the sample answers, keyed by request path.
func gastown(t *testing.T, routes map[string]func(w http.ResponseWriter, r *http.Request)) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := routes[r.Method+" "+r.URL.EscapedPath()]; ok {
			h(w, r)
			return
		}
		w.WriteHeader(404)
		w.Write(sample(t, "error-404.json"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func body(b []byte, code int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write(b)
	}
}

func client(t *testing.T, url string, mod func(*ClientOptions)) *Client {
	t.Helper()
	o := ClientOptions{URL: url, HTTPClient: commoncfg.DefaultHTTPClientConfig, Timeout: time.Second, MaxBodyBytes: 1 << 20}
	if mod != nil {
		mod(&o)
	}
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDryRunDecodesSamples(t *testing.T) {
	srv := gastown(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /debug/towns/busy/reconcile-dry-run":  body(sample(t, "dry-run.json"), 200),
		"POST /debug/towns/bad/reconcile-dry-run":   body(sample(t, "dry-run-with-violations.json"), 200),
		"POST /debug/towns/quiet/reconcile-dry-run": body(sample(t, "dry-run-idle.json"), 200),
	})
	c := client(t, srv.URL, nil)
	ctx := context.Background()

	d, err := c.DryRun(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if d.Metrics.ActionsEmitted != 9 || d.Metrics.EventsDrained != 3 || d.Metrics.ActionsByType.Get("dispatch_agent") != 2 || len(d.Actions) != 9 {
		t.Errorf("busy dry run decoded as %+v", d.Metrics)
	}
	field := func(a Action, name string) string {
		var m map[string]json.RawMessage
		json.Unmarshal(a.Raw, &m)
		return string(m[name])
	}
	if d.Actions[4].Type != "dispatch_agent" || field(d.Actions[4], "agent_id") != `""` {
		t.Errorf("empty agent_id quirk lost: %+v", d.Actions[4])
	}
	if field(d.Actions[0], "from") != `"working"` || d.Violations != nil {
		t.Errorf("action fields or violations wrong: %+v %v", d.Actions[0], d.Violations)
	}

	d, err = c.DryRun(ctx, "bad")
	if err != nil {
		t.Fatal(err)
	}
	want := []Violation{
		{Invariant: 7, Message: "Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook"},
		{Invariant: 3, Message: "Rig rig-main has 2 in_progress MR beads (should be at most 1)"},
	}
	if len(d.Violations) != 2 || d.Violations[0] != want[0] || d.Violations[1] != want[1] {
		t.Errorf("violations = %+v", d.Violations)
	}

	d, err = c.DryRun(ctx, "quiet")
	if err != nil || d.Metrics.ActionsEmitted != 0 || len(d.Metrics.ActionsByType) != 0 || len(d.Actions) != 0 {
		t.Errorf("idle dry run = %+v, %v", d, err)
	}
}

func TestStatusDecodesSamples(t *testing.T) {
	srv := gastown(t, map[string]func(http.ResponseWriter, *http.Request){
		"GET /debug/towns/busy/status":      body(sample(t, "status.json"), 200),
		"GET /debug/towns/restarted/status": body(sample(t, "status-after-restart.json"), 200),
	})
	c := client(t, srv.URL, nil)
	s, err := c.Status(context.Background(), "busy")
	if err != nil {
		t.Fatal(err)
	}
	r := s.AlarmStatus.Reconciler
	if r == nil || r.WallClockMs != 41 || r.SideEffectsAttempted != 4 || r.PendingEventCount != 1 || r.ActionsByType.Get("poll_pr") != 2 {
		t.Fatalf("reconciler = %+v", r)
	}
	if s.AlarmStatus.Alarm.IntervalMs != 5000 || s.AlarmStatus.Alarm.Idle() || s.AlarmStatus.Alarm.NextFireAt.UnixMilli() != time.Date(2026, 11, 28, 9, 0, 5, 0, time.UTC).UnixMilli() {
		t.Errorf("alarm = %+v", s.AlarmStatus.Alarm)
	}
	if s.AgentMeta[0].CurrentHookBeadID != nil || *s.AgentMeta[1].CurrentHookBeadID != "b-issue-0052" || s.AlarmStatus.Agents.Working != 2 || s.AlarmStatus.Beads.InReview != 1 {
		t.Errorf("rows = %+v", s.AgentMeta)
	}
	if got := s.AgentMeta[0].LastActivityAt; got.Nanosecond() != 120_000_000 {
		t.Errorf("millisecond timestamp parsed as %v", got)
	}

	s, err = c.Status(context.Background(), "restarted")
	if err != nil || s.AlarmStatus.Reconciler != nil || s.AlarmStatus.Alarm.NextFireAt != nil || !s.AlarmStatus.Alarm.Idle() {
		t.Errorf("after restart = %+v, %v", s.AlarmStatus, err)
	}
}

func TestErrorsNameTownCallAndStatus(t *testing.T) {
	srv := gastown(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /debug/towns/t500/reconcile-dry-run":  body(sample(t, "error-500.json"), 500),
		"POST /debug/towns/html/reconcile-dry-run":  body([]byte("<html>bad gateway</html>"), 502),
		"POST /debug/towns/trunc/reconcile-dry-run": body([]byte(`{"actions":[`), 200),
		"POST /debug/towns/big/reconcile-dry-run":   body([]byte(`{"actions":[],"pad":"`+strings.Repeat("x", 2048)+`"}`), 200),
		"POST /debug/towns/t1/replay-events":        body(sample(t, "replay-400-order.json"), 400),
	})
	c := client(t, srv.URL, func(o *ClientOptions) { o.MaxBodyBytes = 1024 })
	ctx := context.Background()
	for _, tc := range []struct {
		town, want string
	}{
		{"t500", `dry run of town "t500": HTTP 500: Internal server error (on a real Gastown worker this call always fails so: it opens a SQL SAVEPOINT, which the Workers runtime refuses; if the town's status call fails too, the worker itself is failing; see the runbook, ReconcilerDryRunFailing)`},
		{"html", `dry run of town "html": HTTP 502: <html>bad gateway</html>`},
		{"trunc", `dry run of town "trunc": malformed JSON: unexpected end of JSON input`},
		{"big", `dry run of town "big": body larger than 1024 bytes`},
		{"nope", `dry run of town "nope": HTTP 404: Not found`},
	} {
		_, err := c.DryRun(ctx, tc.town)
		if err == nil || err.Error() != tc.want {
			t.Errorf("town %s: err = %v, want %s", tc.town, err, tc.want)
		}
	}
	_, err := c.Replay(ctx, "t1", ReplayRequest{From: "b", To: "a"})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Message != `"from" must be before or equal to "to"` {
		t.Errorf("replay error = %#v", err)
	}
}

// TestLargestBodyLimit: the largest limit a config can hold means no
// limit, not none (limit+1, read to detect a larger body, must not wrap).
func TestLargestBodyLimit(t *testing.T) {
	srv := gastown(t, map[string]func(http.ResponseWriter, *http.Request){
		"POST /debug/towns/t/reconcile-dry-run": body(sample(t, "dry-run.json"), 200),
	})
	c := client(t, srv.URL, func(o *ClientOptions) { o.MaxBodyBytes = math.MaxInt64 })
	if d, err := c.DryRun(context.Background(), "t"); err != nil || d.Metrics.ActionsEmitted != 9 {
		t.Fatalf("dry run with the largest limit: %+v, %v", d, err)
	}
}

func TestTownIDsArePathEscaped(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.EscapedPath()
		w.Write(sample(t, "dry-run-idle.json"))
	}))
	defer srv.Close()
	c := client(t, srv.URL+"/", nil)
	for town, want := range map[string]string{
		"a/b c?d": "/debug/towns/a%2Fb%20c%3Fd/reconcile-dry-run",
		"..":      "/debug/towns/%2E%2E/reconcile-dry-run",
		".":       "/debug/towns/%2E/reconcile-dry-run",
		"town.1":  "/debug/towns/town.1/reconcile-dry-run",
	} {
		if _, err := c.DryRun(context.Background(), town); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("town %q: path = %s, want %s", town, got, want)
		}
	}
}

func TestBearerTokenFromHTTPClientConfig(t *testing.T) {
	var auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		w.Write(sample(t, "dry-run-idle.json"))
	}))
	defer srv.Close()
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte("s3cret\n"), 0o600)
	c := client(t, srv.URL, func(o *ClientOptions) {
		o.HTTPClient.Authorization = &commoncfg.Authorization{Type: "Bearer", CredentialsFile: tok}
	})
	if _, err := c.DryRun(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	if auth != "Bearer s3cret" {
		t.Errorf("Authorization = %q", auth)
	}
}

func TestPollKeepsEachCallsOutcome(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := gastown(t, map[string]func(http.ResponseWriter, *http.Request){
		"GET /debug/towns/hang/status": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		},
		"POST /debug/towns/hang/reconcile-dry-run": body(sample(t, "dry-run.json"), 200),
		// The real worker: the dry run always answers 500, the status works.
		"POST /debug/towns/real/reconcile-dry-run":   body(sample(t, "error-500.json"), 500),
		"GET /debug/towns/real/status":               body(sample(t, "status.json"), 200),
		"POST /debug/towns/nostat/reconcile-dry-run": body(sample(t, "dry-run.json"), 200),
		"GET /debug/towns/nostat/status":             body(sample(t, "error-500.json"), 500),
	})
	// Only the hanging town needs a short timeout; the others get a long
	// one, so that a loaded machine cannot make them time out.
	short := client(t, srv.URL, func(o *ClientOptions) { o.Timeout = 50 * time.Millisecond })
	c := client(t, srv.URL, func(o *ClientOptions) { o.Timeout = 30 * time.Second })
	both := PollOptions{Status: true, DryRun: true}

	o := short.Poll(context.Background(), "hang", both, time.Now)
	if o.OK() || !o.TimedOut() || o.StatusCall.Code != 0 || o.Status != nil || o.Violations != nil {
		t.Errorf("hanging status: %+v", o)
	}
	if o.DryRunCall.Done && o.DryRunCall.OK() {
		t.Errorf("the dry run cannot succeed after the poll's timeout ran out: %+v", o.DryRunCall)
	}

	o = c.Poll(context.Background(), "real", both, time.Now)
	if !o.OK() || o.Err() != nil || o.Status == nil || o.Status.AlarmStatus.Reconciler.WallClockMs != 41 {
		t.Errorf("a failed dry run must not discard the status: %+v", o)
	}
	if o.DryRunCall.OK() || o.DryRunCall.Code != 500 || o.DryRun != nil || !strings.Contains(o.DryRunCall.Err.Error(), "SAVEPOINT") {
		t.Errorf("dry run outcome: %+v", o.DryRunCall)
	}
	if o.Source != DerivedFromStatus || len(o.Violations) == 0 {
		t.Errorf("violations must come from the status rows: %v %+v", o.Source, o.Violations)
	}

	o = c.Poll(context.Background(), "nostat", both, time.Now)
	if o.OK() || o.StatusCall.Code != 500 || !o.DryRunCall.OK() || o.DryRun.Metrics.EventsDrained != 3 || o.Violations != nil {
		t.Errorf("a failed status with a good dry run: up follows the status, the dry run is kept, violations unknown: %+v", o)
	}
	if !strings.Contains(o.Err().Error(), `status of town "nostat": HTTP 500`) {
		t.Errorf("err = %v", o.Err())
	}

	o = c.Poll(context.Background(), "nostat", PollOptions{DryRun: true}, time.Now)
	if !o.OK() || o.StatusCall.Done || o.Violations != nil {
		t.Errorf("status off: up follows the dry run, which names no violations: %+v", o)
	}
}

// TestPollsShareADeadline: polls that start within a hundredth of the
// timeout of each other, under one parent, share one deadline; a later
// poll, or one under another parent, gets its own, a whole timeout away.
func TestPollsShareADeadline(t *testing.T) {
	c := client(t, "http://gastown.test", func(o *ClientOptions) { o.Timeout = 4 * time.Second })
	tick, endTick := context.WithCancel(context.Background())
	defer endTick()
	t0 := time.Now()
	first := c.pollContext(tick, t0)
	if d, ok := first.Deadline(); !ok || !d.Equal(t0.Add(4*time.Second)) {
		t.Fatalf("deadline %v, %v; want %v", d, ok, t0.Add(4*time.Second))
	}
	if c.pollContext(tick, t0.Add(39*time.Millisecond)) != first {
		t.Error("a poll 39 ms later must share the deadline")
	}
	later := c.pollContext(tick, t0.Add(41*time.Millisecond))
	if d, _ := later.Deadline(); later == first || !d.Equal(t0.Add(4041*time.Millisecond)) {
		t.Errorf("a poll 41 ms later: deadline %v, want its own", d)
	}
	other, endOther := context.WithCancel(context.Background())
	defer endOther()
	if c.pollContext(other, t0.Add(41*time.Millisecond)) == later {
		t.Error("a poll under another parent must not share its deadline")
	}
	endTick()
	if first.Err() == nil || later.Err() == nil {
		t.Error("the shared deadlines must end with their parent")
	}
}

func TestAuthFailureSaysSo(t *testing.T) {
	srv := gastown(t, map[string]func(http.ResponseWriter, *http.Request){
		"GET /debug/towns/t/status": body([]byte(`{"success":false,"error":"Unauthorized"}`), 401),
	})
	o := client(t, srv.URL, nil).Poll(context.Background(), "t", PollOptions{Status: true}, time.Now)
	var apiErr *APIError
	if !errors.As(o.Err(), &apiErr) || apiErr.StatusCode != 401 || !strings.Contains(o.Err().Error(), "an auth problem") ||
		!strings.Contains(o.Err().Error(), "CF-Access-Client-Secret") {
		t.Errorf("401: %v", o.Err())
	}
}

func TestAccessHeadersFromHTTPClientConfig(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		w.Write(sample(t, "status.json"))
	}))
	defer srv.Close()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("s3cret-value"), 0o600)
	var cfg commoncfg.HTTPClientConfig
	yml := "http_headers:\n  CF-Access-Client-Id: {values: [id.access]}\n  CF-Access-Client-Secret: {files: [" + secret + "]}\n"
	if err := yaml.Unmarshal([]byte(yml), &cfg); err != nil {
		t.Fatal(err)
	}
	c := client(t, srv.URL, func(o *ClientOptions) { o.HTTPClient = cfg })
	if o := c.Poll(context.Background(), "t", PollOptions{Status: true}, time.Now); !o.OK() {
		t.Fatal(o.Err())
	}
	h := <-got
	if h.Get("CF-Access-Client-Id") != "id.access" || h.Get("CF-Access-Client-Secret") != "s3cret-value" {
		t.Errorf("headers sent: %v", h)
	}
}

func TestNewClientRejectsURLWithoutScheme(t *testing.T) {
	for raw, want := range map[string]string{
		"127.0.0.1:8788":          `target url "127.0.0.1:8788": want scheme://host[:port]`,
		"//user:s3cret@host/x":    `target url "//user:xxxxx@host/x": want scheme://host[:port]`,
		"http://user:s3cret@%zz/": `target url "(with user info)": want scheme://host[:port]`,
	} {
		_, err := NewClient(ClientOptions{URL: raw})
		if err == nil || err.Error() != want {
			t.Errorf("%s: err = %v, want %s", raw, err, want)
		}
	}
}

func TestReplayBoundsInGastownsForm(t *testing.T) {
	for in, want := range map[string]string{
		"2026-12-03T01:24:52.762Z":       "2026-12-03T01:24:52.762Z",
		"2026-12-03T01:24:52Z":           "2026-12-03T01:24:52.000Z",
		"2026-12-03T02:24:52.5+01:00":    "2026-12-03T01:24:52.500Z",
		"2026-12-02T20:24:52-05:00":      "2026-12-03T01:24:52.000Z",
		"2026-12-03T01:24:52.123456789Z": "2026-12-03T01:24:52.123Z",
		"2026-12-03T01:24:52":            "2026-12-03T01:24:52.000Z",
		"2026-12-03T01:24":               "2026-12-03T01:24:00.000Z",
		"2026-12-03T03:24+02:00":         "2026-12-03T01:24:00.000Z",
		"2026-12-03":                     "2026-12-03T00:00:00.000Z",
		"2026-12-03T23:30:00.000-01:00":  "2026-12-04T00:30:00.000Z",
	} {
		got, err := ParseReplayBound(in)
		if err != nil || FormatReplayBound(got) != want {
			t.Errorf("%s: %q, %v; want %s", in, FormatReplayBound(got), err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-01", "03/12/2026", "2026-12-03 01:24:52"} {
		if _, err := ParseReplayBound(bad); err == nil || !strings.Contains(err.Error(), "ISO 8601") {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
}

// A call's URL is made from the parsed base, not from its text: it must
// send what the text would.
func TestTownRequestURLIsItsTextParsed(t *testing.T) {
	for _, base := range []string{"http://h:1", "http://h:1/", "https://u:p@h/prefix/", "http://h/a%2Fb", "http://h/x%20y/z"} {
		c := client(t, base, nil)
		for _, town := range []string{"town-1", "a/b c?d", "..", ".", "ü", "%41", "t#1"} {
			for _, call := range []string{"status", "reconcile-dry-run"} {
				text := c.townURL(town, call)
				want, err := url.Parse(text)
				if err != nil {
					t.Fatal(err)
				}
				got := c.townRequestURL(town, call)
				if got == nil {
					t.Fatalf("base %s: no parsed URL", base)
				}
				if got.String() != want.String() || got.RequestURI() != want.RequestURI() || got.Host != want.Host || got.User.String() != want.User.String() {
					t.Errorf("base %s, town %q: %s (sent as %s), want %s (sent as %s)", base, town, got, got.RequestURI(), want, want.RequestURI())
				}
			}
		}
	}
}

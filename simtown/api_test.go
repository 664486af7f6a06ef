package simtown

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

func TestUnknownRoutesAnswerGastown404(t *testing.T) {
	f, _ := newFleet(t, Options{Towns: 2})
	want := readSample(t, "error-404.json")
	tests := []struct{ method, path string }{
		{http.MethodPost, "/"},
		{http.MethodGet, "/metrics"},
		{http.MethodGet, "/debug"},
		{http.MethodGet, "/debug/towns/town-01"},
		{http.MethodGet, "/debug/towns/town-01/nope"},
		{http.MethodGet, "/debug/towns/town-01/status/extra"},
		{http.MethodGet, "/debug/towns/town-01/status/"},
		{http.MethodGet, "/debug/towns//status"}, // an empty id
		{http.MethodGet, "/debug/towns/town-01//status"},
		{http.MethodGet, "//debug/towns/town-01/status"},
		{http.MethodGet, "/debug/Towns/town-01/status"},
		{http.MethodGet, "/debug/towns/town-01/reconcile-dry-run"}, // wrong method
		{http.MethodPost, "/debug/towns/town-01/status"},
		{http.MethodOptions, "/debug/towns/town-01/status"},
		{http.MethodPut, "/debug/towns/town-99/status"},
		{http.MethodGet, "/debug/towns/town-99/replay-events"},
		{http.MethodGet, "/debug/towns/town-99/fault"}, // knobs are for the fleet's towns
		{http.MethodPost, "/debug/towns"},
		{http.MethodPatch, "/debug/towns/town-01/fault"},
		{http.MethodGet, "/debug/fault"},
	}
	for _, tt := range tests {
		code, body := call(t, f.Handler(), tt.method, tt.path, "")
		if code != http.StatusNotFound || !bytes.Equal(body, want) {
			t.Errorf("%s %s: %d %s, want 404 %s", tt.method, tt.path, code, body, want)
		}
	}
	if got := f.TownIDs(); !reflect.DeepEqual(got, []string{"town-01", "town-02"}) {
		t.Errorf("asking about unknown towns changed the fleet: %v", got)
	}
}

func TestHealthRoutes(t *testing.T) {
	f, _ := newFleet(t, Options{Access: Access{ClientID: "id", ClientSecret: "s"}}) // outside /debug/
	for path, want := range map[string]string{"/": `{"service":"gastown","status":"ok"}`, "/health": `{"status":"ok"}`} {
		if code, body := call(t, f.Handler(), http.MethodGet, path, ""); code != 200 || string(body) != want {
			t.Errorf("GET %s: %d %s, want 200 %s", path, code, body, want)
		}
	}
}

func TestPanicAnswersGastown500(t *testing.T) {
	f, _ := newFleet(t, Options{})
	h := recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") }), f.opts.Logger)
	code, body := call(t, h, http.MethodGet, "/debug/towns/town-01/status", "")
	if want := readSample(t, "error-500.json"); code != http.StatusInternalServerError || !bytes.Equal(body, want) {
		t.Errorf("got %d %s, want 500 %s", code, body, want)
	}
	// A town whose database is broken answers the same envelope, not a crash.
	if err := f.byID["town-01"].st.exec(`DROP TABLE beads`); err != nil {
		t.Fatal(err)
	}
	code, body = call(t, f.Handler(), http.MethodPost, "/debug/towns/town-01/reconcile-dry-run", "")
	if want := readSample(t, "error-500.json"); code != http.StatusInternalServerError || !bytes.Equal(body, want) {
		t.Errorf("closed database: got %d %s, want 500 %s", code, body, want)
	}
}

func TestTownListSortedAndPadded(t *testing.T) {
	tests := []struct {
		towns int
		first string
		last  string
	}{
		{1, "town-01", "town-01"},
		{12, "town-01", "town-12"},
		{100, "town-001", "town-100"},
	}
	for _, tt := range tests {
		f, _ := newFleet(t, Options{Towns: tt.towns})
		code, body := call(t, f.Handler(), http.MethodGet, "/debug/towns", "")
		l := decode[gastown.TownList](t, body)
		if code != http.StatusOK || len(l.Towns) != tt.towns || l.Towns[0] != tt.first || l.Towns[tt.towns-1] != tt.last {
			t.Errorf("%d towns: %d %v", tt.towns, code, l.Towns)
		}
	}
}

var isoMillisRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// Every timestamp the API emits has milliseconds and Z; the answers decode
// into the gastown package's wire types.
func TestStatusShapeAndRestart(t *testing.T) {
	dir := t.TempDir()
	f, c := newFleet(t, Options{Dir: dir, Seed: 4})
	code, body := call(t, f.Handler(), http.MethodGet, "/debug/towns/town-01/status", "")
	if code != http.StatusOK || !bytes.Contains(body, []byte(`"reconciler":null`)) {
		t.Fatalf("before the first tick: %d %s", code, body)
	}
	run(t, f, c, 3*time.Minute)
	code, body = call(t, f.Handler(), http.MethodGet, "/debug/towns/town-01/status", "")
	if code != http.StatusOK {
		t.Fatalf("status: %d %s", code, body)
	}
	s := decode[gastown.Status](t, body)
	r := s.AlarmStatus.Reconciler
	if r == nil || r.ActionsByType == nil || r.SideEffectsAttempted != r.SideEffectsSucceeded+r.SideEffectsFailed {
		t.Fatalf("reconciler = %+v", r)
	}
	a := s.AlarmStatus.Agents
	if a.Total != len(s.AgentMeta) || a.Working+a.Idle+a.Stalled+a.Dead != a.Total {
		t.Errorf("agent counts %+v do not add up to %d rows", a, len(s.AgentMeta))
	}
	if got := s.AlarmStatus.Alarm; got.IntervalMs != 5000 || got.IntervalLabel != "active (5s)" || got.NextFireAt == nil {
		t.Errorf("alarm = %+v", got)
	}
	if len(s.AlarmStatus.RecentEvents) != recentEventsMax {
		t.Errorf("%d recent events, want %d", len(s.AlarmStatus.RecentEvents), recentEventsMax)
	}
	kinds := map[string]bool{"created": true, "status_changed": true, "hooked": true, "unhooked": true, "review_submitted": true}
	for i, e := range s.AlarmStatus.RecentEvents {
		if !kinds[e.Type] || (i > 0 && e.Time.After(s.AlarmStatus.RecentEvents[i-1].Time)) {
			t.Errorf("recent event %d %+v: not a bead event of simtown, or not newest first", i, e)
		}
	}
	stamps := regexp.MustCompile(`"(nextFireAt|last_activity_at|updated_at|time)":"([^"]*)"`).FindAllSubmatch(body, -1)
	if len(stamps) < 10 {
		t.Fatalf("only %d timestamps in %s", len(stamps), body)
	}
	for _, m := range stamps {
		if !isoMillisRE.Match(m[2]) {
			t.Errorf("%s = %q, want ISO 8601 with milliseconds and Z", m[1], m[2])
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	// Restarted on the same files: history kept, metrics null until a tick.
	g, err := New(Options{Towns: 1, Dir: dir, Seed: 4, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	code, body = call(t, g.Handler(), http.MethodGet, "/debug/towns/town-01/status", "")
	if code != http.StatusOK {
		t.Fatalf("status after restart: %d %s", code, body)
	}
	s2 := decode[gastown.Status](t, body)
	if s2.AlarmStatus.Reconciler != nil || !reflect.DeepEqual(s2.AgentMeta, s.AgentMeta) {
		t.Errorf("after restart: reconciler %+v (want null), agents\n%+v\nwant\n%+v", s2.AlarmStatus.Reconciler, s2.AgentMeta, s.AgentMeta)
	}
	if _, err := g.runDue(c.Advance(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, body = call(t, g.Handler(), http.MethodGet, "/debug/towns/town-01/status", "")
	if decode[gastown.Status](t, body).AlarmStatus.Reconciler == nil {
		t.Error("reconciler still null after a tick")
	}
}

func TestHTTPFaultKnobs(t *testing.T) {
	f, c := newFleet(t, Options{Towns: 2})
	srv := httptest.NewServer(f.Handler())
	defer srv.Close()
	put := func(town, body string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/debug/towns/"+town+"/fault", strings.NewReader(body))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: %d", body, resp.StatusCode)
		}
	}
	dryRun := func(timeout time.Duration) (int, []byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/debug/towns/town-01/reconcile-dry-run", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.Bytes(), nil
	}

	put("town-01", `{"error_rate":1}`)
	code, body, _ := dryRun(5 * time.Second)
	if want := readSample(t, "error-500.json"); code != 500 || !bytes.Equal(body, want) {
		t.Errorf("error_rate 1: %d %s", code, body)
	}

	put("town-01", `{"malformed_body":true}`)
	code, body, _ = dryRun(5 * time.Second)
	var d gastown.DryRun
	if code != 200 || json.Unmarshal(body, &d) == nil {
		t.Errorf("malformed_body: %d %s parses", code, body)
	}

	put("town-01", `{"hang":true}`)
	if _, _, err := dryRun(50 * time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang: err = %v, want the client's deadline", err)
	}

	put("town-01", `{"latency":"40ms"}`)
	start := time.Now()
	if code, _, _ = dryRun(5 * time.Second); code != 200 || time.Since(start) < 40*time.Millisecond {
		t.Errorf("latency 40ms: %d after %s", code, time.Since(start))
	}

	// The other town is not affected by town-01's knobs.
	if code, _ := call(t, f.Handler(), http.MethodPost, "/debug/towns/town-02/reconcile-dry-run", ""); code != 200 {
		t.Errorf("town-02: %d", code)
	}

	// queue_depth keeps the queue deep across ticks; stall_alarm lets it grow.
	put("town-01", `{"queue_depth":60}`)
	for i := 0; i < 3; i++ {
		run(t, f, c, 30*time.Second)
		code, body = call(t, f.Handler(), http.MethodPost, "/debug/towns/town-01/reconcile-dry-run", "")
		if d := decode[gastown.DryRun](t, body); code != 200 || d.Metrics.EventsDrained < 60 {
			t.Errorf("queue_depth 60: eventsDrained %d", d.Metrics.EventsDrained)
		}
	}
	put("town-01", `{"stall_alarm":true}`)
	tw := f.byID["town-01"]
	p0 := pending(t, tw)
	run(t, f, c, 2*time.Minute)
	p1 := pending(t, tw)
	if p1 <= p0 {
		t.Errorf("stall_alarm: pending %d -> %d, want growth", p0, p1)
	}
	// As Gastown, whose drain fails inside a tick it still records: the
	// last tick drained nothing and counts the queue as it is, which is
	// what the alert rules read by default.
	code, body = call(t, f.Handler(), http.MethodGet, "/debug/towns/town-01/status", "")
	if st := decode[gastown.Status](t, body); code != 200 || st.AlarmStatus.Reconciler == nil ||
		st.AlarmStatus.Reconciler.EventsDrained != 0 || st.AlarmStatus.Reconciler.PendingEventCount != p1 {
		t.Errorf("stall_alarm: status %d, last tick %+v, want nothing drained and %d pending", code, st.AlarmStatus.Reconciler, p1)
	}

	code, body = call(t, f.Handler(), http.MethodGet, "/debug/towns/town-01/fault", "")
	want := `{"latency":"0s","error_rate":0,"hang":false,"malformed_body":false,"stall_alarm":true,"queue_depth":0,"break_invariant":0,"savepoint_refused":false}`
	if code != 200 || string(body) != want {
		t.Errorf("GET fault: %d %s, want %s", code, body, want)
	}
	if code, body = call(t, f.Handler(), http.MethodDelete, "/debug/towns/town-01/fault", ""); code != 200 {
		t.Errorf("DELETE: %d %s", code, body)
	}
	if fl, _ := f.Fault("town-01"); fl != (Fault{}) {
		t.Errorf("after DELETE: %+v", fl)
	}
}

func TestFaultValidation(t *testing.T) {
	f, _ := newFleet(t, Options{})
	tests := []struct{ body, want string }{
		{`{"error_rate":1.5}`, "error_rate 1.5 out of range [0, 1]"},
		{`{"break_invariant":2}`, "break_invariant 2 is not one of 3, 4, 5, 6, 7 (0 = none)"},
		{`{"queue_depth":-1}`, "queue_depth -1 out of range [0, 100000]"},
		{`{"latency":"soon"}`, `invalid fault JSON: latency: time: invalid duration "soon"`},
		{`[1]`, "invalid fault JSON: json: cannot unmarshal array into Go value of type simtown.faultJSON"},
		{`{"queue_dept":40}`, `invalid fault JSON: json: unknown field "queue_dept"`},
	}
	for _, tt := range tests {
		code, body := call(t, f.Handler(), http.MethodPut, "/debug/towns/town-01/fault", tt.body)
		if e := decode[gastown.ErrorBody](t, body); code != http.StatusBadRequest || e.Error != tt.want {
			t.Errorf("%s: %d %q, want 400 %q", tt.body, code, e.Error, tt.want)
		}
	}
	if err := f.SetFault("town-77", Fault{}); err == nil || err.Error() != `set fault of town "town-77": no such town` {
		t.Errorf("unknown town: %v", err)
	}
}

func TestFleetWideFault(t *testing.T) {
	f, _ := newFleet(t, Options{Towns: 3, DryRunViolations: true})
	if code, body := call(t, f.Handler(), http.MethodPut, "/debug/fault", `{"break_invariant":5}`); code != 200 {
		t.Fatalf("PUT /debug/fault: %d %s", code, body)
	}
	for _, id := range f.TownIDs() {
		_, body := call(t, f.Handler(), http.MethodPost, "/debug/towns/"+id+"/reconcile-dry-run", "")
		want := []gastown.Violation{viol(5, "Convoy bead b-fault-5-convoy is in_progress (should only be open or closed)")}
		if v := decode[gastown.DryRun](t, body).Violations; !reflect.DeepEqual(v, want) {
			t.Errorf("%s: %v", id, v)
		}
	}
	call(t, f.Handler(), http.MethodDelete, "/debug/fault", "")
	for _, id := range f.TownIDs() {
		if fl, _ := f.Fault(id); fl != (Fault{}) {
			t.Errorf("%s still has %+v", id, fl)
		}
	}
}

// The real worker's answers for a town id that was never created, whatever
// its shape (measured; dry run and replay with SAVEPOINT patched).
const (
	neverCreatedStatus = `{"alarmStatus":{"alarm":{"nextFireAt":null,"intervalMs":60000,"intervalLabel":"idle (60s)"},` +
		`"agents":{"working":0,"idle":0,"stalled":0,"dead":0,"total":0},"beads":{"open":0,"inProgress":0,"inReview":0,"failed":0,"triageRequests":0},` +
		`"patrol":{"guppWarnings":0,"guppEscalations":0,"stalledAgents":0,"orphanedHooks":0},"reconciler":null,"recentEvents":[]},"agentMeta":[],"beadSummary":[]}`
	neverCreatedDryRun = `{"actions":[],"metrics":{"actionsEmitted":0,"actionsByType":{},"pendingEventCount":0,"eventsDrained":0}}`
	neverCreatedReplay = `{"caveat":"` + realCaveat + `","eventsReplayed":0,"actions":[],"stateSnapshot":{"agents":[],"nonTerminalBeads":[]}}`
	gastown500         = `{"success":false,"error":"Internal server error"}`
	gastown404         = `{"success":false,"error":"Not found"}`
	replayMissingBody  = `{"error":"Missing required fields: from, to (ISO timestamps)"}`
	validWindow        = `{"from":"2026-01-01T00:00:00.000Z","to":"2027-01-01T00:00:00.000Z"}`
)

func TestNeverCreatedTownAnswersLikeGastown(t *testing.T) {
	f, _ := newFleet(t, Options{Towns: 2})
	ids := []string{"00000000-0000-4000-8000-000000000001", "town-99", "not%20a%20uuid!", "a%2Fb", "town%2F01", "%E2%9C%93"}
	calls := []struct {
		method, op, body string
		code             int
		want             string
	}{
		{http.MethodGet, "status", "", 200, neverCreatedStatus},
		{http.MethodPost, "reconcile-dry-run", "", 200, neverCreatedDryRun},
		{http.MethodPost, "replay-events", validWindow, 200, neverCreatedReplay},
		{http.MethodPost, "replay-events", "", 500, gastown500},
		{http.MethodPost, "replay-events", "{}", 400, replayMissingBody},
		{http.MethodPost, "status", "", 404, gastown404},
		{http.MethodGet, "reconcile-dry-run", "", 404, gastown404},
		{http.MethodDelete, "status", "", 404, gastown404},
	}
	for _, id := range ids {
		for _, c := range calls {
			code, body := call(t, f.Handler(), c.method, "/debug/towns/"+id+"/"+c.op, c.body)
			if code != c.code || string(body) != c.want {
				t.Errorf("%s %s of %s: %d %s\nwant %d %s", c.method, c.op, id, code, body, c.code, c.want)
			}
		}
		if code, _ := call(t, f.Handler(), http.MethodHead, "/debug/towns/"+id+"/status", ""); code != 200 {
			t.Errorf("HEAD status of %s: %d, want 200", id, code)
		}
	}

	// What the options change answers accordingly; the dry run of the real
	// code is refused like any other.
	g, _ := newFleet(t, Options{IdleInterval: IdleIntervalLater, Version: VersionLater, DryRunViolations: true})
	want := strings.Replace(neverCreatedStatus, `"intervalMs":60000,"intervalLabel":"idle (60s)"`, `"intervalMs":300000,"intervalLabel":"idle (5m)"`, 1)
	want = strings.Replace(want, `"recentEvents":[]}`, `"recentEvents":[],"draining":false,"drainStartedAt":null}`, 1)
	if _, body := call(t, g.Handler(), http.MethodGet, "/debug/towns/town-99/status", ""); string(body) != want {
		t.Errorf("later version, idle at 5m: %s\nwant %s", body, want)
	}
	want = strings.TrimSuffix(neverCreatedDryRun, "}") + `,"violations":[]}`
	if _, body := call(t, g.Handler(), http.MethodPost, "/debug/towns/town-99/reconcile-dry-run", ""); string(body) != want {
		t.Errorf("dry run with violations: %s, want %s", body, want)
	}
	r, _ := newFleet(t, Options{SavepointRefused: true})
	for _, c := range []struct{ op, body string }{{"reconcile-dry-run", ""}, {"replay-events", validWindow}} {
		if code, body := call(t, r.Handler(), http.MethodPost, "/debug/towns/town-99/"+c.op, c.body); code != 500 || string(body) != gastown500 {
			t.Errorf("%s with the SAVEPOINT refused: %d %s", c.op, code, body)
		}
	}
}

// Asking about ids that were never created keeps nothing: no database, no
// alarm, no entry, no memory that grows with the number of ids.
func TestNeverCreatedTownsKeepNothing(t *testing.T) {
	dir := t.TempDir()
	f, c := newFleet(t, Options{Towns: 2, Dir: dir})
	files := func() []string {
		t.Helper()
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}
	before := files()
	ask := func(from, n int) {
		for i := from; i < from+n; i++ {
			id := TownUUID(99, i)
			for _, c := range []struct{ method, op, body string }{
				{http.MethodGet, "status", ""}, {http.MethodPost, "reconcile-dry-run", ""}, {http.MethodPost, "replay-events", validWindow},
			} {
				if code, body := call(t, f.Handler(), c.method, "/debug/towns/"+id+"/"+c.op, c.body); code != 200 {
					t.Fatalf("%s of %s: %d %s", c.op, id, code, body)
				}
			}
		}
	}
	ask(0, 100) // warm up: pools and caches
	heap0 := heapBytes()
	const ids = 1000
	ask(1000, ids)
	grown := heapBytes() - heap0
	run(t, f, c, 10*time.Second)
	if after := files(); !reflect.DeepEqual(after, before) {
		t.Errorf("files %v after the calls, want %v", after, before)
	}
	if len(f.byID) != 2 || len(f.towns) != 2 || f.sched.h.Len() != 2 {
		t.Errorf("fleet holds %d ids, %d towns, %d alarms; want 2 of each", len(f.byID), len(f.towns), f.sched.h.Len())
	}
	// A town costs kilobytes of heap; an id that is kept at all, tens of bytes.
	if per := grown / ids; per > 16 {
		t.Errorf("heap grew %.0f bytes for %d unknown ids (%.1f per id)", grown, ids, per)
	}
}

// The savepoint_refused knob, or the fleet's SavepointRefused, answers the
// dry run and every replay that passes validation with the real code's 500;
// status keeps working.
func TestSavepointRefused(t *testing.T) {
	f, _ := newFleet(t, Options{Towns: 2})
	refused := func(town string) bool {
		t.Helper()
		code, body := call(t, f.Handler(), http.MethodPost, "/debug/towns/"+town+"/reconcile-dry-run", "")
		rc, rb := call(t, f.Handler(), http.MethodPost, "/debug/towns/"+town+"/replay-events", validWindow)
		if (code == 500) != (rc == 500) {
			t.Fatalf("%s: dry run %d %s, replay %d %s: want both refused or neither", town, code, body, rc, rb)
		}
		if code == 500 && (string(body) != gastown500 || string(rb) != gastown500) {
			t.Errorf("%s: bodies %s and %s, want %s", town, body, rb, gastown500)
		}
		return code == 500
	}
	if refused("town-01") {
		t.Fatal("refused before the knob was set")
	}
	if code, body := call(t, f.Handler(), http.MethodPut, "/debug/towns/town-01/fault", `{"savepoint_refused":true}`); code != 200 {
		t.Fatalf("PUT fault: %d %s", code, body)
	}
	if !refused("town-01") || refused("town-02") {
		t.Error("the knob must refuse town-01's savepoint only")
	}
	// Validation comes first, as in the worker; status is not affected.
	if code, body := call(t, f.Handler(), http.MethodPost, "/debug/towns/town-01/replay-events", "{}"); code != 400 || string(body) != replayMissingBody {
		t.Errorf("replay {}: %d %s", code, body)
	}
	if code, body := call(t, f.Handler(), http.MethodGet, "/debug/towns/town-01/status", ""); code != 200 {
		t.Errorf("status: %d %s", code, body)
	}
	call(t, f.Handler(), http.MethodDelete, "/debug/towns/town-01/fault", "")
	if refused("town-01") {
		t.Error("still refused after healing")
	}

	g, _ := newFleet(t, Options{Towns: 2, SavepointRefused: true})
	call(t, g.Handler(), http.MethodDelete, "/debug/fault", "") // the runtime, not a knob: healing keeps it
	for _, id := range g.TownIDs() {
		if code, body := call(t, g.Handler(), http.MethodPost, "/debug/towns/"+id+"/reconcile-dry-run", ""); code != 500 || string(body) != gastown500 {
			t.Errorf("%s with SavepointRefused: %d %s", id, code, body)
		}
	}
}

// With an Access service token configured, every /debug/ call needs both
// headers; without them the answer is later Gastown's 401.
func TestAccessServiceToken(t *testing.T) {
	f, _ := newFleet(t, Options{Access: Access{ClientID: "id-1.access", ClientSecret: "s3cret"}})
	const unauthorized = `{"success":false,"error":"Unauthorized"}`
	tests := []struct {
		name, id, secret string
		ok               bool
	}{
		{"no headers", "", "", false},
		{"id only", "id-1.access", "", false},
		{"wrong secret", "id-1.access", "s3cre", false},
		{"wrong id", "id-2.access", "s3cret", false},
		{"both", "id-1.access", "s3cret", true},
	}
	for _, tt := range tests {
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, "/debug/towns/town-01/status"},
			{http.MethodGet, "/debug/towns/never-created/status"},
			{http.MethodGet, "/debug/towns"},
			{http.MethodPut, "/debug/fault"},
		} {
			req := httptest.NewRequest(c.method, c.path, strings.NewReader("{}"))
			if tt.id != "" {
				req.Header.Set("CF-Access-Client-Id", tt.id)
			}
			if tt.secret != "" {
				req.Header.Set("CF-Access-Client-Secret", tt.secret)
			}
			w := httptest.NewRecorder()
			f.Handler().ServeHTTP(w, req)
			if denied := w.Code == 401 && w.Body.String() == unauthorized; denied == tt.ok || (tt.ok && w.Code != 200) {
				t.Errorf("%s: %s %s: %d %s", tt.name, c.method, c.path, w.Code, w.Body)
			}
		}
	}
	// Outside /debug/ the worker answers as before.
	if code, body := call(t, f.Handler(), http.MethodGet, "/metrics", ""); code != 404 || string(body) != gastown404 {
		t.Errorf("/metrics: %d %s", code, body)
	}
}

func TestTownUUIDs(t *testing.T) {
	f, _ := newFleet(t, Options{Towns: 3, Seed: 8, TownIDs: IDsUUID})
	g, _ := newFleet(t, Options{Towns: 3, Seed: 9, TownIDs: IDsUUID})
	uuid4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	ids := f.TownIDs()
	for i, id := range ids {
		if !uuid4.MatchString(id) || id != TownUUID(8, i+1) || id == g.TownIDs()[i] {
			t.Errorf("town %d: %q (seed 9: %q), want a version 4 UUID that the seed decides", i+1, id, g.TownIDs()[i])
		}
	}
	_, body := call(t, f.Handler(), http.MethodGet, "/debug/towns", "")
	if l := decode[gastown.TownList](t, body); !reflect.DeepEqual(l.Towns, ids) {
		t.Errorf("GET /debug/towns = %v, want %v", l.Towns, ids)
	}
	if code, body := call(t, f.Handler(), http.MethodPost, "/debug/towns/"+ids[1]+"/reconcile-dry-run", ""); code != 200 || decode[gastown.DryRun](t, body).Metrics.EventsDrained == 0 {
		t.Errorf("dry run of %s: %d %s, want its bootstrap events", ids[1], code, body)
	}
}

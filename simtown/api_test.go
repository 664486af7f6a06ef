package simtown

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
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
		{http.MethodGet, "/"},
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
	if p1 := pending(t, tw); p1 <= p0 {
		t.Errorf("stall_alarm: pending %d -> %d, want growth", p0, p1)
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

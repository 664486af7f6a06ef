package gastown

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The fuzz targets feed the client's whole decode path (status, dry run,
// replay, error envelopes) with bodies from a transport that answers from
// memory, and check the decoded answer against encoding/json's reading of
// the same bytes: the client may decode less, never differently.

// cannedTransport answers every request with one status code and body.
type cannedTransport struct {
	code int
	body []byte
}

func (c cannedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: c.code, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(c.body)), ContentLength: int64(len(c.body)), Request: r,
	}, nil
}

const fuzzMaxBody = 1 << 20

func fuzzClient(code int, body []byte) *Client {
	return &Client{base: "http://gastown.test", http: &http.Client{Transport: cannedTransport{code, body}}, maxBody: fuzzMaxBody}
}

var fuzzNow = func() time.Time { return time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC) }

// addSamples seeds f with the answer samples whose names start with prefix,
// and with what the real worker answers (../shared/gastown/README.md).
func addSamples(f *testing.F, prefix string, real ...string) {
	names, err := filepath.Glob(filepath.Join("testdata", prefix+"*.json"))
	if err != nil || len(names) == 0 {
		f.Fatalf("no samples %s*.json: %v", prefix, err)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range real {
		f.Add([]byte(s))
	}
}

// Answers of the real worker, measured against it.
const (
	realInternalError = `{"success":false,"error":"Internal server error"}`
	realNotFound      = `{"success":false,"error":"Not found"}`
	realUnauthorized  = `{"success":false,"error":"Unauthorized"}`
	// A town id that was never created: no alarm, no last tick.
	realNeverCreated = `{"alarmStatus":{"alarm":{"nextFireAt":null,"intervalMs":60000,"intervalLabel":"idle (60s)"},` +
		`"agents":{"working":0,"idle":0,"stalled":0,"dead":0,"total":0},"beads":{"open":0,"inProgress":0,"inReview":0,"failed":0,"triageRequests":0},` +
		`"patrol":{"guppWarnings":0,"guppEscalations":0,"stalledAgents":0,"orphanedHooks":0},"reconciler":null,"recentEvents":[]},"agentMeta":[],"beadSummary":[]}`
	// A later version: draining flags in status, rig_id and more on bead rows.
	realLaterVersion = `{"alarmStatus":{"alarm":{"nextFireAt":"2026-12-03T01:24:57.762Z","intervalMs":5000,"intervalLabel":"active (5s)"},` +
		`"agents":{"working":1,"idle":0,"stalled":0,"dead":0,"total":1},"beads":{"open":1,"inProgress":3,"inReview":0,"failed":0,"triageRequests":0},` +
		`"patrol":{"guppWarnings":0,"guppEscalations":0,"stalledAgents":0,"orphanedHooks":0},"draining":false,"drainStartedAt":null,` +
		`"reconciler":{"eventsDrained":1,"actionsEmitted":0,"actionsByType":{},"sideEffectsAttempted":1,"sideEffectsSucceeded":1,"sideEffectsFailed":0,"invariantViolations":2,"wallClockMs":3,"pendingEventCount":0},"recentEvents":[]},` +
		`"agentMeta":[{"bead_id":"a1","role":"polecat","status":"working","current_hook_bead_id":"b1","dispatch_attempts":1,"last_activity_at":"2026-12-03T01:24:52.762Z"}],` +
		`"beadSummary":[{"bead_id":"b2","type":"convoy","status":"in_progress","title":"probe convoy","assignee_agent_bead_id":null,"updated_at":"2026-12-03T01:24:52.762Z","rig_id":"rig-b","created_by":"seed","labels":[],"metadata":{}},` +
		`{"bead_id":"b3","type":"merge_request","status":"in_progress","title":"MR 1","assignee_agent_bead_id":null,"updated_at":"2026-12-03T01:24:52.762Z","rig_id":"rig-b"},` +
		`{"bead_id":"b4","type":"merge_request","status":"in_progress","title":"MR 2","assignee_agent_bead_id":null,"updated_at":"2026-12-03T01:24:52.762Z","rig_id":"rig-b"}]}`
)

// FuzzPollStatus: a status answer the poll accepts holds the numbers
// encoding/json reads from it, re-encodes to the same numbers, and yields
// the violations Gastown's checks find in its rows.
func FuzzPollStatus(f *testing.F) {
	addSamples(f, "status", realNeverCreated, realLaterVersion, realInternalError)
	f.Fuzz(func(t *testing.T, body []byte) {
		o := fuzzClient(200, body).Poll(context.Background(), "t", PollOptions{Status: true}, fuzzNow)
		// The poll decodes only what it uses (not the recent events, not
		// the rows' timestamps): the reference reads the same parts.
		var part statusPart
		refErr := json.Unmarshal(body, &part)
		a := part.AlarmStatus
		ref := Status{AlarmStatus: AlarmStatus{Alarm: a.Alarm, Agents: a.Agents, Beads: a.Beads, Reconciler: a.Reconciler}}
		if !o.StatusCall.OK() {
			checkDecodeError(t, o.StatusCall.Err, "status", refErr)
			if o.Status != nil || o.Violations != nil {
				t.Fatalf("a failed status call kept %+v, %v", o.Status, o.Violations)
			}
			return
		}
		got := statusNumbers(o.Status)
		re, err := json.Marshal(o.Status)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var again Status
		if err := json.Unmarshal(re, &again); err != nil {
			t.Fatalf("decode the re-encoded status: %v", err)
		}
		if back := statusNumbers(&again); !reflect.DeepEqual(got, back) {
			t.Fatalf("re-encoded numbers\n got %v\nwant %v", back, got)
		}
		if tolerated(t, refErr) {
			return
		}
		if want := statusNumbers(&ref); !reflect.DeepEqual(got, want) {
			t.Fatalf("status numbers\n got %v\nwant %v", got, want)
		}
		want := checkRows(part.AgentMeta, part.BeadSummary)
		if r := ref.AlarmStatus.Reconciler; r != nil && r.InvariantViolations > len(want) {
			want = append(want, Violation{Unnamed, "", ReconcilerCount})
		}
		if len(o.Violations) != len(want) {
			t.Fatalf("violations %v, want %v", o.Violations, want)
		}
		for i, v := range o.Violations {
			if v.Invariant != want[i].Invariant || v.Source != want[i].Source || (v.Invariant != Unnamed && v.Message != want[i].Message) {
				t.Fatalf("violation %d: %+v, want %+v", i, v, want[i])
			}
		}
		if o.RemainderUnknown != (ref.AlarmStatus.Reconciler == nil) {
			t.Fatalf("RemainderUnknown %v with reconciler %v", o.RemainderUnknown, ref.AlarmStatus.Reconciler)
		}
	})
}

// statusNumbers lists every number the poll keeps from a status.
func statusNumbers(s *Status) map[string]float64 {
	a := s.AlarmStatus
	m := map[string]float64{
		"alarm.intervalMs": float64(a.Alarm.IntervalMs),
		"agents.working":   float64(a.Agents.Working), "agents.idle": float64(a.Agents.Idle),
		"agents.stalled": float64(a.Agents.Stalled), "agents.dead": float64(a.Agents.Dead), "agents.total": float64(a.Agents.Total),
		"beads.open": float64(a.Beads.Open), "beads.inProgress": float64(a.Beads.InProgress), "beads.inReview": float64(a.Beads.InReview),
		"beads.failed": float64(a.Beads.Failed), "beads.triageRequests": float64(a.Beads.TriageRequests),
	}
	if t := a.Alarm.NextFireAt; t != nil {
		m["alarm.nextFireAt"] = float64(t.UnixNano())
	}
	if r := a.Reconciler; r != nil {
		m["reconciler.eventsDrained"] = float64(r.EventsDrained)
		m["reconciler.actionsEmitted"] = float64(r.ActionsEmitted)
		m["reconciler.sideEffectsAttempted"] = float64(r.SideEffectsAttempted)
		m["reconciler.sideEffectsSucceeded"] = float64(r.SideEffectsSucceeded)
		m["reconciler.sideEffectsFailed"] = float64(r.SideEffectsFailed)
		m["reconciler.invariantViolations"] = float64(r.InvariantViolations)
		m["reconciler.wallClockMs"] = r.WallClockMs
		m["reconciler.pendingEventCount"] = float64(r.PendingEventCount)
		for k, v := range r.ActionsByType.All() {
			m["reconciler.actionsByType."+k] = float64(v)
		}
	}
	return m
}

// FuzzPollDryRun: a dry run the poll accepts holds encoding/json's numbers
// and violations, and re-encodes to the same.
func FuzzPollDryRun(f *testing.F) {
	addSamples(f, "dry-run", realInternalError, `{"actions":[],"metrics":{"actionsEmitted":0,"actionsByType":{},"pendingEventCount":0,"eventsDrained":0}}`)
	f.Fuzz(func(t *testing.T, body []byte) {
		o := fuzzClient(200, body).Poll(context.Background(), "t", PollOptions{DryRun: true}, fuzzNow)
		var part dryRunPart // the poll skips the action list
		refErr := json.Unmarshal(body, &part)
		ref := DryRun{Metrics: part.Metrics, Violations: part.Violations}
		if !o.DryRunCall.OK() {
			checkDecodeError(t, o.DryRunCall.Err, "dry run", refErr)
			if o.DryRun != nil || o.Violations != nil {
				t.Fatalf("a failed dry run kept %+v, %v", o.DryRun, o.Violations)
			}
			return
		}
		re, err := json.Marshal(o.DryRun)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		var again DryRun
		if err := json.Unmarshal(re, &again); err != nil || !sameDryRun(&again, o.DryRun) {
			t.Fatalf("re-encoded dry run %s decodes to %+v (%v)", re, again, err)
		}
		if tolerated(t, refErr) {
			return
		}
		if !sameDryRun(o.DryRun, &ref) {
			t.Fatalf("dry run\n got %+v\nwant %+v", *o.DryRun, ref)
		}
		if (o.Violations != nil) != (ref.Violations != nil) || o.Source == "" && ref.Violations != nil {
			t.Fatalf("violations %v (source %q), answer's %v", o.Violations, o.Source, ref.Violations)
		}
	})
}

func sameDryRun(a, b *DryRun) bool {
	if a.Metrics.ActionsEmitted != b.Metrics.ActionsEmitted || a.Metrics.PendingEventCount != b.Metrics.PendingEventCount ||
		a.Metrics.EventsDrained != b.Metrics.EventsDrained || len(a.Metrics.ActionsByType) != len(b.Metrics.ActionsByType) ||
		len(a.Violations) != len(b.Violations) {
		return false
	}
	if !slices.Equal(a.Metrics.ActionsByType, b.Metrics.ActionsByType) {
		return false
	}
	for i, v := range a.Violations {
		if v.Invariant != b.Violations[i].Invariant || v.Message != b.Violations[i].Message {
			return false
		}
	}
	return true
}

// FuzzReplay: a replay answer the client accepts is encoding/json's
// reading of it, and `tickwatch replay --output json` can print it.
func FuzzReplay(f *testing.F) {
	addSamples(f, "replay", realInternalError)
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := fuzzClient(200, body).Replay(context.Background(), "t", ReplayRequest{From: "a", To: "b"})
		var ref ReplayResponse
		refErr := json.Unmarshal(body, &ref)
		if err != nil {
			checkDecodeError(t, err, "replay", refErr)
			return
		}
		re, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if tolerated(t, refErr) {
			return
		}
		if !utf8.Valid(re) {
			t.Fatalf("replay re-encodes to invalid UTF-8: %q", re)
		}
		// encoding/json keeps the raw bytes of an action as they came;
		// the client replaces bytes that are not UTF-8, one by one.
		want, _ := json.Marshal(&ref)
		if want = []byte(string([]rune(string(want)))); !bytes.Equal(re, want) {
			t.Fatalf("replay\n got %s\nwant %s", re, want)
		}
	})
}

// FuzzErrorAnswer: any non-2xx answer is an *APIError naming the town and
// the call, with a bounded UTF-8 message.
func FuzzErrorAnswer(f *testing.F) {
	addSamples(f, "error", realInternalError, realNotFound, realUnauthorized, "<html>502 Bad Gateway</html>", "")
	for _, b := range []string{"replay-400-date.json", "replay-400-missing.json"} {
		f.Add(sample(f, b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, code := range []int{400, 401, 404, 500, 503} {
			_, err := fuzzClient(code, body).Status(context.Background(), "town-<1>")
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("HTTP %d: %v is no *APIError", code, err)
			}
			if ae.StatusCode != code || ae.Town != "town-<1>" || ae.Call != "status" {
				t.Fatalf("HTTP %d: %+v", code, ae)
			}
			if len(ae.Message) > 203 || ae.Message == "" || !utf8.ValidString(ae.Message) {
				t.Fatalf("message of %d bytes: %q", len(ae.Message), ae.Message)
			}
			if !strings.Contains(err.Error(), `status of town "town-<1>": HTTP `) {
				t.Fatalf("error %q does not name the call and the town", err)
			}
		}
	})
}

// tolerated reports whether the client may accept an answer that
// encoding/json rejects (refErr). json-iterator is looser about syntax in
// places that hold no number the poll reads: the characters inside strings,
// the numbers of fields it skips ("-01"), a NUL byte after the value. It
// must still reject a truncated body and a value of the wrong type.
func tolerated(t *testing.T, refErr error) bool {
	t.Helper()
	if refErr == nil {
		return false
	}
	var se *json.SyntaxError
	if errors.As(refErr, &se) && se.Error() != "unexpected end of JSON input" {
		return true
	}
	t.Fatalf("the client accepted an answer that encoding/json rejects: %v", refErr)
	return false
}

// checkDecodeError: a rejected 2xx answer is an error that names the call
// and the town; malformed JSON is reported in encoding/json's words when
// encoding/json rejects it too.
func checkDecodeError(t *testing.T, err error, call string, refErr error) {
	t.Helper()
	if err == nil {
		t.Fatal("call failed without an error")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, call+` of town "t": `) {
		t.Fatalf("error %q does not name the call and the town", msg)
	}
	if refErr == nil && !strings.Contains(msg, "larger than") {
		t.Fatalf("the client rejected an answer that encoding/json accepts: %v", err)
	}
}

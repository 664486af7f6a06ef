package simtown

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

// FuzzReplayBody: a body of POST replay-events that is JSON (and not null)
// is answered 200 with a replay or 400 with one of Gastown's texts; any
// other body is Gastown's 500, as its request.json() throws. Every answer is
// JSON that tickwatch's client reads.
func FuzzReplayBody(f *testing.F) {
	for _, s := range []string{`{"from":"2026-11-28T08:00:00Z","to":"2026-11-28T09:00:00Z"}`, `{}`, ``, `{"from":null,"to":"x"}`,
		`{"from":"2026-11-28","to":"2026"}`, `{"from":"2026-11-28T09:00:00Z","to":"2026-11-28T08:00:00Z"}`,
		`{"from":"2026-11-28T08:00:00.000Z","to":"2026-11-28T09:00:00.000Z","mode":"faithful"}`, `{"from":0,"to":1}`, `[]`, `{"from":"2026-01-01T00:00:00+14:00","to":"9999-12-31T23:59:59Z"}`} {
		f.Add([]byte(s))
	}
	fleet, c := newFleet(f, Options{Towns: 1})
	run(f, fleet, c, 30*time.Second) // a little history to replay
	h := fleet.Handler()
	path := "/debug/towns/" + fleet.TownIDs()[0] + "/replay-events"
	texts := map[string]bool{replayMissing: true, replayBadDate: true, replayOrder: true}
	f.Fuzz(func(t *testing.T, body []byte) {
		code, out := call(t, h, http.MethodPost, path, string(body))
		if notJSON := !json.Valid(body) || string(bytes.TrimSpace(body)) == "null"; notJSON != (code == http.StatusInternalServerError) {
			t.Fatalf("body %q answered %d %s", body, code, out)
		}
		switch code {
		case http.StatusInternalServerError:
			var e gastown.ErrorBody
			if err := json.Unmarshal(out, &e); err != nil || e.Error != "Internal server error" {
				t.Fatalf("500 with %s (%v)", out, err)
			}
		case http.StatusOK:
			var r gastown.ReplayResponse
			if err := json.Unmarshal(out, &r); err != nil || r.Caveat == "" || r.EventsReplayed < 0 {
				t.Fatalf("200 with %s (%v)", out, err)
			}
		case http.StatusBadRequest:
			var e gastown.ErrorBody
			if err := json.Unmarshal(out, &e); err != nil || !texts[e.Error] && !bytes.HasPrefix([]byte(e.Error), []byte("History before ")) {
				t.Fatalf("400 with %s (%v)", out, err)
			}
		default:
			t.Fatalf("HTTP %d: %s", code, out)
		}
	})
}

// FuzzFaultBody: a fault body is taken (200, and GET then returns the same
// knobs, each in range) or refused (400 with a reason, the town unchanged).
func FuzzFaultBody(f *testing.F) {
	for _, s := range []string{`{"latency":"250ms","error_rate":0.5}`, `{"queue_depth":60,"break_invariant":7}`, `{"hang":true}`, `{}`,
		`{"latency":"-1s"}`, `{"error_rate":2}`, `{"break_invariant":2}`, `{"queue_depth":100001}`, `{"latancy":"1s"}`, `{"latency":"9999999h"}`, ``, `[`} {
		f.Add([]byte(s))
	}
	fleet, _ := newFleet(f, Options{Towns: 1})
	h := fleet.Handler()
	town := fleet.TownIDs()[0]
	path := "/debug/towns/" + town + "/fault"
	f.Fuzz(func(t *testing.T, body []byte) {
		before, _ := fleet.Fault(town)
		code, out := call(t, h, http.MethodPut, path, string(body))
		after, _ := fleet.Fault(town)
		switch code {
		case http.StatusOK:
			if err := after.Validate(); err != nil {
				t.Fatalf("took a fault out of range: %v", err)
			}
			code, got := call(t, h, http.MethodGet, path, "")
			if want, _ := json.Marshal(after); code != http.StatusOK || !bytes.Equal(got, want) || !bytes.Equal(out, want) {
				t.Fatalf("PUT answered %s, GET %d %s, want %s", out, code, got, want)
			}
		case http.StatusBadRequest:
			var e gastown.ErrorBody
			if err := json.Unmarshal(out, &e); err != nil || e.Error == "" || e.Success == nil || *e.Success {
				t.Fatalf("400 with %s (%v)", out, err)
			}
			if after != before {
				t.Fatalf("a refused fault changed the town: %+v -> %+v", before, after)
			}
		default:
			t.Fatalf("HTTP %d: %s", code, out)
		}
		if code, _ := call(t, h, http.MethodDelete, path, ""); code != http.StatusOK {
			t.Fatalf("heal: HTTP %d", code)
		}
	})
}

package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/tickwatch/tickwatch/gastown"
)

func TestPrintReplaySample(t *testing.T) {
	b, err := os.ReadFile("../../gastown/testdata/replay.json")
	if err != nil {
		t.Fatal(err)
	}
	var r gastown.ReplayResponse
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := printReplay(&out, "town-a", "2026-11-28T08:00:00Z", "2026-11-28T09:00:00Z", &r); err != nil {
		t.Fatal(err)
	}
	want := `Town town-a, 2026-11-28T08:00:00Z .. 2026-11-28T09:00:00Z: 2 events replayed
Note: Approximate: the window's events were re-applied on top of the town's live state, not on a snapshot taken before the window.

Actions (1)     Count
dispatch_agent  1

Agent                                 Role     Status   Hook          Dispatches  Last activity
c41d9e02-77aa-4f0b-8e3e-1b2c3d4e5f60  polecat  working  b-issue-0052  1           2026-11-28T08:59:41Z

Bead (not terminal)  Type   Status  Assignee  Title
b-issue-0051         issue  open    -         Audit log export
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestReplaySendsGastownsTimeForm: Gastown compares the bounds as strings
// with its stored created_at, so an offset must reach it as UTC with
// milliseconds and Z.
func TestReplaySendsGastownsTimeForm(t *testing.T) {
	bodies := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- string(b)
		w.WriteHeader(500)
		w.Write([]byte(`{"success":false,"error":"Internal server error"}`))
	}))
	defer srv.Close()
	if code := run([]string{"replay", "--target.url", srv.URL, "--town", "t", "--from", "2026-12-03T02:24:52+01:00", "--to", "2026-12-03"}); code != 1 {
		t.Errorf("exit %d for a 500, want 1", code)
	}
	if got, want := <-bodies, `{"from":"2026-12-03T01:24:52.000Z","to":"2026-12-03T00:00:00.000Z"}`; got != want {
		t.Errorf("body %s, want %s", got, want)
	}
	if code := run([]string{"replay", "--target.url", srv.URL, "--town", "t", "--from", "yesterday", "--to", "2026-12-03"}); code != 1 {
		t.Errorf("exit %d for a bad bound, want 1", code)
	}
	select {
	case b := <-bodies:
		t.Errorf("a bad bound was sent: %s", b)
	default:
	}
}

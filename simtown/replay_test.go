package simtown

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

type eventRow struct {
	Type, Agent, Bead, Payload, Created, Processed string
}

func eventLog(t *testing.T, tw *town) []eventRow {
	t.Helper()
	tw.mu.Lock()
	defer tw.mu.Unlock()
	rows, err := tw.conn.QueryContext(tw.st.ctx, `SELECT event_type, COALESCE(agent_id, ''), COALESCE(bead_id, ''), payload,
		created_at, COALESCE(processed_at, '') FROM town_events ORDER BY rowid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []eventRow
	for rows.Next() {
		var e eventRow
		if err := rows.Scan(&e.Type, &e.Agent, &e.Bead, &e.Payload, &e.Created, &e.Processed); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func TestSameSeedSameEventStream(t *testing.T) {
	stream := func(seed int64) map[string][]eventRow {
		f, c := newFleet(t, Options{Towns: 3, Seed: seed, FaultRate: 0.05, SideEffectFailureRate: 0.1})
		run(t, f, c, 15*time.Minute)
		out := map[string][]eventRow{}
		for _, tw := range f.towns {
			out[tw.id] = eventLog(t, tw)
		}
		return out
	}
	a, b, other := stream(42), stream(42), stream(43)
	types := map[string]int{}
	for _, id := range []string{"town-01", "town-02", "town-03"} {
		if len(a[id]) < 30 {
			t.Fatalf("%s recorded only %d events in 15 minutes", id, len(a[id]))
		}
		if !reflect.DeepEqual(a[id], b[id]) {
			t.Errorf("%s: seed 42 gave two different streams (%d and %d events)", id, len(a[id]), len(b[id]))
		}
		if reflect.DeepEqual(a[id], other[id]) {
			t.Errorf("%s: seeds 42 and 43 gave the same stream", id)
		}
		for _, e := range a[id] {
			types[e.Type]++
			if e.Type == evContainerStatus && bytes.Contains([]byte(e.Payload), []byte(`"running"`)) {
				t.Errorf("%s recorded a running container_status: %+v", id, e)
			}
		}
	}
	// The workload covers the life of a town.
	for _, ty := range []string{evAgentRegistered, evBeadCreated, evAgentDone, evPRStatus, evContainerStatus, evAgentActivity, evFaultInjected, evFaultRepaired} {
		if types[ty] == 0 {
			t.Errorf("no %s event in 45 town-minutes (%v)", ty, types)
		}
	}
}

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "gastown", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(b)
}

// Gastown reads the body with c.req.json() and then checks from and to in
// JavaScript: a body that does not parse (an empty one included) or is null
// throws, a 500; the rest as measured on the real worker.
func TestReplayValidationMatchesGastown(t *testing.T) {
	f, _ := newFleet(t, Options{})
	tests := []struct {
		name, body, sample string
		code               int
	}{
		{"empty body", "", "error-500.json", 500},
		{"not JSON", "from=today", "error-500.json", 500},
		{"truncated JSON", `{"from":"2026","to":"2027"`, "error-500.json", 500},
		{"null", "null", "error-500.json", 500},
		{"no fields", "{}", "replay-400-missing.json", 400},
		{"an array", "[]", "replay-400-missing.json", 400},
		{"a string", `"x"`, "replay-400-missing.json", 400},
		{"no to", `{"from":"2026-11-28T09:00:00.000Z"}`, "replay-400-missing.json", 400},
		{"null from", `{"from":null,"to":"2026-11-28T09:00:00.000Z"}`, "replay-400-missing.json", 400},
		{"empty to", `{"from":"2026-11-28T09:00:00.000Z","to":""}`, "replay-400-missing.json", 400},
		{"zero from", `{"from":0,"to":"2026-11-28T09:00:00.000Z"}`, "replay-400-missing.json", 400},
		{"bad from", `{"from":"yesterday","to":"2026-11-28T09:00:00.000Z"}`, "replay-400-date.json", 400},
		{"bad to", `{"from":"2026-11-28T09:00:00.000Z","to":"2026-13-45T99:00:00Z"}`, "replay-400-date.json", 400},
		{"object from", `{"from":{},"to":"2026-11-28T09:00:00.000Z"}`, "replay-400-date.json", 400},
		{"reversed", `{"from":"2026-11-28T10:00:00.000Z","to":"2026-11-28T09:00:00.000Z"}`, "replay-400-order.json", 400},
		{"reversed by a millisecond", `{"from":"2026-11-28T09:00:00.001Z","to":"2026-11-28T09:00:00Z"}`, "replay-400-order.json", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := call(t, f.Handler(), http.MethodPost, "/debug/towns/town-01/replay-events", tt.body)
			if want := readSample(t, tt.sample); code != tt.code || !bytes.Equal(body, want) {
				t.Errorf("got %d %s, want %d %s", code, body, tt.code, want)
			}
		})
	}
}

// Gastown compares from and to as sent with the stored created_at, as
// text: a bound in another format than "2026-11-28T09:00:00.000Z" filters
// wrongly, as measured on the real worker (numbers compare as their
// digits, true as no bound at all).
func TestReplayComparesBoundsAsText(t *testing.T) {
	f, _ := newFleet(t, Options{})
	boot := pending(t, f.byID["town-01"]) // recorded at t0, 2026-11-28T09:00:00.000Z
	tests := []struct {
		body string
		want int
	}{
		{`{"from":"2026-11-28T09:00:00.000Z","to":"2026-11-28T09:00:00.000Z"}`, boot},
		{`{"from":"2026","to":"2027"}`, boot},
		{`{"from":"2026-11-28T10:00:00.000+01:00","to":"2027"}`, 0}, // the same instant as t0
		{`{"from":"2026-11-28T09:00:00Z","to":"2026-11-28T09:00:00Z"}`, 0},
		{`{"from":1764320400000,"to":"2027"}`, boot},
		{`{"from":"2026","to":1893456000000}`, 0},
		{`{"from":[2026],"to":"2027"}`, boot},
		{`{"from":true,"to":"2027"}`, 0},
		{`{"from":"2026-11-28 09:00","to":"2026-11-29"}`, boot},
	}
	for _, tt := range tests {
		code, body := call(t, f.Handler(), http.MethodPost, "/debug/towns/town-01/replay-events", tt.body)
		if r := decode[gastown.ReplayResponse](t, body); code != http.StatusOK || r.EventsReplayed != tt.want {
			t.Errorf("%s: %d, %d events replayed, want 200 and %d", tt.body, code, r.EventsReplayed, tt.want)
		}
	}
	if boot == 0 {
		t.Fatal("no bootstrap events: the test would prove nothing")
	}
}

func snapshotOf(t *testing.T, tw *town) stateSnapshot {
	t.Helper()
	tw.mu.Lock()
	defer tw.mu.Unlock()
	var s stateSnapshot
	if err := tw.fillSnapshot(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// Faithful replay rebuilds exactly the state the town had at the end of the
// window; Gastown's approximate replay, re-applying on live state, does not.
func TestFaithfulReplayReconstructsHistory(t *testing.T) {
	f, c := newFleet(t, Options{Seed: 9, FaultRate: 0.05, SideEffectFailureRate: 0.1})
	tw := f.byID["town-01"]
	run(t, f, c, 10*time.Minute)
	from := tw.last
	run(t, f, c, 5*time.Minute)
	to := tw.last
	atTo := snapshotOf(t, tw)
	toBody, _ := json.Marshal(atTo)
	tw.mu.Lock()
	inWindow, err := tw.st.count(`SELECT COUNT(*) FROM town_events WHERE processed_at > ? AND processed_at <= ?`, ts(from), ts(to))
	tw.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	run(t, f, c, 10*time.Minute) // the town moves on
	if now := snapshotOf(t, tw); reflect.DeepEqual(now, atTo) {
		t.Fatal("the town did not change after the window; the test would prove nothing")
	}
	before := digests(t, tw)

	req := `{"from":"` + ts(from) + `","to":"` + ts(to) + `","mode":"faithful"}`
	code, body := call(t, f.Handler(), http.MethodPost, "/debug/towns/town-01/replay-events", req)
	if code != http.StatusOK {
		t.Fatalf("faithful replay: %d %s", code, body)
	}
	var got struct {
		Caveat         string           `json:"caveat"`
		EventsReplayed int              `json:"eventsReplayed"`
		Actions        []gastown.Action `json:"actions"`
		StateSnapshot  json.RawMessage  `json:"stateSnapshot"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.StateSnapshot, toBody) {
		t.Errorf("faithful snapshot differs from the state at %s:\n got %s\nwant %s", ts(to), got.StateSnapshot, toBody)
	}
	if got.Caveat != CaveatFaithful || got.EventsReplayed != inWindow || inWindow == 0 {
		t.Errorf("caveat %q, eventsReplayed %d; want the faithful caveat and %d (>0)", got.Caveat, got.EventsReplayed, inWindow)
	}
	if len(got.Actions) == 0 {
		t.Error("no actions in a five-minute window")
	}
	if after := digests(t, tw); !reflect.DeepEqual(before, after) {
		t.Errorf("replay changed the database:\nbefore %v\nafter  %v", before, after)
	}

	code, body = call(t, f.Handler(), http.MethodPost, "/debug/towns/town-01/replay-events",
		`{"from":"`+ts(from)+`","to":"`+ts(to)+`"}`)
	if code != http.StatusOK {
		t.Fatalf("approximate replay: %d %s", code, body)
	}
	approx := decode[gastown.ReplayResponse](t, body)
	if approx.Caveat != realCaveat {
		t.Errorf("approximate caveat %q differs from Gastown's", approx.Caveat)
	}
	if approx.EventsReplayed == 0 {
		t.Error("approximate replay found no events in the window")
	}
}

// realCaveat is the caveat the real worker answers (measured, SAVEPOINT
// patched).
const realCaveat = "Events are re-applied on top of current live state, not from a pre-window snapshot. Non-idempotent handlers may produce different results than the original processing. Use for debugging event flow, not faithful historical reconstruction."

// With frequent checkpoints the history stays bounded, and faithful replay
// starts from the checkpoint before the window and still lands exactly on
// the state the town had.
func TestFaithfulReplayFromCheckpointAfterPruning(t *testing.T) {
	f, c := newFleet(t, Options{Seed: 9, FaultRate: 0.05, CheckpointEvery: 12})
	tw := f.byID["town-01"]
	run(t, f, c, 20*time.Minute) // 240 ticks: 20 checkpoints taken, 18 dropped
	from := tw.last
	run(t, f, c, 30*time.Second)
	to := tw.last
	atTo, _ := json.Marshal(snapshotOf(t, tw))

	tw.mu.Lock()
	ticks, err1 := tw.st.count(`SELECT COUNT(*) FROM alarm_ticks`)
	cps, err2 := tw.st.count(`SELECT COUNT(*) FROM checkpoints`)
	oldest, err3 := tw.st.meta(metaHistoryFrom)
	tw.mu.Unlock()
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if ticks < 12 || ticks > 24 || cps != 2 || oldest == "" {
		t.Fatalf("after pruning: %d ticks kept (want 12..24), %d checkpoints (want 2), history from %q", ticks, cps, oldest)
	}

	code, body := call(t, f.Handler(), http.MethodPost, "/debug/towns/town-01/replay-events",
		`{"from":"`+ts(from)+`","to":"`+ts(to)+`","mode":"faithful"}`)
	if code != http.StatusOK {
		t.Fatalf("faithful replay: %d %s", code, body)
	}
	var got struct {
		StateSnapshot json.RawMessage `json:"stateSnapshot"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.StateSnapshot, atTo) {
		t.Errorf("snapshot differs:\n got %s\nwant %s", got.StateSnapshot, atTo)
	}

	code, body = call(t, f.Handler(), http.MethodPost, "/debug/towns/town-01/replay-events",
		`{"from":"2026-11-28T09:00:00.000Z","to":"`+ts(to)+`","mode":"faithful"}`)
	want := `{"error":"History before ` + oldest + ` has been pruned; a faithful replay must start at or after it."}`
	if code != http.StatusBadRequest || string(body) != want {
		t.Errorf("replay from pruned history: %d %s, want 400 %s", code, body, want)
	}
}

package alerts

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
)

const crashTowns = 50

// crashTick is one tick of the sidecar over crashTowns towns that all open
// a violation, on the given tracker.
func crashTick(tr *dedupe.Tracker) []dedupe.Transition {
	var ts []dedupe.Transition
	for i := range crashTowns {
		ts = append(ts, tr.Observe(fmt.Sprintf("town-%02d", i), true, []gastown.Violation{noHook})...)
	}
	return ts
}

// TestCrashHelperProcess is the sidecar that gets killed: it runs one tick,
// enqueues, optionally saves the tracker, sends what its limiter allows (the
// burst of 20), says READY and waits for SIGKILL.
func TestCrashHelperProcess(t *testing.T) {
	dir := os.Getenv("TICKWATCH_CRASH_DIR")
	if dir == "" {
		t.Skip("helper process for TestKilledWithPendingOutbox")
	}
	now := func() time.Time { return t0 }
	tr, err := dedupe.OpenTracker(dir, dedupe.Options{OpenAfter: 1, ResolveAfter: 1}, now, nil)
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	cfg := sentryCfg(os.Getenv("TICKWATCH_CRASH_DSN"))
	cfg.MaxEventsPerSecond, cfg.Burst = 0.0001, 20
	n, err := NewNotifier(cfg, 0, dir, now, slog.New(slog.DiscardHandler))
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	if err := n.Enqueue(crashTick(tr)); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	if os.Getenv("TICKWATCH_CRASH_SAVE") == "1" {
		if err := tr.Save(); err != nil {
			fmt.Println("ERROR", err)
			os.Exit(2)
		}
	}
	n.SendDue(context.Background())
	fmt.Printf("READY %d\n", n.Stats().Sent)
	select {}
}

// runAndKill runs the test named helper in a child process with env added,
// waits for the line it prints when ready, which must be ready, and kills
// it with SIGKILL.
func runAndKill(t *testing.T, helper string, env []string, ready string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	said := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "READY") || strings.HasPrefix(l, "ERROR") {
				said <- l
				return
			}
		}
		said <- "EOF"
	}()
	select {
	case l := <-said:
		if l != ready {
			_ = cmd.Process.Kill()
			t.Fatalf("helper said %q, want %q", l, ready)
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("helper not ready within 30s")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// TestKilledWithPendingOutbox kills the sidecar (SIGKILL) with transitions
// still in the outbox and starts it again on the same state directory:
// every transition arrives, none twice, whether or not the tracker saved
// its state before the kill.
func TestKilledWithPendingOutbox(t *testing.T) {
	for _, tc := range []struct {
		name      string
		saved     bool
		reissued  int // transitions the restarted tracker issues again
		wantDupes uint64
	}{
		{"killed after the tracker saved", true, 0, 0},
		{"killed between Enqueue and Save", false, crashTowns, crashTowns},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sentrytest.NewServer()
			defer srv.Close()
			dir := t.TempDir()

			env := []string{"TICKWATCH_CRASH_DIR=" + dir, "TICKWATCH_CRASH_DSN=" + srv.DSN()}
			if tc.saved {
				env = append(env, "TICKWATCH_CRASH_SAVE=1")
			}
			runAndKill(t, "TestCrashHelperProcess", env, "READY 20")
			if got := len(srv.Events()); got != 20 {
				t.Fatalf("%d events before the kill, want 20", got)
			}

			// Restart on the same directory.
			c := newClock()
			tr, err := dedupe.OpenTracker(dir, dedupe.Options{OpenAfter: 1, ResolveAfter: 1}, c.Now, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			h := &harness{t: t, srv: srv, clock: c, dir: dir, cfg: sentryCfg(srv.DSN()), logs: &syncBuffer{}}
			h.cfg.MaxEventsPerSecond, h.cfg.Burst = 1000, 100
			h.open()
			if got := h.n.Stats().Pending; got != crashTowns-20 {
				t.Fatalf("pending after restart %d, want %d", got, crashTowns-20)
			}
			if !strings.Contains(h.logs.String(), "sentry outbox has events from a previous run") {
				t.Errorf("no log line about the pending events")
			}
			again := crashTick(tr)
			if len(again) != tc.reissued {
				t.Fatalf("restarted tracker issued %d transitions, want %d", len(again), tc.reissued)
			}
			h.enqueue(again)
			h.drain()
			evs := srv.Events()
			ids := eventIDs(evs)
			if len(evs) != crashTowns || len(ids) != crashTowns {
				t.Fatalf("%d events, %d distinct ids, want %d of each", len(evs), len(ids), crashTowns)
			}
			if got := h.n.Stats(); got != (Stats{Sent: crashTowns - 20, Duplicates: tc.wantDupes}) {
				t.Errorf("stats after restart %+v", got)
			}
		})
	}
}

// TestResolveCrashHelperProcess is a sidecar that gets killed between a
// violation's event and its resolve: it opens the violation and sends the
// event, observes it cleared and enqueues the resolve, optionally saves the
// tracker, optionally takes the resolve as far as Sentry lets it, says READY
// and waits for SIGKILL.
func TestResolveCrashHelperProcess(t *testing.T) {
	dir := os.Getenv("TICKWATCH_RESOLVE_DIR")
	if dir == "" {
		t.Skip("helper process for TestKilledBetweenEventAndResolve")
	}
	fail := func(err error) {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	now := func() time.Time { return t0 }
	tr, err := dedupe.OpenTracker(dir, dedupe.Options{OpenAfter: 1, ResolveAfter: 1}, now, nil)
	if err != nil {
		fail(err)
	}
	cfg := sentryCfg(os.Getenv("TICKWATCH_RESOLVE_DSN"))
	cfg.AuthTokenFile, cfg.Organization = os.Getenv("TICKWATCH_RESOLVE_TOKEN_FILE"), "tickwatch-org"
	n, err := NewNotifier(cfg, 0, dir, now, slog.New(slog.DiscardHandler), WithOpenViolations(tr.AllOpenViolations))
	if err != nil {
		fail(err)
	}
	for i, vs := range [][]gastown.Violation{{noHook}, nil} {
		if err := n.Enqueue(tr.Observe("town-a", true, vs)); err != nil {
			fail(err)
		}
		if i == 0 || os.Getenv("TICKWATCH_RESOLVE_SAVE") == "1" {
			if err := tr.Save(); err != nil {
				fail(err)
			}
		}
		if i == 0 || os.Getenv("TICKWATCH_RESOLVE_SEND") == "1" {
			n.SendDue(context.Background())
		}
	}
	s := n.Stats()
	fmt.Printf("READY sent=%d lookups=%d pending=%d\n", s.Sent, s.Lookup.Success, s.Pending)
	select {}
}

// TestKilledBetweenEventAndResolve kills the sidecar (SIGKILL) after the
// violation's event was accepted and before its issue was resolved, at two
// points: before the lookup, and after the lookup with the resolve refused
// by a 503. Restarted on the same state directory, it resolves the issue
// once, sends no second event, and looks the issue up only if it had not
// yet: the group id survived the kill.
func TestKilledBetweenEventAndResolve(t *testing.T) {
	issues := "PUT /api/0/organizations/tickwatch-org/issues/1000/"
	const lookup = "LOOKUP" // the opened event's id holds the state directory's origin, known after the run
	for _, tc := range []struct {
		name       string
		save, send bool
		script     []sentrytest.Reply
		ready      string
		calls      []string
		dupes      uint64
	}{
		{"before the lookup, tracker saved", true, false, nil, "READY sent=1 lookups=0 pending=1",
			[]string{lookup + " 200", issues + " 200"}, 0},
		{"before the lookup, tracker not saved", false, false, nil, "READY sent=1 lookups=0 pending=1",
			[]string{lookup + " 200", issues + " 200"}, 1},
		{"after the lookup", true, true, []sentrytest.Reply{sentrytest.Pass, {Status: 503}}, "READY sent=1 lookups=1 pending=1",
			[]string{lookup + " 200", issues + " 503", issues + " 200"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := sentrytest.NewServer()
			defer srv.Close()
			srv.AddToken(token, allScopes...)
			srv.APIScript(tc.script...)
			dir, tokenFile := t.TempDir(), writeToken(t, token)

			env := []string{"TICKWATCH_RESOLVE_DIR=" + dir, "TICKWATCH_RESOLVE_DSN=" + srv.DSN(), "TICKWATCH_RESOLVE_TOKEN_FILE=" + tokenFile}
			if tc.save {
				env = append(env, "TICKWATCH_RESOLVE_SAVE=1")
			}
			if tc.send {
				env = append(env, "TICKWATCH_RESOLVE_SEND=1")
			}
			runAndKill(t, "TestResolveCrashHelperProcess", env, tc.ready)

			c := newClock()
			tr, err := dedupe.OpenTracker(dir, dedupe.Options{OpenAfter: 1, ResolveAfter: 1}, c.Now, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			h := &harness{t: t, srv: srv, clock: c, dir: dir, cfg: sentryCfg(srv.DSN()), logs: &syncBuffer{}}
			h.cfg.AuthTokenFile, h.cfg.Organization = tokenFile, srv.Org
			h.open(WithOpenViolations(tr.AllOpenViolations))
			h.enqueue(tr.Observe("town-a", true, nil)) // the poll after the restart: still clear
			h.drain()
			opened := transition("town-a", dedupe.Opened, 1)
			opened.Origin = dedupe.EpochOrigin(tr.Origin(), t0) // its first transition's day
			want := slices.Clone(tc.calls)
			for i := range want {
				want[i] = strings.Replace(want[i], lookup, "GET /api/0/organizations/tickwatch-org/eventids/"+EventID(opened)+"/", 1)
			}
			if got := calls(srv); !reflect.DeepEqual(got, want) {
				t.Errorf("API calls over both runs:\n%q\nwant\n%q", got, want)
			}
			if evs := srv.Events(); len(evs) != 1 || evs[0].Level != "error" {
				t.Errorf("%d events over both runs, want the one opened", len(evs))
			}
			if is := srv.Issues(); len(is) != 1 || is[0].Status != "resolved" || is[0].Resolves != 1 {
				t.Errorf("issues %+v, want one, resolved once", is)
			}
			if got := h.n.Stats(); got.Duplicates != tc.dupes || got.Resolve.Success != 1 || got.Pending != 0 {
				t.Errorf("stats after the restart %+v", got)
			}
		})
	}
}

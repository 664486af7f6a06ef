package alerts

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
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

			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$", "-test.v")
			cmd.Env = append(os.Environ(), "TICKWATCH_CRASH_DIR="+dir, "TICKWATCH_CRASH_DSN="+srv.DSN())
			if tc.saved {
				cmd.Env = append(cmd.Env, "TICKWATCH_CRASH_SAVE=1")
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			ready := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					if l := sc.Text(); strings.HasPrefix(l, "READY") || strings.HasPrefix(l, "ERROR") {
						ready <- l
						return
					}
				}
				ready <- "EOF"
			}()
			select {
			case l := <-ready:
				if l != "READY 20" {
					_ = cmd.Process.Kill()
					t.Fatalf("helper said %q, want READY 20", l)
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatal("helper not ready within 30s")
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
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

package simtown

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

func TestAlarmCadence(t *testing.T) {
	tests := []struct {
		name       string
		speed      float64
		idleEvery  time.Duration
		idle       bool
		wantNext   time.Duration // after a tick at t0+10s
		wantMs     int64
		wantLabel  string
		wantActive bool
	}{
		{"active", 1, 0, false, 5 * time.Second, 5000, "active (5s)", true},
		{"active at speed 10", 10, 0, false, 500 * time.Millisecond, 5000, "active (5s)", true},
		{"idle", 1, 0, true, 60 * time.Second, 60000, "idle (60s)", false},
		{"idle at speed 10", 10, 0, true, 6 * time.Second, 60000, "idle (60s)", false},
		{"idle, later versions", 1, 5 * time.Minute, true, 5 * time.Minute, 300000, "idle (5m)", false},
		{"idle, later versions at speed 10", 10, 5 * time.Minute, true, 30 * time.Second, 300000, "idle (5m)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFleet(t, Options{Speed: tt.speed, IdleInterval: tt.idleEvery})
			tw := f.byID["town-01"]
			if tt.idle {
				// A town with nothing left to do and no new work coming.
				for _, q := range []string{`DELETE FROM agent_metadata`, `DELETE FROM beads`, `UPDATE town_events SET processed_at = created_at`} {
					if err := tw.st.exec(q); err != nil {
						t.Fatal(err)
					}
				}
				tw.busy = 0
			}
			at := c.Advance(10 * time.Second)
			next, err := tw.tick(context.Background(), at)
			if err != nil {
				t.Fatal(err)
			}
			if next.Sub(at) != tt.wantNext || tw.active != tt.wantActive {
				t.Errorf("next alarm in %s (active %v), want %s (%v)", next.Sub(at), tw.active, tt.wantNext, tt.wantActive)
			}
			_, body := call(t, f.Handler(), http.MethodGet, "/debug/towns/town-01/status", "")
			a := decode[gastown.Status](t, body).AlarmStatus.Alarm
			if a.IntervalMs != tt.wantMs || a.IntervalLabel != tt.wantLabel || a.NextFireAt == nil || !a.NextFireAt.Equal(next) {
				t.Errorf("alarm = %+v, want %d %q next %s", a, tt.wantMs, tt.wantLabel, next)
			}
		})
	}
}

// intervalMs and intervalLabel follow the town's work at the time of the
// call, nextFireAt the alarm the last tick armed: work that arrives in an
// idle town says "active (5s)" while the alarm is still a minute away, and
// the next tick re-arms from its own end.
func TestLabelFollowsWorkAlarmStaysArmed(t *testing.T) {
	f, c := newFleet(t, Options{})
	tw := f.byID["town-01"]
	for _, q := range []string{`DELETE FROM agent_metadata`, `DELETE FROM beads`, `UPDATE town_events SET processed_at = created_at`} {
		if err := tw.st.exec(q); err != nil {
			t.Fatal(err)
		}
	}
	tw.busy = 0
	alarm := func() gastown.Alarm {
		_, body := call(t, f.Handler(), http.MethodGet, "/debug/towns/town-01/status", "")
		return decode[gastown.Status](t, body).AlarmStatus.Alarm
	}
	at := c.Advance(10 * time.Second)
	next, err := tw.tick(context.Background(), at)
	if err != nil {
		t.Fatal(err)
	}
	if a := alarm(); a.IntervalLabel != "idle (60s)" || !a.NextFireAt.Equal(at.Add(time.Minute)) {
		t.Fatalf("idle town: %+v", a)
	}
	c.Advance(20 * time.Second)
	if err := f.SetFault("town-01", Fault{QueueDepth: 3}); err != nil { // work arrives
		t.Fatal(err)
	}
	if a := alarm(); a.IntervalLabel != "active (5s)" || a.IntervalMs != 5000 || !a.NextFireAt.Equal(next) {
		t.Errorf("after work arrived: %+v, want active (5s) with the alarm still at %s", a, next)
	}
	// The tick runs at its alarm and takes two seconds; it re-arms five
	// seconds after it ends.
	c.Advance(next.Sub(c.Now()) + 2*time.Second)
	if _, err := tw.tick(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if a := alarm(); !a.NextFireAt.Equal(next.Add(7 * time.Second)) {
		t.Errorf("after a two-second tick at %s: next alarm %v, want %s", next, a.NextFireAt, next.Add(7*time.Second))
	}
}

// First alarms are spread over one interval; each town then re-arms itself.
func TestSchedulerStaggersAndRearms(t *testing.T) {
	f, c := newFleet(t, Options{Towns: 4})
	steps := []struct {
		advance time.Duration
		ticks   int
	}{
		{0, 1},                      // town-01 at t0
		{1 * time.Second, 0},        // town-02 is due at t0+1.25s
		{3 * time.Second, 3},        // town-02..04 by t0+4s
		{1 * time.Second, 1},        // town-01 again at t0+5s
		{5 * time.Second, 4},        // everyone once more by t0+10s
		{500 * time.Millisecond, 0}, // nobody is due twice
	}
	for i, s := range steps {
		n, err := f.runDue(c.Advance(s.advance))
		if err != nil {
			t.Fatal(err)
		}
		if n != s.ticks {
			t.Errorf("step %d (t0+%s): %d ticks, want %d", i, c.Now().Sub(t0), n, s.ticks)
		}
	}
}

// Start drives the same scheduler on real timers; at speed 1000 an alarm
// fires every 5 ms, so every town ticks within a bounded wait.
func TestStartTicksEveryTownUntilCancelled(t *testing.T) {
	f, err := New(Options{Towns: 30, Speed: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); f.Start(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ticked := 0
		for _, tw := range f.towns {
			tw.mu.Lock()
			if tw.metrics != nil {
				ticked++
			}
			tw.mu.Unlock()
		}
		if ticked == len(f.towns) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d towns ticked", ticked, len(f.towns))
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait() // Start returns once ctx is done
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

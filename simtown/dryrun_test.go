package simtown

import (
	"bytes"
	"net/http"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

func TestDryRunLeavesDatabaseByteIdentical(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		run     time.Duration
		fault   Fault
		drained int // exact eventsDrained; -1: whatever is pending
	}{
		{name: "fresh town, bootstrap events pending", drained: 8}, // mayor, 3 refineries, 2 polecats, 2 issues
		{name: "busy town after ten minutes", opts: Options{Seed: 3, FaultRate: 0.05, DryRunViolations: true}, run: 10 * time.Minute, drained: -1},
		{name: "deep queue", run: time.Minute, fault: Fault{QueueDepth: 60}, drained: 60},
		{name: "invariant broken on purpose", opts: Options{DryRunViolations: true}, run: time.Minute, fault: Fault{BreakInvariant: 6}, drained: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFleet(t, tt.opts)
			run(t, f, c, tt.run)
			if tt.fault != (Fault{}) {
				if err := f.SetFault("town-01", tt.fault); err != nil {
					t.Fatal(err)
				}
			}
			tw := f.byID["town-01"]
			if got := tw.rigs; !reflect.DeepEqual(got, []string{"rig-main", "rig-web", "rig-api"}) {
				t.Fatalf("rigs = %v; the bootstrap count assumes three", got)
			}
			want := pending(t, tw)
			if want == 0 {
				t.Fatal("no events pending: the dry run would have nothing to roll back")
			}
			if tt.drained >= 0 && want != tt.drained {
				t.Fatalf("pending before the dry run = %d, want %d", want, tt.drained)
			}
			before := digests(t, tw)
			code, body := call(t, f.Handler(), http.MethodPost, "/debug/towns/town-01/reconcile-dry-run", "")
			if code != http.StatusOK {
				t.Fatalf("dry run: %d %s", code, body)
			}
			if after := digests(t, tw); !reflect.DeepEqual(before, after) {
				t.Fatalf("dry run changed the database:\nbefore %v\nafter  %v", before, after)
			}
			d := decode[gastown.DryRun](t, body)
			if d.Metrics.EventsDrained != want || d.Metrics.PendingEventCount != 0 {
				t.Errorf("metrics = %+v, want eventsDrained %d and pendingEventCount 0", d.Metrics, want)
			}
			// Like Gastown's, the dry run names no violations unless asked
			// to; then it always has a list.
			if hasKey := bytes.Contains(body, []byte(`"violations":`)); hasKey != tt.opts.DryRunViolations || (hasKey && d.Violations == nil) {
				t.Errorf("violations %v in %s with DryRunViolations %v", d.Violations, body, tt.opts.DryRunViolations)
			}
			if d.Metrics.ActionsEmitted != len(d.Actions) {
				t.Errorf("actionsEmitted %d, but %d actions", d.Metrics.ActionsEmitted, len(d.Actions))
			}
		})
	}
}

// Two towns with the same seed run the same ticks; one of them is hammered
// with dry runs meanwhile, from another goroutine. If a dry run left any trace
// (or touched the workload's random stream), the two would drift apart.
func TestDryRunBesideAlarmLoopLeavesNoTrace(t *testing.T) {
	a, ca := newFleet(t, Options{Seed: 11, FaultRate: 0.1, SideEffectFailureRate: 0.1})
	b, cb := newFleet(t, Options{Seed: 11, FaultRate: 0.1, SideEffectFailureRate: 0.1})
	stop := make(chan struct{})
	var dryRuns atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			code, body := call(t, a.Handler(), http.MethodPost, "/debug/towns/town-01/reconcile-dry-run", "")
			if code != http.StatusOK {
				t.Errorf("dry run: %d %s", code, body)
				return
			}
			dryRuns.Add(1)
		}
	}()
	for i := 0; i < 600; i++ {
		now := ca.Advance(time.Second)
		cb.Advance(time.Second)
		if _, err := a.runDue(now); err != nil {
			t.Fatal(err)
		}
		if _, err := b.runDue(now); err != nil {
			t.Fatal(err)
		}
		runtime.Gosched() // let the dry runs interleave with the ticks
	}
	close(stop)
	wg.Wait()
	if dryRuns.Load() < 10 {
		t.Fatalf("only %d dry runs ran beside the loop", dryRuns.Load())
	}
	da, db := digests(t, a.byID["town-01"]), digests(t, b.byID["town-01"])
	if !reflect.DeepEqual(da, db) {
		t.Fatalf("after %d dry runs the towns differ:\nwith    %v\nwithout %v", dryRuns.Load(), da, db)
	}
	if da["alarm_ticks"] == "0 rows" {
		t.Fatal("no ticks ran")
	}
}

package main

import (
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
)

func TestMemoryLimitFlag(t *testing.T) {
	for args, want := range map[string]memoryLimit{
		"":                     {auto: true},
		"--memory.limit=auto":  {auto: true},
		"--memory.limit=64MiB": {bytes: 64 << 20},
		"--memory.limit=1GiB":  {bytes: 1 << 30},
		"--memory.limit=0":     {},
	} {
		app := kingpin.New("t", "")
		cmd := app.Command("run", "")
		limit := addMemoryLimit(cmd)
		argv := []string{"run"}
		if args != "" {
			argv = append(argv, args)
		}
		if _, err := app.Parse(argv); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if got := limit(); got != want {
			t.Errorf("%q: %+v, want %+v", args, got, want)
		}
	}
	for _, bad := range []string{"abc", "-1MiB", "12 parsecs", "automatic"} {
		app := kingpin.New("t", "")
		addMemoryLimit(app.Command("run", ""))
		if _, err := app.Parse([]string{"run", "--memory.limit=" + bad}); err == nil || !strings.Contains(err.Error(), `memory.limit "`+bad+`": want auto, a size`) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestAutoMemoryLimit(t *testing.T) {
	const MiB = 1 << 20
	if got := autoMemoryLimit(10000, 18e6); got < 44*MiB || got > 46*MiB {
		t.Errorf("10,000 towns: %.1f MiB, want the 44-46 MiB the footprint table measured", float64(got)/MiB)
	}
	if got := autoMemoryLimit(0, 3e6); got != autoLimitBase {
		t.Errorf("no towns: %d, want the base", got)
	}
	if small, large := autoMemoryLimit(1000, 5e6), autoMemoryLimit(100000, 5e6); small >= large {
		t.Errorf("the limit must grow with the fleet: %d at 1,000, %d at 100,000", small, large)
	}
	// A heap heavier than the towns' share: the limit keeps half again above it.
	if got := autoMemoryLimit(10000, 60e6); got < 90e6 {
		t.Errorf("60 MB live at 10,000 towns: limit %d leaves the collector no room", got)
	}
}

func TestAutoLimitFollowsTheFleet(t *testing.T) {
	var set []int64
	live := uint64(0)
	a := &autoLimit{
		set:      func(l int64) int64 { set = append(set, l); return 0 },
		liveHeap: func() uint64 { return live },
		logger:   slog.New(slog.DiscardHandler),
	}
	a.watch(10000)
	a.watch(10000)
	a.watch(10001) // 2.1 KB more: not worth a call
	if len(set) != 1 || set[0] != autoMemoryLimit(10000, 0) {
		t.Fatalf("calls %v, want one with the limit of 10,000 towns", set)
	}
	a.watch(2000) // the fleet shrank: so does the limit
	live = 100e6  // and a heavy heap lifts it
	a.watch(2000)
	if len(set) != 3 || set[1] != autoMemoryLimit(2000, 0) || set[2] != autoMemoryLimit(2000, 100e6) || set[2] <= set[0] {
		t.Errorf("calls %v", set)
	}
}

func TestApplyMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	logger := slog.New(slog.DiscardHandler)
	noEnv := func(string) (string, bool) { return "", false }

	debug.SetMemoryLimit(math.MaxInt64)
	if f := applyMemoryLimit(memoryLimit{bytes: 64 << 20}, noEnv, logger); f != nil || debug.SetMemoryLimit(-1) != 64<<20 {
		t.Errorf("fixed: runtime %d, updater %v", debug.SetMemoryLimit(-1), f != nil)
	}
	debug.SetMemoryLimit(math.MaxInt64)
	if f := applyMemoryLimit(memoryLimit{}, noEnv, logger); f != nil || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("0 must leave the runtime without a limit: %d", debug.SetMemoryLimit(-1))
	}
	// auto sets nothing before the first town list, then follows it.
	f := applyMemoryLimit(memoryLimit{auto: true}, noEnv, logger)
	if f == nil || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Fatalf("auto: runtime %d before any town list", debug.SetMemoryLimit(-1))
	}
	f(10000) // the test's own heap is far below the towns' share
	if got, want := debug.SetMemoryLimit(-1), autoMemoryLimit(10000, 0); got != want {
		t.Errorf("auto at 10,000 towns: runtime %d, want %d", got, want)
	}
	// GOMEMLIMIT, read by the runtime at start, wins over the flag, auto too.
	debug.SetMemoryLimit(200 << 20)
	env := func(k string) (string, bool) { return "200MiB", k == "GOMEMLIMIT" }
	for _, l := range []memoryLimit{{bytes: 64 << 20}, {auto: true}} {
		if f := applyMemoryLimit(l, env, logger); f != nil || debug.SetMemoryLimit(-1) != 200<<20 {
			t.Errorf("GOMEMLIMIT against %+v: runtime %d, updater %v", l, debug.SetMemoryLimit(-1), f != nil)
		}
	}
}

func TestLiveHeapIsRead(t *testing.T) {
	keep := make([]byte, 4<<20)
	runtime.GC()
	if got := liveHeap(); got < 4<<20 {
		t.Errorf("live heap %d with 4 MiB held", got)
	}
	runtime.KeepAlive(keep)
}

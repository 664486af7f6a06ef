package main

import (
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
)

func TestMemoryLimitFlag(t *testing.T) {
	for args, want := range map[string]int64{
		"":                     0,
		"--memory.limit=64MiB": 64 << 20,
		"--memory.limit=1GiB":  1 << 30,
		"--memory.limit=0":     0,
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
			t.Errorf("%q: %d, want %d", args, got, want)
		}
	}
	for _, bad := range []string{"abc", "-1MiB", "12 parsecs"} {
		app := kingpin.New("t", "")
		addMemoryLimit(app.Command("run", ""))
		if _, err := app.Parse([]string{"run", "--memory.limit=" + bad}); err == nil || !strings.Contains(err.Error(), `memory.limit "`+bad+`": want a size`) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestApplyMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	logger := slog.New(slog.DiscardHandler)
	noEnv := func(string) (string, bool) { return "", false }

	debug.SetMemoryLimit(math.MaxInt64)
	if got := applyMemoryLimit(64<<20, noEnv, logger); got != 64<<20 || debug.SetMemoryLimit(-1) != 64<<20 {
		t.Errorf("flag: in force %d, runtime %d", got, debug.SetMemoryLimit(-1))
	}
	debug.SetMemoryLimit(math.MaxInt64)
	if got := applyMemoryLimit(0, noEnv, logger); got != math.MaxInt64 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("0 must leave the runtime without a limit: %d", got)
	}
	// GOMEMLIMIT, read by the runtime at start, wins over the flag.
	debug.SetMemoryLimit(200 << 20)
	env := func(k string) (string, bool) { return "200MiB", k == "GOMEMLIMIT" }
	if got := applyMemoryLimit(64<<20, env, logger); got != 200<<20 || debug.SetMemoryLimit(-1) != 200<<20 {
		t.Errorf("GOMEMLIMIT: in force %d, runtime %d", got, debug.SetMemoryLimit(-1))
	}
}

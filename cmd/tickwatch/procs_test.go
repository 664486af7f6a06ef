package main

import (
	"log/slog"
	"runtime"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
)

func TestMaxProcsFlag(t *testing.T) {
	parse := func(args ...string) (maxProcs, error) {
		app := kingpin.New("t", "")
		p := addMaxProcs(app.Command("run", ""))
		_, err := app.Parse(append([]string{"run"}, args...))
		return p(), err
	}
	t.Setenv("GOMAXPROCS", "")
	if p, err := parse(); err != nil || p != 1 {
		t.Fatalf("default: %d, %v; want 1", p, err)
	}
	if p, err := parse("--runtime.gomaxprocs=3"); err != nil || p != 3 {
		t.Fatalf("--runtime.gomaxprocs=3: %d, %v", p, err)
	}
	t.Setenv("GOMAXPROCS", "2")
	if p, err := parse(); err != nil || p != 2 {
		t.Fatalf("GOMAXPROCS=2: %d, %v; want 2", p, err)
	}
	if p, err := parse("--runtime.gomaxprocs=0"); err != nil || p != 0 {
		t.Fatalf("the flag over GOMAXPROCS=2: %d, %v; want 0", p, err)
	}
	for _, bad := range []string{"many", "-1", "1.5"} {
		t.Setenv("GOMAXPROCS", bad)
		if _, err := parse(); err == nil || !strings.Contains(err.Error(), `runtime.gomaxprocs (or GOMAXPROCS) "`+bad+`": want 1 or more`) {
			t.Errorf("GOMAXPROCS=%s: %v", bad, err)
		}
	}
}

func TestApplyMaxProcs(t *testing.T) {
	was := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(was)
	logger := slog.New(slog.DiscardHandler)
	maxProcs(1).apply(logger)
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("1: GOMAXPROCS %d", got)
	}
	maxProcs(0).apply(logger)
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("0 must leave GOMAXPROCS as it was (1): %d", got)
	}
}

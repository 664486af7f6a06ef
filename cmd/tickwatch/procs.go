package main

import (
	"fmt"
	"log/slog"
	"runtime"
	"strconv"

	"github.com/alecthomas/kingpin/v2"
)

// maxProcs is --runtime.gomaxprocs: the processors Go runs code on at once,
// 0 for the runtime's own choice.
type maxProcs int

func (p *maxProcs) String() string { return strconv.Itoa(int(*p)) }

func (p *maxProcs) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("runtime.gomaxprocs (or GOMAXPROCS) %q: want 1 or more, or 0 for the runtime's choice", s)
	}
	*p = maxProcs(n)
	return nil
}

// addMaxProcs adds --runtime.gomaxprocs to a command, as node_exporter has
// it: GOMAXPROCS in the environment sets it too. Read it once parsed.
//
// The default is one. A poll mostly waits on the network: at 10,000 towns
// every 5 s the sidecar keeps about a quarter of one CPU busy. With a second
// processor the runtime wakes another thread whenever an answer arrives
// while a goroutine runs, and that thread looks for work on the other's
// queue (README, Footprint at fleet scale).
func addMaxProcs(cmd *kingpin.CmdClause) func() maxProcs {
	p := maxProcs(1)
	cmd.Flag("runtime.gomaxprocs", "The number of CPUs Go runs code on at once (GOMAXPROCS, which sets it too). 0 leaves the runtime's choice: every CPU the process may use.").
		Envar("GOMAXPROCS").Default("1").SetValue(&p)
	return func() maxProcs { return p }
}

// apply sets GOMAXPROCS; 0 leaves it as the runtime chose.
func (p maxProcs) apply(logger *slog.Logger) {
	if p > 0 {
		runtime.GOMAXPROCS(int(p))
	}
	logger.Debug("Go MAXPROCS", "procs", runtime.GOMAXPROCS(0))
}

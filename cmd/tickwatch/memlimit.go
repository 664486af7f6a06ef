package main

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
)

// The automatic soft memory limit of run: a base plus a share per watched
// town, never less than half again the live heap.
//
// At 10,000 towns it is 44 MiB, about the heap goal GOGC=100 sets there
// anyway. What it adds: the runtime counts its stacks and own structures in,
// and gives back the pages a collection freed instead of keeping them. Both
// clients at once, 10,000 towns, it took the high-water mark from 71-79 MiB
// to 59-62 for about 0.04 more on the CPU ratio to the bare client (README,
// Footprint at fleet scale). The guard keeps a fleet heavier than the share
// assumes (many open violations, long errors) from a collector that never
// rests: there the limit follows the heap, as GOGC=50 would.
const (
	autoLimitBase = 24 << 20
	// autoLimitPerTown follows the heap a town keeps: it was 2,200 until the
	// violation tracker's entries shrank by 130 bytes a town, and the
	// high-water mark at 10,000 towns went down with it (HTTPS, scrapes:
	// 57.8-57.9 MiB against 58.2-58.7, README).
	autoLimitPerTown = 2100 // bytes
	autoLimitSlack   = 8 << 20
	// autoLimitStep: smaller changes are not worth telling the runtime.
	autoLimitStep = 1 << 20
)

// autoMemoryLimit is the automatic limit for a fleet of towns and the live
// heap the last collection left.
func autoMemoryLimit(towns int, liveHeap uint64) int64 {
	return max(autoLimitBase+int64(towns)*autoLimitPerTown, int64(liveHeap)*3/2+autoLimitSlack)
}

// memoryLimit is --memory.limit: auto, or bytes (0: none).
type memoryLimit struct {
	auto  bool
	bytes int64
}

func (v *memoryLimit) String() string {
	if v.auto {
		return "auto"
	}
	return units.Base2Bytes(v.bytes).String()
}

func (v *memoryLimit) Set(s string) error {
	if strings.EqualFold(s, "auto") {
		*v = memoryLimit{auto: true}
		return nil
	}
	n, err := units.ParseBase2Bytes(s)
	if err != nil || n < 0 {
		return fmt.Errorf("memory.limit %q: want auto, a size such as 48MiB or 1GiB, or 0 for none", s)
	}
	*v = memoryLimit{bytes: int64(n)}
	return nil
}

// addMemoryLimit adds --memory.limit to a command; read it once parsed.
func addMemoryLimit(cmd *kingpin.CmdClause) func() memoryLimit {
	var limit memoryLimit
	cmd.Flag("memory.limit", "Soft memory limit of the Go runtime, as GOMEMLIMIT: the garbage collector works harder as the heap nears it. auto: 24MiB and 2.1KB per watched town, at least half again the live heap; a size (48MiB, 1GiB) fixes it; 0 sets none. GOMEMLIMIT in the environment wins.").
		Default("auto").SetValue(&limit)
	return func() memoryLimit { return limit }
}

// applyMemoryLimit sets the runtime's soft memory limit, unless GOMEMLIMIT
// set one (the runtime read it at start). For auto it returns what sizes the
// limit to the watched towns (sidecar.Options.WatchedTowns); otherwise nil.
func applyMemoryLimit(limit memoryLimit, lookupEnv func(string) (string, bool), logger *slog.Logger) func(towns int) {
	if v, ok := lookupEnv("GOMEMLIMIT"); ok {
		logger.Info("memory limit from GOMEMLIMIT", "GOMEMLIMIT", v, "bytes", debug.SetMemoryLimit(-1))
		return nil
	}
	if !limit.auto {
		if limit.bytes > 0 {
			debug.SetMemoryLimit(limit.bytes)
		}
		return nil
	}
	a := &autoLimit{set: debug.SetMemoryLimit, liveHeap: liveHeap, logger: logger}
	return a.watch
}

// autoLimit follows the watched towns with the runtime's memory limit.
// Until the first town list is read there is none.
type autoLimit struct {
	set      func(int64) int64
	liveHeap func() uint64
	logger   *slog.Logger
	last     int64
}

func (a *autoLimit) watch(towns int) {
	l := autoMemoryLimit(towns, a.liveHeap())
	if d := l - a.last; d > -autoLimitStep && d < autoLimitStep {
		return
	}
	a.set(l)
	a.last = l
	a.logger.Debug("memory limit", "towns", towns, "bytes", l)
}

// liveHeap is the heap the last collection found reachable.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

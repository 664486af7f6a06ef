package main

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
)

// defaultMemoryLimit is the soft limit of the Go runtime's heap for run:
// none. A limit trades CPU for memory, and only while the live heap stays
// well below it: at 10,000 towns (then 25-30 MB live) a 40 MiB limit held the
// steady RSS at 53 MiB instead of 76 but cost a third more CPU per poll, and
// the first ticks, when every town is new, go past it anyway. A fixed
// default would also turn into a collector running without pause on a
// fleet twice that size (README, Footprint at fleet scale).
const defaultMemoryLimit = "0"

// addMemoryLimit adds --memory.limit to a command; read it once parsed.
func addMemoryLimit(cmd *kingpin.CmdClause) func() int64 {
	var limit sizeValue
	cmd.Flag("memory.limit", "Soft memory limit of the Go runtime, as GOMEMLIMIT: the garbage collector works harder as the heap nears it (e.g. 48MiB, 1GiB; 0, the default, sets none). GOMEMLIMIT in the environment wins.").
		Default(defaultMemoryLimit).SetValue(&limit)
	return func() int64 { return int64(limit) }
}

// sizeValue is a flag's size in bytes, written as 48MiB or 1GiB.
type sizeValue units.Base2Bytes

func (v *sizeValue) String() string { return units.Base2Bytes(*v).String() }

func (v *sizeValue) Set(s string) error {
	n, err := units.ParseBase2Bytes(s)
	if err != nil || n < 0 {
		return fmt.Errorf("memory.limit %q: want a size such as 48MiB or 1GiB, or 0 for none", s)
	}
	*v = sizeValue(n)
	return nil
}

// applyMemoryLimit sets the runtime's soft memory limit, unless GOMEMLIMIT
// set one (the runtime read it at start) or limit is 0. It returns the
// limit in force, and says where it came from.
func applyMemoryLimit(limit int64, lookupEnv func(string) (string, bool), logger *slog.Logger) int64 {
	if v, ok := lookupEnv("GOMEMLIMIT"); ok {
		cur := debug.SetMemoryLimit(-1)
		logger.Info("memory limit from GOMEMLIMIT", "GOMEMLIMIT", v, "bytes", cur)
		return cur
	}
	if limit <= 0 {
		return debug.SetMemoryLimit(-1)
	}
	debug.SetMemoryLimit(limit)
	return limit
}

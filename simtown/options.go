package simtown

import (
	"io"
	"log/slog"
	"time"
)

// Options configure a Fleet. The zero value of every field is usable.
type Options struct {
	Towns     int              // number of towns, ids "town-01".. (zero-padded, stable)
	Seed      int64            // workload seed: the same seed gives the same event stream
	Speed     float64          // >1 shortens the 5s/60s alarm cadence (10 => 0.5s/6s); <=0 means 1
	FaultRate float64          // chance per tick to break an invariant for a while (0 = never)
	Dir       string           // where the per-town SQLite files live; "" = a temp dir removed on Close
	Now       func() time.Time // optional clock; default time.Now
	Logger    *slog.Logger

	// SideEffectFailureRate is the chance that one simulated side effect fails.
	SideEffectFailureRate float64
	// SideEffectLatency is how long one simulated side effect takes (slept
	// outside the town's lock, so dry runs are not held up by it).
	SideEffectLatency time.Duration
	// Fault is applied to every town at start (the knobs of the command's flags).
	Fault Fault
	// MaxDrain bounds the events one tick drains (default 1000).
	MaxDrain int
	// Workers run due ticks in parallel (default 2 x GOMAXPROCS).
	Workers int
	// CheckpointEvery is how many alarm ticks pass between copies of a
	// town's state (default 720, an hour of active ticks). Two are kept;
	// events and ticks older than the older one are pruned, so a town's
	// history stays between one and two checkpoint periods long.
	CheckpointEvery int
}

const (
	activeInterval = 5 * time.Second
	idleInterval   = 60 * time.Second
	// Nominal thresholds of the patrol, in units of the active interval so
	// that Speed compresses them too: nudge after 2 min, stall after 5 min.
	nudgeAfterTicks = 24
	stallAfterTicks = 60
	maxPolecats     = 5
	maxOpenIssues   = 12
	recentEventsMax = 10
	defaultMaxDrain = 1000

	defaultCheckpointEvery = 720
)

func (o *Options) normalize() {
	if o.Speed <= 0 {
		o.Speed = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.MaxDrain <= 0 {
		o.MaxDrain = defaultMaxDrain
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = defaultCheckpointEvery
	}
}

func (o *Options) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / o.Speed)
}

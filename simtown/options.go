package simtown

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Options configure a Fleet. The zero value of every field is usable.
type Options struct {
	Towns     int              // number of towns
	TownIDs   string           // IDsNumbered ("" = town-01, town-02, ...) or IDsUUID
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

	// How closely simtown plays the real worker. The zero values are
	// Gastown at the measured commit with its dry run working.

	// DryRunViolations adds "violations" (always a list) to the dry run, a
	// hypothetical future Gastown API: the real worker sends the messages
	// only to its own Sentry and analytics, and status carries the count.
	DryRunViolations bool
	// SavepointRefused answers every dry run and every valid replay of
	// every town with Gastown's 500, as workerd does when the worker opens
	// a SQL SAVEPOINT (the real code on the real runtime).
	SavepointRefused bool
	// IdleInterval is the alarm interval of an idle town: 60s (the
	// measured version, and the default) or 5m (later versions).
	IdleInterval time.Duration
	// Version "later" answers as later Gastown versions do: bead rows carry
	// rig_id, created_by, labels and metadata, status carries draining and
	// drainStartedAt.
	Version string
	// Access, when ClientID is set, requires Cloudflare Access
	// service-token headers on /debug/*, as later versions do.
	Access Access
}

// Town id styles of Options.TownIDs.
const (
	IDsNumbered = ""
	IDsUUID     = "uuid"
)

// Gastown versions of Options.Version.
const (
	VersionMeasured = ""      // commit 8422662, the one measured
	VersionLater    = "later" // the fields later versions add
)

// Access is a Cloudflare Access service token: requests to /debug/* must
// carry both as Cf-Access-Client-Id and Cf-Access-Client-Secret.
type Access struct {
	ClientID     string
	ClientSecret string
}

const (
	activeInterval = 5 * time.Second
	idleInterval   = 60 * time.Second
	// IdleIntervalLater is the idle interval of later Gastown versions.
	IdleIntervalLater = 5 * time.Minute
	// Nominal thresholds of the patrol, in units of the active interval so
	// that Speed compresses them too: nudge after 2 min, stall after 5 min.
	nudgeAfterTicks = 24
	stallAfterTicks = 60
	maxPolecats     = 5
	maxOpenIssues   = 12
	recentEventsMax = 20
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
	if o.IdleInterval == 0 {
		o.IdleInterval = idleInterval
	}
}

// validate reports the first option out of range (after normalize).
func (o *Options) validate() error {
	switch {
	case o.Towns < 0 || o.Towns > 100000:
		return fmt.Errorf("towns %d out of range [0, 100000]", o.Towns)
	case o.FaultRate < 0 || o.FaultRate > 1:
		return fmt.Errorf("fault rate %v out of range [0, 1]", o.FaultRate)
	case o.SideEffectFailureRate < 0 || o.SideEffectFailureRate > 1:
		return fmt.Errorf("side-effect failure rate %v out of range [0, 1]", o.SideEffectFailureRate)
	case o.SideEffectLatency < 0:
		return fmt.Errorf("side-effect latency %s is negative", o.SideEffectLatency)
	case o.IdleInterval != idleInterval && o.IdleInterval != IdleIntervalLater:
		return fmt.Errorf("idle interval %s is not one of Gastown's: 60s or 5m", o.IdleInterval)
	case o.TownIDs != IDsNumbered && o.TownIDs != IDsUUID:
		return fmt.Errorf("town id style %q is not %q or %q", o.TownIDs, "", IDsUUID)
	case o.Version != VersionMeasured && o.Version != VersionLater:
		return fmt.Errorf("version %q is not %q or %q", o.Version, "", VersionLater)
	case o.Access.ClientID == "" && o.Access.ClientSecret != "":
		return errors.New("an Access client secret needs a client id")
	case o.Access.ClientID != "" && o.Access.ClientSecret == "":
		return errors.New("an Access client id needs a client secret")
	}
	return nil
}

// idleLabel is how Gastown words its idle interval: "60s", "5m".
func idleLabel(d time.Duration) string {
	if d > time.Minute && d%time.Minute == 0 {
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

func (o *Options) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / o.Speed)
}

package exporter

import (
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

// TownState is what the polls of one town left to serve. It is never
// modified after it is stored, so a scrape can read it without locks.
type TownState struct {
	// Up: the town's reconciler was readable at the last poll (its status
	// call succeeded; its dry run, when status polling is off).
	Up          bool
	LastPoll    time.Time
	LastSuccess time.Time // zero: never succeeded
	Err         string    // why the last poll was not Up, for the status page
	// StatusCode is the HTTP status of the last status answer; 0 when none
	// came (a timeout, a refused connection) or status calls are off.
	StatusCode int

	// From the last status call; nil when it failed or is off.
	Status *StatusState
	// From the last dry-run call; nil until one was made. A poll that made
	// no dry run (see planDryRun) keeps the last one's: its values are At's.
	DryRun *DryRunState
}

// StatusState is the part of a town's status that becomes metrics and
// schedules its polls.
type StatusState struct {
	AlarmIntervalSeconds float64
	NextFireAt           time.Time // the armed alarm; zero when none is armed
	Ticking              bool      // an armed alarm or a last tick: see gastown.Status.Ticking
	Agents               gastown.AgentCounts
	Beads                gastown.BeadCounts
	LastTick             *LastTick // nil: the town restarted and has not ticked since
}

// DryRunState is the outcome of the town's last dry-run call.
type DryRunState struct {
	Up      bool
	At      time.Time // when the poll that made it started
	Code    int       // HTTP status of the answer; 0 when none came
	Seconds float64
	Err     string // why it failed

	// Valid only when Up.
	QueueDepth    int
	PendingEvents int
	Actions       []TypeCount
}

// LastTick mirrors ReconcilerMetrics of the town's last real alarm tick.
type LastTick struct {
	EventsDrained        int
	Actions              []TypeCount
	SideEffectsAttempted int
	SideEffectsSucceeded int
	SideEffectsFailed    int
	InvariantViolations  int
	WallClockSeconds     float64
	PendingEvents        int
}

// TypeCount is one action type and how many of it, in 8 bytes: the type is
// the index of its name among those the fleet has used. A town keeps two
// lists (the last tick's and the dry run's); with 24-byte entries of a
// string and an int they were over a third of its state with the sample
// answers (TestTownStateMemoryPerTown).
type TypeCount struct {
	typ   uint32
	Count int32
}

// NewTypeCount is n actions of type name.
func NewTypeCount(name string, n int) TypeCount {
	id, ok := actionTypes.id(name)
	if !ok {
		id = otherType
	}
	return TypeCount{id, count32(n)}
}

// Type is the action type's name.
func (tc TypeCount) Type() string { return actionTypes.name(tc.typ) }

func count32(n int) int32 { return int32(max(math.MinInt32, min(n, math.MaxInt32))) }

// OtherActionType collects the action types beyond the per-town cap, and
// the names beyond the fleet's.
const OtherActionType = "other"

const otherType = 0 // OtherActionType's index

// actionTypes holds each action type name the fleet used, once: a fleet
// uses a few dozen. A target that invents names stops being named at the
// cap.
var actionTypes = newTypeNames(4096)

// typeNames numbers names. Names are only added, so an index stays valid.
type typeNames struct {
	max   int
	ids   sync.Map                 // name -> uint32
	mu    sync.Mutex               // serialises additions
	names atomic.Pointer[[]string] // by index; read without the lock
}

func newTypeNames(max int) *typeNames {
	n := &typeNames{max: max}
	names := []string{OtherActionType}
	n.names.Store(&names)
	n.ids.Store(OtherActionType, uint32(otherType))
	return n
}

func (n *typeNames) name(id uint32) string { return (*n.names.Load())[id] }

// id is the index of name, added if new; false past the cap.
func (n *typeNames) id(name string) (uint32, bool) {
	if v, ok := n.ids.Load(name); ok {
		return v.(uint32), true
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if v, ok := n.ids.Load(name); ok {
		return v.(uint32), true
	}
	names := *n.names.Load()
	if len(names) >= n.max {
		return 0, false
	}
	name = strings.Clone(name) // never a slice of a larger answer
	id := uint32(len(names))
	names = append(names, name) // past the length every reader holds
	n.names.Store(&names)
	n.ids.Store(name, id)
	return id, true
}

// capTypes turns actionsByType counts into a list sorted by name of at most
// max types plus "other", so a misbehaving target cannot blow up the series
// count. It returns how many label values it folded into "other". When m
// holds what prev lists, it returns prev: a town's counts mostly repeat
// from poll to poll, and a state is never changed once stored.
func capTypes(m gastown.ActionCounts, max int, prev []TypeCount) ([]TypeCount, int) {
	if len(m) <= max && sameCounts(prev, m) {
		return prev, 0
	}
	out := make([]TypeCount, 0, len(m))
	other, hasOther, folded := 0, false, 0
	for t, n := range m.All() {
		id, ok := actionTypes.id(t)
		switch {
		case !ok:
			other, hasOther, folded = other+n, true, folded+1
		case id == otherType:
			other, hasOther = other+n, true
		default:
			out = append(out, TypeCount{id, count32(n)})
		}
	}
	if len(out) > max {
		// Keep the largest types: they are the ones a reader is looking for.
		sort.Slice(out, func(i, j int) bool {
			if out[i].Count != out[j].Count {
				return out[i].Count > out[j].Count
			}
			return out[i].Type() < out[j].Type()
		})
		for _, tc := range out[max:] {
			other += int(tc.Count)
		}
		folded += len(out) - max
		out, hasOther = out[:max], true
	}
	if hasOther {
		out = append(out, TypeCount{otherType, count32(other)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type() < out[j].Type() })
	return out, folded
}

// sameCounts reports whether list holds exactly the types and counts of m;
// both are sorted by type.
func sameCounts(list []TypeCount, m gastown.ActionCounts) bool {
	if len(list) != len(m) {
		return false
	}
	for i, tc := range list {
		if c := m[i]; count32(c.Count) != tc.Count || c.Type != tc.Type() {
			return false
		}
	}
	return true
}

// newTownState turns an observation into what the collector serves. prev
// keeps the last success time across failed polls, and the last dry run
// across polls that made none.
func newTownState(o *gastown.Observation, prev *TownState, maxTypes int) (*TownState, int) {
	// A poll with a dry run allocates its two states as one: one allocation
	// fewer, and the plan of the town's next poll reads both from adjacent
	// memory. A later poll without a dry run keeps the pair alive for it.
	var s *TownState
	var d *DryRunState
	if o.DryRunCall.Done {
		pair := new(struct {
			town   TownState
			dryRun DryRunState
		})
		s, d = &pair.town, &pair.dryRun
	} else {
		s = new(TownState)
	}
	s.Up, s.LastPoll, s.StatusCode = o.OK(), o.At, o.StatusCall.Code
	if prev != nil {
		s.LastSuccess, s.DryRun = prev.LastSuccess, prev.DryRun
	}
	if s.Up {
		s.LastSuccess = o.At
	} else if err := o.Err(); err != nil {
		s.Err = err.Error()
	}
	var dropped int
	if c := o.DryRunCall; c.Done {
		d.Up, d.At, d.Code, d.Seconds = c.OK(), o.At, c.Code, c.Duration.Seconds()
		if c.OK() {
			m := o.DryRun.Metrics
			d.QueueDepth, d.PendingEvents = m.EventsDrained, m.PendingEventCount
			var prevActions []TypeCount
			if s.DryRun != nil { // still the previous poll's
				prevActions = s.DryRun.Actions
			}
			d.Actions, dropped = capTypes(m.ActionsByType, maxTypes, prevActions)
		} else {
			d.Err = c.Err.Error()
		}
		s.DryRun = d
	}
	if st := o.Status; st != nil {
		var was *StatusState
		if prev != nil {
			was = prev.Status
		}
		var d int
		s.Status, d = newStatusState(st, was, maxTypes)
		dropped += d
	}
	return s, dropped
}

// newStatusState is the StatusState of st. It returns prev, or prev's last
// tick, where they have not changed: an idle town's status repeats.
func newStatusState(st *gastown.Status, prev *StatusState, maxTypes int) (*StatusState, int) {
	a := st.AlarmStatus
	ss := StatusState{
		AlarmIntervalSeconds: float64(a.Alarm.IntervalMs) / 1000,
		Ticking:              st.Ticking(),
		Agents:               a.Agents,
		Beads:                a.Beads,
	}
	if a.Alarm.NextFireAt != nil {
		ss.NextFireAt = *a.Alarm.NextFireAt
	}
	var dropped int
	if r := a.Reconciler; r != nil {
		lt := LastTick{
			EventsDrained:        r.EventsDrained,
			SideEffectsAttempted: r.SideEffectsAttempted,
			SideEffectsSucceeded: r.SideEffectsSucceeded,
			SideEffectsFailed:    r.SideEffectsFailed,
			InvariantViolations:  r.InvariantViolations,
			WallClockSeconds:     r.WallClockMs / 1000,
			PendingEvents:        r.PendingEventCount,
		}
		var was *LastTick
		if prev != nil {
			was = prev.LastTick
		}
		var wasActions []TypeCount
		if was != nil {
			wasActions = was.Actions
		}
		lt.Actions, dropped = capTypes(r.ActionsByType, maxTypes, wasActions)
		if was == nil || !lt.sameAs(was) {
			// A new last tick makes a new status: one allocation for both,
			// which a scrape reads one after the other for every town.
			pair := new(struct {
				status StatusState
				tick   LastTick
			})
			pair.tick = lt
			ss.LastTick = &pair.tick
			pair.status = ss
			return &pair.status, dropped
		}
		ss.LastTick = was
	}
	if prev != nil && ss.sameAs(prev) {
		return prev, dropped
	}
	out := new(StatusState)
	*out = ss
	return out, dropped
}

// sameAs compares field by field; Actions by identity, as capTypes keeps
// the same slice for the same counts.
func (lt *LastTick) sameAs(o *LastTick) bool {
	return lt.EventsDrained == o.EventsDrained && lt.SideEffectsAttempted == o.SideEffectsAttempted &&
		lt.SideEffectsSucceeded == o.SideEffectsSucceeded && lt.SideEffectsFailed == o.SideEffectsFailed &&
		lt.InvariantViolations == o.InvariantViolations && lt.WallClockSeconds == o.WallClockSeconds &&
		lt.PendingEvents == o.PendingEvents && sameSlice(lt.Actions, o.Actions)
}

func (ss *StatusState) sameAs(o *StatusState) bool {
	return ss.AlarmIntervalSeconds == o.AlarmIntervalSeconds && ss.NextFireAt.Equal(o.NextFireAt) &&
		ss.Ticking == o.Ticking && ss.Agents == o.Agents && ss.Beads == o.Beads && ss.LastTick == o.LastTick
}

func sameSlice(a, b []TypeCount) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// Snapshot holds the latest state of every watched town.
type Snapshot struct {
	mu     sync.RWMutex
	towns  map[string]*slot
	sorted []string // the ids of towns, sorted; nil once a town came or went

	// seeds are the last successes a previous run kept (SeedLastSuccess),
	// each taken by the town's first state.
	seedMu sync.Mutex
	seeds  map[string]time.Time
}

// SeedLastSuccess gives the towns their last success from a previous run,
// for their first state, which has none of its own: a town down across a
// restart keeps its age. Later seeds replace earlier ones.
func (s *Snapshot) SeedLastSuccess(seeds map[string]time.Time) {
	s.seedMu.Lock()
	defer s.seedMu.Unlock()
	s.seeds = seeds
}

// seed takes a town's seeded last success; zero for none.
func (s *Snapshot) seed(town string) time.Time {
	s.seedMu.Lock()
	defer s.seedMu.Unlock()
	t := s.seeds[town]
	delete(s.seeds, town)
	return t
}

// slot holds one town's latest state. A poll finds it as the tick plans
// and stores into it without the snapshot's lock or another lookup: at
// 10,000 towns, a lookup in the map is a cache miss or two per poll.
type slot struct{ st atomic.Pointer[TownState] }

// load is the slot's state; nil for no slot.
func (sl *slot) load() *TownState {
	if sl == nil {
		return nil
	}
	return sl.st.Load()
}

func NewSnapshot() *Snapshot { return &Snapshot{towns: map[string]*slot{}} }

func (s *Snapshot) Get(town string) *TownState { return s.slot(town).load() }

// slot is the town's slot; nil for a town without state.
func (s *Snapshot) slot(town string) *slot {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.towns[town]
}

func (s *Snapshot) Put(town string, st *TownState) { s.put(town, nil, st) }

// put stores st in sl, the town's slot as it was found earlier (nil: the
// town had none). A town that left the watch list in between leaves with
// its slot: the state is dropped, not added back.
func (s *Snapshot) put(town string, sl *slot, st *TownState) {
	if sl != nil {
		sl.st.Store(st)
		return
	}
	s.mu.Lock()
	if sl = s.towns[town]; sl == nil {
		sl = new(slot)
		s.towns[town] = sl
		s.sorted = nil
	}
	sl.st.Store(st)
	s.mu.Unlock()
}

// Retain drops every town not in keep, and its seed, and returns the ones
// it dropped.
func (s *Snapshot) Retain(keep map[string]bool) []string {
	s.seedMu.Lock()
	for t := range s.seeds {
		if !keep[t] {
			delete(s.seeds, t) // a town another shard owns now, or gone
		}
	}
	s.seedMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []string
	for t := range s.towns {
		if !keep[t] {
			delete(s.towns, t)
			gone = append(gone, t)
		}
	}
	if len(gone) > 0 {
		s.sorted = nil
	}
	sort.Strings(gone)
	return gone
}

// TownEntry pairs a town with its state.
type TownEntry struct {
	Town  string
	State *TownState
}

// Towns returns every town's state, sorted by town id.
func (s *Snapshot) Towns() []TownEntry { return s.AppendTowns(nil) }

// AppendTowns appends every town's state to dst, sorted by town id. The
// order is kept between calls and sorted again only when the set of towns
// changed, so a scrape of an unchanged fleet does not sort.
func (s *Snapshot) AppendTowns(dst []TownEntry) []TownEntry {
	s.mu.RLock()
	if s.sorted != nil || len(s.towns) == 0 {
		dst = s.appendSorted(dst)
		s.mu.RUnlock()
		return dst
	}
	s.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sorted == nil {
		ids := make([]string, 0, len(s.towns))
		for t := range s.towns {
			ids = append(ids, t)
		}
		sort.Strings(ids)
		s.sorted = ids
	}
	return s.appendSorted(dst)
}

func (s *Snapshot) appendSorted(dst []TownEntry) []TownEntry {
	dst = slices.Grow(dst, len(s.sorted))
	for _, t := range s.sorted {
		dst = append(dst, TownEntry{t, s.towns[t].st.Load()})
	}
	return dst
}

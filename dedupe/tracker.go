package dedupe

import (
	"iter"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/lastbykey"
	"github.com/tickwatch/tickwatch/internal/slab"
)

// Kind is the kind of a transition of one violation.
type Kind string

const (
	Opened   Kind = "opened"
	Resolved Kind = "resolved"
	Repeated Kind = "repeated"
	// Adopted marks a violation that was already there at the first poll of
	// a town handed over from another replica (see HandOver). It is never a
	// Transition's kind: the tracker issues no transition for it.
	Adopted Kind = "adopted"
)

// Kinds lists every transition kind, in the order metrics expose them.
var Kinds = []Kind{Opened, Resolved, Repeated}

// Transition is one change of a town's violation set.
type Transition struct {
	Town         string
	Identity     string
	Invariant    int
	Message      string // the latest message seen for the identity
	Subject      string
	Source       gastown.ViolationSource // how tickwatch learnt of it, last seen
	Kind         Kind
	Seq          uint64 // per (town, identity), 1 for the first transition; restarts only after Options.Retain of quiet
	At           time.Time
	FirstSeen    time.Time // first observation of this episode
	LastSeen     time.Time
	Observations int // polls that saw it in this episode
	// Adopted says the episode was open at the first poll of a town handed
	// over (see HandOver): FirstSeen is when this tracker took it over, and
	// its opening was reported by the replica that watched it before.
	Adopted bool
	// Origin names the state the transition came from (see
	// Tracker.Origin); empty for a memory-only tracker.
	Origin string
	// Triage is what the poll that caused an opened or repeated transition
	// saw of the town; the tracker leaves it nil, the caller fills it in.
	Triage *gastown.Triage `json:",omitempty"`
}

// Options set the hysteresis. OpenAfter and ResolveAfter below 1 count as 1.
type Options struct {
	OpenAfter      int           // consecutive observations before a violation opens
	ResolveAfter   int           // consecutive absences before it resolves
	RepeatInterval time.Duration // re-notify an open violation after this long; 0 = never
	// Retain is how long a resolved identity's sequence number is kept, so
	// that a violation that comes back continues its sequence and gets new
	// event ids. Zero means DefaultRetain.
	Retain time.Duration
}

// DefaultRetain keeps resolved identities for a week.
const DefaultRetain = 7 * 24 * time.Hour

func (o Options) normalized() Options {
	if o.OpenAfter < 1 {
		o.OpenAfter = 1
	}
	if o.ResolveAfter < 1 {
		o.ResolveAfter = 1
	}
	if o.RepeatInterval < 0 {
		o.RepeatInterval = 0
	}
	if o.Retain <= 0 {
		o.Retain = DefaultRetain
	}
	return o
}

// entry is the tracker's knowledge of one identity in one town. An entry is
// pending (seen, not yet open), open, or dormant (resolved or never opened,
// kept only for its sequence number).
type entry struct {
	Identity  string `json:"identity"`
	Invariant int    `json:"invariant"`
	Message   string `json:"message"`
	Subject   string `json:"subject"`
	Source    string `json:"source,omitempty"`
	Open      bool   `json:"open"`
	Adopted   bool   `json:"adopted,omitempty"` // this episode was open when the town was handed over
	// Epoch is the day (since 1970, UTC) of the identity's first transition,
	// part of its event ids' origin (EpochOrigin): an identity dormant for
	// Options.Retain is dropped and counts from 1 again, and without it
	// those ids would be the ones Sentry stored the first time, which it
	// discards as duplicates. 0 in state written before it was kept. Here,
	// in the padding after the two flags, it costs an entry nothing.
	Epoch        int32  `json:"epoch,omitempty"`
	Seen         int    `json:"seen"`   // consecutive observations
	Absent       int    `json:"absent"` // consecutive absences
	FirstSeen    stamp  `json:"first_seen"`
	LastSeen     stamp  `json:"last_seen"`
	Observations int    `json:"observations"`
	Seq          uint64 `json:"seq"`
	LastKind     Kind   `json:"last_kind,omitempty"`
	LastAt       stamp  `json:"last_at"`     // time of the last transition
	NotifiedAt   stamp  `json:"notified_at"` // last opened or repeated
}

// begin starts an identity's sequence at its first transition.
func (e *entry) begin(at stamp) {
	if e.Seq == 0 {
		e.Epoch = epochOf(at.Time())
	}
}

func epochOf(t time.Time) int32 { return int32(t.Unix() / (24 * 60 * 60)) }

// EpochOrigin is the origin in the event ids of an identity whose first
// transition was at first, under the state's origin (Tracker.Origin).
func EpochOrigin(origin string, first time.Time) string {
	return epochOrigin(origin, epochOf(first))
}

func epochOrigin(origin string, epoch int32) string {
	if epoch == 0 {
		return origin
	}
	return origin + "/" + strconv.Itoa(int(epoch))
}

func (e *entry) dormant() bool { return !e.Open && e.Seen == 0 }

// entry returns the entry of id, adding an empty one of invariant when there
// is none. The pointer is valid until the next change of ts.entries.
func (ts *townState) entry(id string, invariant int) *entry {
	i := sort.Search(len(ts.entries), func(i int) bool { return ts.entries[i].Identity >= id })
	if i == len(ts.entries) || ts.entries[i].Identity != id {
		ts.entries = slices.Insert(ts.entries, i, entry{Identity: id, Invariant: invariant})
	}
	return &ts.entries[i]
}

// identity is Identity(v), or the identity of the entry that holds v's
// message already: a violation mostly repeats from poll to poll, and
// normalising its message again was a fifth of tracking a poll.
func (ts *townState) identity(v gastown.Violation) string {
	for i := range ts.entries {
		if e := &ts.entries[i]; e.Invariant == v.Invariant && e.Message == v.Message {
			return e.Identity
		}
	}
	return Identity(v)
}

// filter keeps the entries for which keep, which may change them, is true.
func (ts *townState) filter(keep func(e *entry) bool) {
	kept := ts.entries[:0]
	for i := range ts.entries {
		if keep(&ts.entries[i]) {
			kept = append(kept, ts.entries[i])
		}
	}
	clear(ts.entries[len(kept):]) // no strings kept alive past the end
	ts.entries = kept
	if cap(kept) > 16 && len(kept) < cap(kept)/4 {
		// A town whose hundreds of violations resolved gives their room back.
		ts.entries = slices.Clone(kept)
	}
}

type townState struct {
	// entries, sorted by identity. A town has a handful; a slice of values
	// costs a third of a map of pointers to them, which at 10,000 towns with
	// a violation each was 5 MB.
	entries []entry
	// forgottenAt is set when the town left the watch list: only sequence
	// numbers remain, until Retain has passed or the town comes back.
	forgottenAt stamp
	// counted: the run counters alone changed (seen, absent, last seen)
	// since the town was last written. Such towns are written once a
	// countersSaveEvery, not on every tick, since a town that keeps a
	// violation open changes them on every poll. A crash loses at most that
	// much of them: a run to open or resolve starts over, never a transition.
	counted bool
}

// Tracker holds every town's violation set. All methods are safe for
// concurrent use.
type Tracker struct {
	now    func() time.Time
	logger *slog.Logger

	mu     sync.Mutex
	opts   Options
	towns  slab.Slab[townState] // a pointer into it is valid until the next Add
	counts map[Kind]uint64
	dirty  map[string]struct{} // towns with a transition or a new baseline since the last Save
	// countedSaved is when the towns whose run counters alone changed
	// (townState.counted) were last written.
	countedSaved time.Time
	forgot       map[string]struct{} // towns to delete at the next Save
	retired      map[string]struct{} // forgotten towns whose sequence numbers are kept
	store        *store              // nil: memory only
	origin       string              // see Origin
	// townOrigins are the towns whose record was dropped at load, each
	// with an origin of its own: their sequence numbers start again, and
	// under the state's origin their event ids would be those already sent.
	townOrigins map[string]string
	adopted     uint64 // violations taken over as open (HandOver)
	// handedOver tells the towns this tracker gained from another replica
	// (nil: none); taken holds those whose first poll it has had.
	handedOver func(town string) bool
	taken      map[string]struct{}
	// soon holds the towns whose next observation may open or repeat a
	// violation, with when: the zero time for one a sighting short of
	// opening, else when a repeat falls due, if within notifyHorizon. It is
	// what MayNotify reads before each poll: a lookup in a map of a few
	// towns, where reading every town's entries was 1 % of the sidecar's
	// CPU at 10,000 towns.
	soon    map[string]stamp
	saveMu  sync.Mutex // serialises Save
	scratch []sighting // ObservePartly's, kept for its backing array
}

// NewTracker returns a tracker that keeps its state in memory only.
func NewTracker(opts Options, now func() time.Time) *Tracker {
	if now == nil {
		now = time.Now
	}
	return &Tracker{
		now:     now,
		logger:  slog.New(slog.DiscardHandler),
		opts:    opts.normalized(),
		counts:  map[Kind]uint64{},
		dirty:   map[string]struct{}{},
		forgot:  map[string]struct{}{},
		retired: map[string]struct{}{},
		taken:   map[string]struct{}{},
		soon:    map[string]stamp{},

		townOrigins: map[string]string{},
	}
}

// SetOptions changes the hysteresis (on a config reload). Counters already
// running are judged against the new thresholds from the next observation.
func (t *Tracker) SetOptions(opts Options) {
	t.mu.Lock()
	t.opts = opts.normalized()
	now := t.now()
	for town, ts := range t.towns.All() {
		t.noteSoon(town, ts, now)
	}
	t.mu.Unlock()
}

// Observe records one poll of a town and returns the transitions it causes,
// ordered by identity. ok=false is a failed poll: the town's state is
// unknown, so nothing opens, resolves or counts as absent.
func (t *Tracker) Observe(town string, ok bool, vs []gastown.Violation) []Transition {
	if !ok {
		return nil
	}
	return t.ObservePartly(town, vs, nil)
}

// ObservePartly records a poll that could judge only some invariants: an
// open or pending violation of an invariant for which unjudged reports true
// is neither seen nor absent this time (nil: every invariant was judged).
func (t *Tracker) ObservePartly(town string, vs []gastown.Violation, unjudged func(invariant int) bool) []Transition {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()

	ts := t.towns.Get(town)
	takeOver := t.handedOver != nil && (ts == nil || !ts.forgottenAt.IsZero()) && t.handedOver(town)
	if takeOver {
		if _, done := t.taken[town]; done {
			takeOver = false
		}
	}
	if takeOver && unjudged != nil {
		return nil // taking a town over needs a poll that judges every invariant
	}
	if takeOver {
		t.taken[town] = struct{}{}
	}
	if ts == nil {
		if len(vs) == 0 {
			return nil // nothing known, nothing seen: no state to create
		}
		ts = t.towns.Add(town)
	}
	changed := false
	if !ts.forgottenAt.IsZero() {
		// Back on the watch list: a record that says forgotten would let its
		// sequence numbers expire after a crash, so it is written at once.
		ts.forgottenAt = 0
		delete(t.retired, town)
		t.dirty[town] = struct{}{}
	}

	seen := t.sightings(ts, vs)
	defer func() {
		clear(seen) // no message of this poll kept alive until the next
		t.scratch = seen[:0]
	}()
	if takeOver {
		t.adopt(town, ts, seen, now)
		t.noteSoon(town, ts, now)
		return nil
	}

	var out []Transition
	at := stampOf(now)
	for _, s := range seen {
		v := s.v
		e := ts.entry(s.id, v.Invariant)
		if e.dormant() {
			e.FirstSeen, e.Observations, e.Adopted = at, 0, false
		}
		if e.Message != v.Message || e.Subject == "" {
			e.Message, e.Subject = v.Message, Subject(v)
		}
		e.Source = string(v.Source)
		e.Seen++
		e.Absent = 0
		e.Observations++
		e.LastSeen = at
		changed = true
		switch {
		case !e.Open && e.Seen >= t.opts.OpenAfter:
			e.Open = true
			e.NotifiedAt = at
			out = append(out, t.transition(town, e, Opened, at))
		case e.Open && t.opts.RepeatInterval > 0 && e.NotifiedAt.since(at) >= t.opts.RepeatInterval:
			e.NotifiedAt = at
			out = append(out, t.transition(town, e, Repeated, at))
		}
	}
	next := 0 // the walk through seen, which is sorted as the entries are
	ts.filter(func(e *entry) bool {
		for next < len(seen) && seen[next].id < e.Identity {
			next++
		}
		if next < len(seen) && seen[next].id == e.Identity || unjudged != nil && unjudged(e.Invariant) {
			return true
		}
		switch {
		case e.Open:
			e.Absent++
			e.Seen = 0
			changed = true
			if e.Absent >= t.opts.ResolveAfter {
				e.Open = false
				out = append(out, t.transition(town, e, Resolved, at))
			}
		case e.Seen > 0: // pending: one absence breaks the run
			e.Seen = 0
			changed = true
			return e.Seq != 0
		case e.LastAt.since(at) > t.opts.Retain: // dormant and old
			changed = true
			return false
		}
		return true
	})
	switch {
	case len(ts.entries) == 0:
		// Its record, if any, holds only what just expired.
		t.towns.Remove(town)
		delete(t.dirty, town)
		t.forgot[town] = struct{}{}
		ts = nil
	case len(out) > 0:
		t.dirty[town] = struct{}{}
	case changed:
		ts.counted = true
	}
	t.noteSoon(town, ts, now)
	if len(out) > 1 {
		slices.SortFunc(out, func(a, b Transition) int { return strings.Compare(a.Identity, b.Identity) })
	}
	return out
}

// adopt takes the first poll of a town handed over as its baseline: each
// violation it shows is open from now on, without a transition. Its
// sequence number advances as for an opening. Callers hold t.mu.
func (t *Tracker) adopt(town string, ts *townState, seen []sighting, now time.Time) {
	at := stampOf(now)
	for _, s := range seen {
		v := s.v
		e := ts.entry(s.id, v.Invariant)
		e.Message, e.Subject, e.Source = v.Message, Subject(v), string(v.Source)
		e.Open, e.Adopted = true, true
		e.Seen, e.Absent, e.Observations = 1, 0, 1
		e.FirstSeen, e.LastSeen, e.NotifiedAt = at, at, at
		e.begin(at)
		e.Seq++
		e.LastKind, e.LastAt = Adopted, at
		t.adopted++
	}
	t.dirty[town] = struct{}{}
	if len(seen) > 0 {
		t.logger.Info("town handed over: its open violations are taken as reported by its previous watcher", "town", town, "violations", len(seen))
	}
}

// sighting is one violation a poll saw, with its identity.
type sighting struct {
	id string
	v  gastown.Violation
}

// sightings are the poll's violations sorted by identity, one per identity:
// the same identity may appear twice in one poll (two counts of one rig),
// which is one observation, with the last message. A sorted slice, walked
// along the sorted entries: no map to fill and clear on every poll.
func (t *Tracker) sightings(ts *townState, vs []gastown.Violation) []sighting {
	seen := t.scratch[:0]
	for _, v := range vs {
		seen = append(seen, sighting{ts.identity(v), v})
	}
	return lastbykey.Sort(seen, func(s sighting) string { return s.id })
}

// transition advances e's sequence and describes the change. Callers hold t.mu.
func (t *Tracker) transition(town string, e *entry, k Kind, at stamp) Transition {
	e.begin(at)
	e.Seq++
	e.LastKind, e.LastAt = k, at
	t.counts[k]++
	return e.describe(town, t.originOf(town))
}

// originOf is the origin of a town's event ids. Callers hold t.mu.
func (t *Tracker) originOf(town string) string {
	if o, ok := t.townOrigins[town]; ok {
		return o
	}
	return t.origin
}

func (e *entry) describe(town, origin string) Transition {
	return Transition{
		Town: town, Identity: e.Identity, Invariant: e.Invariant,
		Message: e.Message, Subject: e.Subject, Source: gastown.ViolationSource(e.Source),
		Kind: e.LastKind, Seq: e.Seq, At: e.LastAt.Time(),
		FirstSeen: e.FirstSeen.Time(), LastSeen: e.LastSeen.Time(), Observations: e.Observations,
		Adopted: e.Adopted, Origin: epochOrigin(origin, e.Epoch),
	}
}

// Forget drops the state of a town that left the watch list: its open and
// pending violations are gone, without transitions (nothing is known about
// them any more). Only the sequence numbers stay, for Options.Retain, so
// that if the town comes back its transitions get new event ids rather than
// ids the outbox has already sent.
func (t *Tracker) Forget(town string) {
	now := t.now()
	t.mu.Lock()
	delete(t.taken, town) // if it is handed back later, that is a first poll again
	delete(t.soon, town)
	ts := t.towns.Get(town)
	if ts == nil || !ts.forgottenAt.IsZero() {
		t.mu.Unlock()
		return
	}
	open := 0
	ts.filter(func(e *entry) bool {
		if e.Open {
			open++
		}
		e.Open, e.Seen, e.Absent = false, 0, 0
		return e.Seq != 0
	})
	if len(ts.entries) == 0 {
		t.towns.Remove(town)
		delete(t.dirty, town)
		t.forgot[town] = struct{}{}
	} else {
		ts.forgottenAt = stampOf(now)
		t.retired[town] = struct{}{}
		t.dirty[town] = struct{}{}
	}
	t.mu.Unlock()
	if open > 0 {
		t.logger.Info("town left the watch list; its open violations are dropped without a resolve", "town", town, "open_violations", open)
	}
}

// LastTransitions lists the last transition of each violation of the towns
// watched, made at or after since; not an adoption, which the previous
// watcher sent. A start hands them to the outbox, which keeps only those it
// has not had: the tick that was saved but had not reached the outbox when
// the process died (see sidecar.Violations.TickDone).
func (t *Tracker) LastTransitions(since time.Time) []Transition {
	t.mu.Lock()
	defer t.mu.Unlock()
	from := stampOf(since)
	var out []Transition
	for town, ts := range t.towns.All() {
		if !ts.forgottenAt.IsZero() {
			continue
		}
		for i := range ts.entries {
			e := &ts.entries[i]
			if e.Seq == 0 || e.LastKind == "" || e.LastKind == Adopted || e.LastAt < from {
				continue
			}
			out = append(out, e.describe(town, t.originOf(town)))
		}
	}
	return out
}

// Retain forgets every town not owned (see Forget), including what a
// town handed over without violations left: only the mark that its first
// poll was had, which would make a later hand-over back a first poll no
// more.
func (t *Tracker) Retain(owned map[string]bool) {
	// It runs at every watch-list read: one pass under the lock finds the
	// towns that left (most often none), sorted only among themselves.
	var gone []string
	t.mu.Lock()
	for town, ts := range t.towns.All() {
		if ts.forgottenAt.IsZero() && !owned[town] {
			gone = append(gone, town)
		}
	}
	for town := range t.taken {
		if !owned[town] {
			delete(t.taken, town)
		}
	}
	t.mu.Unlock()
	sort.Strings(gone)
	for _, town := range gone {
		t.Forget(town)
	}
}

// Towns lists the towns with state that are not forgotten, sorted: those the
// tracker still considers watched (also from a previous run's state).
func (t *Tracker) Towns() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, t.towns.Len())
	for town, ts := range t.towns.All() {
		if ts.forgottenAt.IsZero() {
			out = append(out, town)
		}
	}
	sort.Strings(out)
	return out
}

// expireRetired drops forgotten towns whose sequence numbers are older than
// Retain. Callers hold t.mu.
func (t *Tracker) expireRetired(now time.Time) {
	for town := range t.retired {
		ts := t.towns.Get(town)
		if ts == nil || ts.forgottenAt.since(stampOf(now)) > t.opts.Retain {
			delete(t.retired, town)
			t.towns.Remove(town)
			delete(t.dirty, town)
			t.forgot[town] = struct{}{}
		}
	}
}

// OpenCounts returns, per town, the number of open violations per invariant.
// Towns without open violations are absent.
func (t *Tracker) OpenCounts() map[string]map[int]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]map[int]int{}
	for town, ts := range t.towns.All() {
		ts.eachOpenCount(func(invariant, n int) {
			if out[town] == nil {
				out[town] = map[int]int{}
			}
			out[town][invariant] = n
		})
	}
	return out
}

// EachOpenCount calls fn, for each of towns in order, with the town's number
// of open violations per invariant, without building a map per scrape. It
// holds the tracker's lock: neither towns nor fn may call the tracker.
func (t *Tracker) EachOpenCount(towns iter.Seq[string], fn func(town string, invariant, n int)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for town := range towns {
		if ts := t.towns.Get(town); ts != nil {
			ts.eachOpenCount(func(invariant, n int) { fn(town, invariant, n) })
		}
	}
}

// eachOpenCount calls fn with the number of open violations per invariant.
func (ts *townState) eachOpenCount(fn func(invariant, n int)) {
	// Entries are sorted by identity, which starts with the invariant: one
	// invariant's entries are neighbours.
	invariant, n := 0, 0
	for i := range ts.entries {
		e := &ts.entries[i]
		if !e.Open {
			continue
		}
		if n > 0 && e.Invariant != invariant {
			fn(invariant, n)
			n = 0
		}
		invariant = e.Invariant
		n++
	}
	if n > 0 {
		fn(invariant, n)
	}
}

// OpenSummary is how many violations a town has open, and since when the
// oldest of them is seen.
type OpenSummary struct {
	Count  int
	Oldest time.Time
}

// OpenSummaries returns every town with open violations, in one pass: the
// status page sorts and counts the whole fleet by them.
func (t *Tracker) OpenSummaries() map[string]OpenSummary {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]OpenSummary{}
	for town, ts := range t.towns.All() {
		for i := range ts.entries {
			e := &ts.entries[i]
			if !e.Open {
				continue
			}
			s := out[town]
			if first := e.FirstSeen.Time(); s.Count == 0 || first.Before(s.Oldest) {
				s.Oldest = first
			}
			s.Count++
			out[town] = s
		}
	}
	return out
}

// MayNotify reports whether the town's next observation at about time at
// could open or repeat a violation: open_after is 1, a pending violation is
// one sighting short of it, or an open violation's repeat is due within
// slack. The poller keeps such a poll's raw status for the event.
func (t *Tracker) MayNotify(town string, at time.Time, slack time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.opts.OpenAfter <= 1 {
		return true
	}
	when, ok := t.soon[town]
	return ok && stampOf(at).add(slack) >= when
}

// notifyHorizon is how far ahead soon holds a repeat that falls due. A town
// polls far more often, so its observations keep soon up to date; one not
// observed meanwhile (its polls failing) has that repeat sent without its
// poll's raw status.
const notifyHorizon = time.Hour

// noteSoon updates the town's place in soon after a change of ts (nil: the
// town is gone). Callers hold t.mu.
func (t *Tracker) noteSoon(town string, ts *townState, now time.Time) {
	if ts != nil {
		if when, ok := ts.nextNotify(t.opts); ok && time.Duration(when-stampOf(now)) <= notifyHorizon {
			t.soon[town] = when
			return
		}
	}
	delete(t.soon, town) // on an empty map, without hashing town
}

// nextNotify is the earliest time an observation could open or repeat one
// of the town's violations: the zero stamp if one is a sighting short of
// opening. ok is false when none could.
func (ts *townState) nextNotify(o Options) (when stamp, ok bool) {
	for i := range ts.entries {
		e := &ts.entries[i]
		switch {
		case !e.Open && e.Seen > 0 && e.Seen+1 >= o.OpenAfter:
			return 0, true
		case e.Open && o.RepeatInterval > 0:
			if due := e.NotifiedAt.add(o.RepeatInterval); !ok || due < when {
				when, ok = due, true
			}
		}
	}
	return when, ok
}

// Tracking reports whether the town has a violation open or pending (seen,
// not yet open): one whose next observations open, keep or resolve it.
func (t *Tracker) Tracking(town string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	ts := t.towns.Get(town)
	if ts == nil {
		return false
	}
	for i := range ts.entries {
		e := &ts.entries[i]
		if e.Open || e.Seen > 0 {
			return true
		}
	}
	return false
}

// AllOpenViolations lists the open violations of every town, unordered.
func (t *Tracker) AllOpenViolations() []Transition {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Transition
	for town, ts := range t.towns.All() {
		for i := range ts.entries {
			e := &ts.entries[i]
			if e.Open {
				out = append(out, e.describe(town, t.originOf(town)))
			}
		}
	}
	return out
}

// OpenViolations lists a town's open violations, ordered by invariant then
// identity. Kind and At are those of the last transition (opened or
// repeated); LastSeen and Observations are current.
func (t *Tracker) OpenViolations(town string) []Transition {
	t.mu.Lock()
	defer t.mu.Unlock()
	ts := t.towns.Get(town)
	if ts == nil {
		return nil
	}
	var out []Transition
	for i := range ts.entries {
		e := &ts.entries[i]
		if e.Open {
			out = append(out, e.describe(town, t.originOf(town)))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Invariant != out[j].Invariant {
			return out[i].Invariant < out[j].Invariant
		}
		return out[i].Identity < out[j].Identity
	})
	return out
}

// HandOver says which towns this tracker gains from another replica (a
// shard change): the first successful poll of such a town that it holds no
// record of is its baseline. The violations that poll shows were reported
// by the replica that watched the town before: they are open at once and
// issue no transition, and they resolve as usual, so neither a second
// opened event nor a lost resolve. Towns that appear later open as usual.
// Calls add up: a town gained in any of them is handed over.
func (t *Tracker) HandOver(gained func(town string) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if prev := t.handedOver; prev != nil {
		t.handedOver = func(town string) bool { return prev(town) || gained(town) }
		return
	}
	t.handedOver = gained
}

// TakenOver reports whether every owned town that HandOver names as gained
// has had the first poll that takes it over (or had state of its own, and
// needs none).
func (t *Tracker) TakenOver(owned map[string]bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.handedOver == nil {
		return true
	}
	for town := range owned {
		if !t.handedOver(town) {
			continue
		}
		if ts := t.towns.Get(town); ts != nil && ts.forgottenAt.IsZero() {
			continue
		}
		if _, done := t.taken[town]; !done {
			return false
		}
	}
	return true
}

// Adopted counts the violations taken over as open since the process
// started (see HandOver).
func (t *Tracker) Adopted() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.adopted
}

// Origin is a random id created with the tracker's state file, so that
// event ids from two state files never collide: the same town watched by
// another replica, or by this one after its state was lost, counts its
// sequence numbers afresh.
func (t *Tracker) Origin() string { return t.origin }

// TransitionCounts returns the transitions issued since the process started,
// with every kind present.
func (t *Tracker) TransitionCounts() map[Kind]uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[Kind]uint64, len(Kinds))
	for _, k := range Kinds {
		out[k] = t.counts[k]
	}
	return out
}

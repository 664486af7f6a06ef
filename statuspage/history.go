package statuspage

import (
	"math"
	"sync"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/slab"
)

// HistoryLen is how many polls of each town the town page draws.
const HistoryLen = 48

// RecentErrorsLen is how many distinct recent errors a town page lists.
const RecentErrorsLen = 5

// maxErrorText bounds one kept error text (a target may answer with a
// large body quoted in the error).
const maxErrorText = 300

// noValue marks a sample whose value the poll could not read.
const noValue = math.MaxUint16

// History keeps, per town, the last HistoryLen polls' queue depth and last
// tick wall clock, and its last few distinct errors, for the town page. It
// is sized for fleets of 10,000 towns: a town costs its ring (fixed arrays
// of small integers, about 300 bytes) and nothing per poll; errors only
// while a town has had some.
//
// The rings sit in one slab, a slice without pointers: the collector never
// reads it, where with a ring of its own on the heap per town it visited
// every one on every cycle (BenchmarkHistory's objects per town, and
// BenchmarkCollection10kTowns in sidecar for what the visits cost).
type History struct {
	mu    sync.Mutex
	rings slab.Slab[townHistory]
	errs  map[string]*recentErrors // only towns that had errors
}

func NewHistory() *History { return &History{errs: map[string]*recentErrors{}} }

// townHistory is one town's ring. Times are seconds after base, a Unix
// time; the queue depth saturates at noValue-1 and the wall clock is kept in
// tenths of a millisecond, saturating at 6.55 s: enough to draw and to see
// what is wrong, in an eighth of what time.Times and float64s take
// (BenchmarkHistory). A sample's three values sit together, so that a poll
// writes one cache line of the ring, not three: in a running sidecar a
// town's ring has left the cache by its next poll.
type townHistory struct {
	base    uint32
	next    uint8 // where the next sample goes
	n       uint8 // samples kept
	samples [HistoryLen]sample
}

// sample is one poll: its time in seconds after base, the queue depth and
// the wall clock.
type sample struct{ at, queue, wall uint16 }

type recentErrors struct {
	e    [RecentErrorsLen]errorEntry
	next uint8
	n    uint8
	run  uint8 // bit per call: its newest entry is still running (no success since)
}

// errorEntry is one error text and the run of polls that saw it in a row.
type errorEntry struct {
	first, last uint32 // Unix seconds
	count       uint32
	call        string // "status" or "dry run"
	text        string
}

// Sample is one poll of a town as the town page draws it. A nil value was
// not read by that poll.
type Sample struct {
	At               time.Time `json:"at"`
	QueueDepth       *int      `json:"queue_depth"`
	WallClockSeconds *float64  `json:"wall_clock_seconds"`
}

// RecentError is one distinct error and how often it came in a row.
type RecentError struct {
	Call  string    `json:"call"`
	Error string    `json:"error"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	Count int       `json:"count"`
}

// Record adds one poll: the queue depth from the dry run (else the last
// tick's pending events), the wall clock of the last tick, and the errors of
// either call.
func (h *History) Record(o *gastown.Observation) {
	queue, wall := uint16(noValue), uint16(noValue)
	var lastTick *gastown.ReconcilerMetrics
	if o.Status != nil {
		lastTick = o.Status.AlarmStatus.Reconciler
	}
	switch {
	case o.DryRun != nil:
		queue = saturate(float64(o.DryRun.Metrics.EventsDrained))
	case lastTick != nil:
		queue = saturate(float64(lastTick.PendingEventCount))
	}
	if lastTick != nil {
		wall = saturate(lastTick.WallClockMs * 10)
	}
	at := unixSeconds(o.At)

	h.mu.Lock()
	defer h.mu.Unlock()
	th := h.rings.Add(o.Town)
	if o.StatusCall.Done || o.DryRunCall.Done {
		th.add(at, queue, wall)
	}
	errs := h.errs[o.Town] // nil for a town that has had none, the common case
	for i, c := range []struct {
		name string
		call gastown.Call
	}{{"status", o.StatusCall}, {"dry run", o.DryRunCall}} {
		switch {
		case !c.call.Done:
		case c.call.Err != nil:
			if errs == nil {
				errs = &recentErrors{}
				h.errs[o.Town] = errs
			}
			errs.add(uint8(1)<<i, c.name, c.call.Err.Error(), at)
		case errs != nil:
			errs.run &^= 1 << i
		}
	}
}

func (th *townHistory) add(at uint32, queue, wall uint16) {
	if th.n == 0 {
		th.base = at
	}
	if at < th.base || at-th.base > math.MaxUint16 {
		th.rebase(at - min(at, 1<<15))
	}
	i := th.next
	th.samples[i] = sample{uint16(at - th.base), queue, wall}
	th.next = (i + 1) % HistoryLen
	th.n = min(th.n+1, HistoryLen)
}

// rebase moves base so that a sample 18 hours after it, or before it (a
// clock stepped back), fits. Samples it cannot place are clamped: a ring
// that spans 9 hours or a clock step may draw its oldest samples late.
func (th *townHistory) rebase(base uint32) {
	for i := range th.samples {
		s := &th.samples[i]
		at := int64(th.base) + int64(s.at) - int64(base)
		s.at = uint16(min(max(at, 0), math.MaxUint16))
	}
	th.base = base
}

func (r *recentErrors) add(bit uint8, call, text string, at uint32) {
	if len(text) > maxErrorText {
		text = text[:maxErrorText] + "…"
	}
	// Both calls of a poll may fail: a run is the same error of the same
	// call in a row, whatever the other call did meanwhile.
	for k := 1; r.run&bit != 0 && k <= int(r.n); k++ {
		e := &r.e[(int(r.next)+RecentErrorsLen-k)%RecentErrorsLen]
		if e.call != call {
			continue
		}
		if e.text == text {
			e.last, e.count = at, e.count+1
			return
		}
		break
	}
	r.run |= bit
	r.e[r.next] = errorEntry{first: at, last: at, count: 1, call: call, text: text}
	r.next = (r.next + 1) % RecentErrorsLen
	r.n = min(r.n+1, RecentErrorsLen)
}

// Samples returns a town's kept polls, oldest first.
func (h *History) Samples(town string) []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	th := h.rings.Get(town)
	if th == nil {
		return nil
	}
	out := make([]Sample, 0, th.n)
	for k := range int(th.n) {
		r := th.samples[(int(th.next)+HistoryLen-int(th.n)+k)%HistoryLen]
		s := Sample{At: time.Unix(int64(th.base)+int64(r.at), 0).UTC()}
		if v := r.queue; v != noValue {
			n := int(v)
			s.QueueDepth = &n
		}
		if v := r.wall; v != noValue {
			sec := float64(v) / 10000
			s.WallClockSeconds = &sec
		}
		out = append(out, s)
	}
	return out
}

// Errors returns a town's recent distinct errors, newest first.
func (h *History) Errors(town string) []RecentError {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.errs[town]
	if r == nil {
		return nil
	}
	out := make([]RecentError, 0, r.n)
	for k := 1; k <= int(r.n); k++ {
		e := r.e[(int(r.next)+RecentErrorsLen-k)%RecentErrorsLen]
		out = append(out, RecentError{Call: e.call, Error: e.text, Count: int(e.count),
			First: time.Unix(int64(e.first), 0).UTC(), Last: time.Unix(int64(e.last), 0).UTC()})
	}
	return out
}

// Retain drops the history of every town not in keep, and makes room for
// the rings of those it has none of yet: a fleet's rings are allocated
// once, not grown a quarter at a time with every older array left to the
// collector.
func (h *History) Retain(keep map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for t := range h.rings.All() {
		if !keep[t] {
			h.rings.Remove(t)
			delete(h.errs, t)
		}
	}
	h.rings.Reserve(len(keep))
}

func saturate(v float64) uint16 {
	switch {
	case v != v || v < 0:
		return 0
	case v >= noValue-1:
		return noValue - 1
	}
	return uint16(math.Round(v))
}

func unixSeconds(t time.Time) uint32 {
	s := t.Unix()
	if s < 0 || s > math.MaxUint32 {
		return 0
	}
	return uint32(s)
}

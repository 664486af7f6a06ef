package statuspage

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/heldheap"
)

var t0 = time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)

// poll is an observation of a town at t0+i*5s: a status with a last tick
// (wall clock ms, pending events) and a dry run (queue), either of which
// may fail.
func poll(town string, i int, queue int, wallMs float64, dryRunErr, statusErr error) *gastown.Observation {
	o := &gastown.Observation{Town: town, At: t0.Add(time.Duration(i) * 5 * time.Second)}
	o.StatusCall = gastown.Call{Done: true, Code: 200, Err: statusErr}
	if statusErr == nil {
		o.Status = &gastown.Status{AlarmStatus: gastown.AlarmStatus{Reconciler: &gastown.ReconcilerMetrics{
			WallClockMs: wallMs, PendingEventCount: queue + 1000}}}
	}
	o.DryRunCall = gastown.Call{Done: true, Code: 200, Err: dryRunErr}
	if dryRunErr == nil {
		o.DryRun = &gastown.DryRun{Metrics: gastown.DryRunMetrics{EventsDrained: queue}}
	}
	return o
}

func TestHistoryKeepsTheLastPollsOldestFirst(t *testing.T) {
	h := NewHistory()
	for i := range HistoryLen + 12 {
		h.Record(poll("a", i, i, float64(i)/10, nil, nil))
	}
	s := h.Samples("a")
	if len(s) != HistoryLen {
		t.Fatalf("%d samples, want %d", len(s), HistoryLen)
	}
	for k, smp := range s {
		i := 12 + k
		if !smp.At.Equal(t0.Add(time.Duration(i)*5*time.Second)) || smp.QueueDepth == nil || *smp.QueueDepth != i ||
			smp.WallClockSeconds == nil || fmt.Sprintf("%.4f", *smp.WallClockSeconds) != fmt.Sprintf("%.4f", float64(i)/10000) {
			t.Fatalf("sample %d = %+v, want poll %d", k, smp, i)
		}
	}
	if h.Samples("b") != nil {
		t.Errorf("a town never polled has samples")
	}
}

// Times are kept as offsets: polls far apart, and a clock stepped back,
// still read back at their own time where the ring can place them.
func TestHistoryTimesAcrossHours(t *testing.T) {
	h := NewHistory()
	at := func(d time.Duration) *gastown.Observation {
		o := poll("a", 0, 1, 1, nil, nil)
		o.At = t0.Add(d)
		return o
	}
	for _, d := range []time.Duration{0, 10 * time.Hour, 19 * time.Hour, 19*time.Hour + 5*time.Second} {
		h.Record(at(d))
	}
	var got []time.Duration
	for _, s := range h.Samples("a") {
		got = append(got, s.At.Sub(t0))
	}
	// 19 h moves the base to 19 h - 2^15 s (9.9 h): the first poll, older, is
	// drawn at the base; the 10 h one keeps its time.
	base := 19*time.Hour - (1<<15)*time.Second
	want := []time.Duration{base, 10 * time.Hour, 19 * time.Hour, 19*time.Hour + 5*time.Second}
	if !slices.Equal(got, want) {
		t.Errorf("sample times %v, want %v", got, want)
	}
	h.Record(at(time.Hour)) // the clock stepped back 18 hours
	s := h.Samples("a")
	if last := s[len(s)-1].At.Sub(t0); last != time.Hour {
		t.Errorf("after a clock step back the newest sample is at %v, want 1h", last)
	}
	if len(s) != 5 {
		t.Errorf("%d samples after the step, want 5", len(s))
	}
}

func TestHistoryValuesItCouldNotRead(t *testing.T) {
	h := NewHistory()
	h.Record(poll("a", 0, 7, 2.5, errors.New("dry run: HTTP 500"), nil)) // queue from the last tick
	h.Record(poll("a", 1, 7, 2.5, errors.New("dry run: HTTP 500"), errors.New("status: timeout")))
	h.Record(poll("a", 2, 100000, 1e6, nil, nil)) // saturates
	s := h.Samples("a")
	if len(s) != 3 {
		t.Fatalf("samples %+v", s)
	}
	if s[0].QueueDepth == nil || *s[0].QueueDepth != 1007 || s[0].WallClockSeconds == nil || *s[0].WallClockSeconds != 0.0025 {
		t.Errorf("a failed dry run: queue %v (want the last tick's 1007), wall %v", s[0].QueueDepth, s[0].WallClockSeconds)
	}
	if s[1].QueueDepth != nil || s[1].WallClockSeconds != nil {
		t.Errorf("nothing readable, yet %+v", s[1])
	}
	if *s[2].QueueDepth != 65534 || *s[2].WallClockSeconds != 6.5534 {
		t.Errorf("saturated: queue %d wall %g", *s[2].QueueDepth, *s[2].WallClockSeconds)
	}
}

func TestHistoryErrorsInARowAreOne(t *testing.T) {
	h := NewHistory()
	e500 := errors.New(`dry run of town "a": HTTP 500`)
	for i := range 4 {
		h.Record(poll("a", i, 1, 1, e500, nil))
	}
	h.Record(poll("a", 4, 1, 1, nil, errors.New("status: "+strings.Repeat("x", 1000))))
	h.Record(poll("a", 5, 1, 1, e500, nil))
	errs := h.Errors("a")
	if len(errs) != 3 {
		t.Fatalf("errors %+v", errs)
	}
	// A town down answers neither call: each keeps its own run.
	both := NewHistory()
	for i := range 3 {
		both.Record(poll("b", i, 1, 1, e500, errors.New("status: refused")))
	}
	if e := both.Errors("b"); len(e) != 2 || e[0].Count != 3 || e[1].Count != 3 || e[0].Call != "dry run" || e[1].Call != "status" {
		t.Errorf("errors of both calls: %+v", e)
	}
	if e := errs[2]; e.Count != 4 || e.Call != "dry run" || !e.First.Equal(t0) || !e.Last.Equal(t0.Add(15*time.Second)) {
		t.Errorf("the run of four: %+v", e)
	}
	if e := errs[1]; e.Call != "status" || len(e.Error) > maxErrorText+len("…") || !strings.HasSuffix(e.Error, "…") {
		t.Errorf("a long error is not cut: %d bytes", len(e.Error))
	}
	if e := errs[0]; e.Count != 1 || !e.Last.Equal(t0.Add(25*time.Second)) {
		t.Errorf("newest first: %+v", e)
	}
	for i := range 10 {
		h.Record(poll("a", 6+i, 1, 1, fmt.Errorf("error %d", i), nil))
	}
	if errs := h.Errors("a"); len(errs) != RecentErrorsLen || errs[0].Error != "error 9" || errs[RecentErrorsLen-1].Error != "error 5" {
		t.Errorf("kept %+v", errs)
	}
	h.Retain(map[string]bool{"b": true})
	if h.Errors("a") != nil || h.Samples("a") != nil {
		t.Errorf("a town left the watch list but its history stays")
	}
}

// historyPerTown is the heap a full ring of every one of the towns holds,
// per town, in bytes and in objects, measured with runtime.MemStats. The watch
// list comes first, as the sidecar's ticks give it.
func historyPerTown(ids []string) (bytes, objects float64) {
	watched := make(map[string]bool, len(ids))
	for _, id := range ids {
		watched[id] = true
	}
	obs := poll("", 0, 3, 1.5, nil, nil)
	held, objs := heldheap.Held(func() any {
		h := NewHistory()
		h.Retain(watched)
		for k := range HistoryLen {
			obs.At = t0.Add(time.Duration(k) * 5 * time.Second)
			for _, id := range ids {
				obs.Town = id
				h.Record(obs)
			}
		}
		return h
	})
	runtime.KeepAlive(ids)
	return float64(held) / float64(len(ids)), float64(objs) / float64(len(ids))
}

// townIDs are n town ids, as a fleet's.
func townIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("town-%05d", i)
	}
	return ids
}

// TestHistoryMemoryIsBounded: 10,000 towns with full rings (and no errors)
// cost at most 340 bytes each: the ring itself (48 polls of 6 bytes) and
// the index entry. A ring of its own on the heap is 320 bytes with the map
// entry on top.
func TestHistoryMemoryIsBounded(t *testing.T) {
	per, _ := historyPerTown(townIDs(10000))
	t.Logf("history: %.0f bytes per town with %d polls kept", per, HistoryLen)
	if per > 340 {
		t.Errorf("history costs %.0f bytes per town, want at most 340", per)
	}
}

// TestHistoryRingOfATownThatLeftStartsEmpty: a town that comes after one
// left gets its ring back, with none of the old town's polls or errors.
func TestHistoryRingOfATownThatLeftStartsEmpty(t *testing.T) {
	h := NewHistory()
	h.Retain(map[string]bool{"a": true, "b": true})
	for i := range 3 {
		h.Record(poll("a", i, 7, 2, nil, errors.New("status: refused")))
		h.Record(poll("b", i, 1, 1, nil, nil))
	}
	h.Retain(map[string]bool{"b": true, "c": true})
	h.Record(poll("c", 10, 4, 1, nil, nil))
	if s := h.Samples("c"); len(s) != 1 || *s[0].QueueDepth != 4 || !s[0].At.Equal(t0.Add(50*time.Second)) {
		t.Errorf("c's samples %+v, want its one poll", s)
	}
	if e := h.Errors("c"); e != nil {
		t.Errorf("c has errors it never had: %+v", e)
	}
	if s := h.Samples("b"); len(s) != 3 || *s[2].QueueDepth != 1 {
		t.Errorf("b's samples %+v, want its three polls", s)
	}
	if h.Samples("a") != nil || h.Errors("a") != nil {
		t.Errorf("a left the watch list but its history stays")
	}
}

// BenchmarkHistory prints the heap per town of full rings next to the
// baseline of what the same polls would cost as a slice of structs with
// time.Time and float64s, and the cost of one Record, the towns taking
// turns as they do in a tick, so that their rings are not all in the cache.
// It also prints the heap objects per town, each a visit of the collector
// on every cycle, next to those of the rings each on the heap of its own
// behind a map, as they were kept before.
func BenchmarkHistory(b *testing.B) {
	const towns = 10000
	ids := townIDs(towns)
	ours, oursObjects := historyPerTown(ids)
	_, pointerObjects := heldheap.Held(func() any {
		type ownRing struct {
			errs *recentErrors
			townHistory
		}
		rings := make(map[string]*ownRing, towns)
		for _, id := range ids {
			rings[id] = &ownRing{}
		}
		return rings
	})
	type wide struct {
		At         time.Time
		QueueDepth *int
		WallClock  *float64
	}
	held := heldheap.Bytes(func() any {
		baseline := make(map[string][]wide, towns)
		for i := range towns {
			s := make([]wide, HistoryLen)
			for k := range s {
				q, w := k, float64(k)
				s[k] = wide{At: t0, QueueDepth: &q, WallClock: &w}
			}
			baseline[fmt.Sprintf("town-%05d", i)] = s
		}
		return baseline
	})
	baselinePerTown := float64(held) / towns

	h := NewHistory()
	obs := make([]*gastown.Observation, towns)
	for i := range obs {
		obs[i] = poll(ids[i], 0, 3, 1.5, nil, nil)
		h.Record(obs[i])
	}
	b.ResetTimer()
	for i := range b.N {
		h.Record(obs[i%towns])
	}
	// After the loop: ResetTimer drops metrics reported before it.
	b.ReportMetric(ours, "bytes/town")
	b.ReportMetric(baselinePerTown, "baseline-bytes/town")
	b.ReportMetric(oursObjects, "objects/town")
	b.ReportMetric(float64(pointerObjects)/towns, "own-rings-objects/town")
}

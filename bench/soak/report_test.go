package main

import (
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/alerts"
	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
)

// soakDay is when the events of the test happen.
var soakDay = time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC)

// event is what the receiver keeps of transition seq of one violation, sent
// the day of its first transition (its origin says which).
func event(town string, v gastown.Violation, kind dedupe.Kind, seq uint64, origin string) sentrytest.Event {
	id := alerts.EventID(dedupe.Transition{Town: town, Identity: dedupe.Identity(v), Kind: kind, Seq: seq, Origin: dedupe.EpochOrigin(origin, soakDay)})
	return sentrytest.Event{EventID: id, Timestamp: soakDay, Tags: map[string]string{"town": town, "transition": string(kind)},
		Contexts: map[string]map[string]any{"violation": {"invariant": float64(v.Invariant), "message": v.Message}}}
}

func TestCheckChains(t *testing.T) {
	v := gastown.Violation{Invariant: 7, Message: "agent a is working with no hook"}
	key := chainKey{"t1", dedupe.Identity(v)}
	const origin = "ORIGIN"
	whole := []sentrytest.Event{
		event("t1", v, dedupe.Opened, 1, origin),
		event("t1", v, dedupe.Resolved, 2, origin),
		event("t1", v, dedupe.Opened, 3, origin),
		event("t1", v, dedupe.Opened, 3, origin), // resent after a kill
	}
	c := checkChains(whole, map[chainKey]bool{key: true}, origin)
	if c.transitions != 3 || c.gaps != 0 || c.tails != 0 || c.unmatched != 0 || c.resent != 1 || c.order != 0 {
		t.Errorf("a whole chain, open at the end: %+v", c)
	}

	// The resolve lost, and the chain's end disagrees with the final state.
	c = checkChains([]sentrytest.Event{whole[0], whole[2]}, map[chainKey]bool{}, origin)
	if c.gaps != 1 || c.tails != 1 || c.order != 1 {
		t.Errorf("a chain missing its resolve, resolved at the end: %+v", c)
	}

	// Ids made with another state's origin are no transition of this one.
	c = checkChains(whole[:2], nil, "another")
	if c.unmatched != 2 || c.transitions != 0 {
		t.Errorf("ids of another origin: %+v", c)
	}
}

// TestSteadyEnds: one sample caught mid-scrape moves neither end; a
// footprint that grows over the run shows as drift; the first two minutes
// after ready do not count.
func TestSteadyEnds(t *testing.T) {
	t0 := time.Unix(0, 0)
	var rs []resources
	for i := range 61 { // every 30 s for 30 minutes
		r := resources{at: t0.Add(time.Duration(i) * 30 * time.Second), rssBytes: 100, goroutines: 50, fds: 20}
		switch {
		case i < 4:
			r.rssBytes = 10 // warming up
		case i == 8 || i == 58:
			r.rssBytes, r.goroutines, r.fds = 400, 90, 60 // a scrape in flight
		case i > 40:
			r.rssBytes = 130 // grows
		}
		r.heapBytes = r.rssBytes / 2
		rs = append(rs, r)
	}
	first, last, w, ok := steadyEnds(rs)
	if !ok || w != 5*time.Minute {
		t.Fatalf("ok %v window %s, want 5m", ok, w)
	}
	if first.rssBytes != 100 || first.goroutines != 50 || first.fds != 20 {
		t.Errorf("start %+v, want RSS 100, 50 goroutines, 20 fds", first)
	}
	if last.rssBytes != 130 || last.heapBytes != 65 || last.goroutines != 50 || last.fds != 20 {
		t.Errorf("end %+v, want RSS 130, heap 65, 50 goroutines, 20 fds", last)
	}
	if d := drift(first.rssBytes, last.rssBytes); d != "+30.0%" {
		t.Errorf("drift %s, want +30.0%%", d)
	}
	if _, _, _, ok := steadyEnds(rs[:4]); ok {
		t.Error("samples of the first two minutes alone gave a drift")
	}
}

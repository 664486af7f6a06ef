package main

import (
	"testing"

	"github.com/tickwatch/tickwatch/alerts"
	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
)

// event is what the receiver keeps of transition seq of one violation.
func event(town string, v gastown.Violation, kind dedupe.Kind, seq uint64, origin string) sentrytest.Event {
	id := alerts.EventID(dedupe.Transition{Town: town, Identity: dedupe.Identity(v), Kind: kind, Seq: seq, Origin: origin})
	return sentrytest.Event{EventID: id, Tags: map[string]string{"town": town, "transition": string(kind)},
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

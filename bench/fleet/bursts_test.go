package main

import (
	"testing"
	"time"
)

// TestBurstsAndOverlap: status calls less than burstGap apart are one
// burst; overlap is the share of our bursts' time within theirs.
func TestBurstsAndOverlap(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	var tg target
	for _, ms := range []int{0, 100, 350, 5000, 5200} { // 350 is within 300 ms of 100
		tg.noteStatusCall(at(ms))
	}
	ours := tg.burstsWithin(span{at(0), at(10000)})
	if len(ours) != 2 || !ours[0].end.Equal(at(350)) || !ours[1].start.Equal(at(5000)) || !ours[1].end.Equal(at(5200)) {
		t.Fatalf("bursts %v", ours)
	}
	if got := tg.burstsWithin(span{at(1), at(10000)}); len(got) != 1 {
		t.Errorf("a window opening after a burst began leaves it out: %v", got)
	}
	if got := meanLength(ours); got != 0.275 {
		t.Errorf("mean length %v s, want 0.275", got)
	}
	theirs := []span{{at(300), at(400)}, {at(5100), at(6000)}}
	// 50 ms of the first burst, 100 of the second, out of 550.
	if got, want := overlap(ours, theirs), 150.0/550; got != want {
		t.Errorf("overlap %v, want %v", got, want)
	}
	if overlap(nil, theirs) != 0 || overlap(ours, nil) != 0 {
		t.Error("no bursts, no overlap")
	}
}

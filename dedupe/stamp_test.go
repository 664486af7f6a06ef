package dedupe

import (
	"encoding/json"
	"testing"
	"time"
)

func TestStampKeepsTheInstant(t *testing.T) {
	for _, at := range []time.Time{
		time.Date(2026, 12, 5, 23, 0, 0, 123456789, time.UTC),
		time.Date(2026, 12, 5, 23, 0, 0, 1, time.FixedZone("x", 3600)),
		time.Now(),
	} {
		s := stampOf(at)
		if !s.Time().Equal(at) {
			t.Errorf("stampOf(%v).Time() = %v", at, s.Time())
		}
		if s.Time().Location() != time.UTC {
			t.Errorf("%v: not in UTC: %v", at, s.Time().Location())
		}
		if got := s.add(time.Second).since(s.add(3 * time.Second)); got != 2*time.Second {
			t.Errorf("since: %v, want 2s", got)
		}
	}
	if s := stampOf(time.Time{}); s != 0 || !s.Time().IsZero() {
		t.Errorf("the zero time is stamp %d, back %v", s, s.Time())
	}
	if d := stamp(0).since(stampOf(time.Now())); d < 50*365*24*time.Hour {
		t.Errorf("since the zero stamp: %v, want longer than any setting", d)
	}
}

// TestStampFileFormat: an entry reads the times a time.Time wrote (any
// offset, the zero time) and writes them as a time.Time in UTC does, so a
// state file reads both ways.
func TestStampFileFormat(t *testing.T) {
	at := time.Date(2026, 12, 5, 23, 0, 0, 500, time.FixedZone("", -5*3600))
	old, err := json.Marshal(struct {
		Identity  string    `json:"identity"`
		FirstSeen time.Time `json:"first_seen"`
		LastAt    time.Time `json:"last_at"`
	}{"i", at, time.Time{}})
	if err != nil {
		t.Fatal(err)
	}
	var e entry
	if err := json.Unmarshal(old, &e); err != nil {
		t.Fatalf("%s: %v", old, err)
	}
	if !e.FirstSeen.Time().Equal(at) || e.LastAt != 0 {
		t.Errorf("read %s as first seen %v, last at %d", old, e.FirstSeen.Time(), e.LastAt)
	}
	got, err := json.Marshal(e.FirstSeen)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(at.UTC())
	if string(got) != string(want) {
		t.Errorf("written as %s, a time.Time writes %s", got, want)
	}
	zero, _ := json.Marshal(e.LastAt)
	if wantZero, _ := json.Marshal(time.Time{}); string(zero) != string(wantZero) {
		t.Errorf("the zero stamp is written %s, the zero time %s", zero, wantZero)
	}
	if err := json.Unmarshal([]byte(`"yesterday"`), &e.LastSeen); err == nil {
		t.Error("a time that is not RFC 3339 was read")
	}
}

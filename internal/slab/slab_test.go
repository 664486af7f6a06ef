package slab

import (
	"fmt"
	"maps"
	"testing"

	"github.com/tickwatch/tickwatch/internal/heldheap"
)

type item struct {
	n    int
	name string
}

func TestAddGetRemove(t *testing.T) {
	var s Slab[item]
	if s.Get("a") != nil || s.Len() != 0 {
		t.Fatal("an empty slab has a value")
	}
	a := s.Add("a")
	a.n, a.name = 1, "first"
	s.Add("b").n = 2
	if got := s.Add("a"); got.n != 1 || got.name != "first" {
		t.Errorf("Add of a key with a value gave %+v, want the value", *got)
	}
	s.Remove("a")
	s.Remove("nothing")
	if s.Get("a") != nil || s.Len() != 1 || s.Get("b").n != 2 {
		t.Errorf("after Remove: a %v, len %d, b %+v", s.Get("a"), s.Len(), s.Get("b"))
	}
	// c takes a's slot, and starts from zero.
	if c := s.Add("c"); c.n != 0 || c.name != "" {
		t.Errorf("a new key starts from %+v, want zero", *c)
	}
	if len(s.items) != 2 {
		t.Errorf("%d slots for 2 keys after a removal: the freed one was not reused", len(s.items))
	}
}

func TestReserveKeepsValuesInPlace(t *testing.T) {
	var s Slab[item]
	s.Add("first").n = 7
	s.Reserve(100)
	p := s.Get("first")
	for i := range 99 {
		s.Add(fmt.Sprint(i))
	}
	if s.Get("first") != p || p.n != 7 {
		t.Errorf("adding the reserved keys moved the values")
	}
	s.Remove("3")
	s.Reserve(100) // a free slot and room: nothing to do
	if s.Get("first") != p {
		t.Errorf("a reserve with room moved the values")
	}
}

func TestAllAndClear(t *testing.T) {
	var s Slab[item]
	for i := range 5 {
		s.Add(fmt.Sprint(i)).n = i
	}
	seen := map[string]int{}
	for k, v := range s.All() {
		seen[k] = v.n
		if v.n%2 == 1 {
			s.Remove(k)
		}
	}
	want := map[string]int{"0": 0, "1": 1, "2": 2, "3": 3, "4": 4}
	if !maps.Equal(seen, want) {
		t.Errorf("All yielded %v, want %v", seen, want)
	}
	if s.Len() != 3 || s.Get("1") != nil || s.Get("2").n != 2 {
		t.Errorf("removing within All: len %d", s.Len())
	}
	s.Clear()
	if s.Len() != 0 || s.Get("2") != nil {
		t.Errorf("Clear kept %d", s.Len())
	}
	if v := s.Add("x"); v.n != 0 {
		t.Errorf("a key added after Clear starts from %+v", *v)
	}
}

// TestValuesAreNotObjectsOfTheirOwn: 10,000 values cost the collector the
// slice and the index, not an object each.
func TestValuesAreNotObjectsOfTheirOwn(t *testing.T) {
	const n = 10000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("town-%05d", i)
	}
	_, objects := heldheap.Held(func() any {
		var s Slab[item]
		s.Reserve(n)
		for _, k := range keys {
			s.Add(k).n = 1
		}
		return &s
	})
	if objects > n/100 {
		t.Errorf("%d heap objects for %d values", objects, n)
	}
}

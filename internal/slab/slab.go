// Package slab keeps one value per town in a single slice found by the
// town's id. At 10,000 towns a map of pointers to values of their own has
// the garbage collector visit 10,000 objects on every cycle; a slice is one
// object, which it never reads at all when the values hold no pointers.
package slab

import (
	"iter"
	"slices"
)

// Slab holds a T per key. It is not safe for concurrent use. A pointer it
// returns is valid until the next Add or Reserve, which may move the values.
// A removed key's slot goes to the next key added; like a map's buckets, the
// slots are never given back.
type Slab[T any] struct {
	index map[string]int32
	items []T
	free  []int32 // slots of removed keys, for the next ones added
}

// Get is key's value; nil when it has none.
func (s *Slab[T]) Get(key string) *T {
	i, ok := s.index[key]
	if !ok {
		return nil
	}
	return &s.items[i]
}

// Add is key's value, a zero T when key had none.
func (s *Slab[T]) Add(key string) *T {
	if v := s.Get(key); v != nil {
		return v
	}
	if s.index == nil {
		s.index = map[string]int32{}
	}
	var i int32
	if n := len(s.free); n > 0 {
		i, s.free = s.free[n-1], s.free[:n-1]
	} else {
		i = int32(len(s.items))
		var zero T
		s.items = append(s.items, zero)
	}
	s.index[key] = i
	return &s.items[i]
}

// Remove drops key's value; its slot is zeroed, so that it keeps nothing
// alive and the next key added there starts from a zero T.
func (s *Slab[T]) Remove(key string) {
	i, ok := s.index[key]
	if !ok {
		return
	}
	delete(s.index, key)
	var zero T
	s.items[i] = zero
	s.free = append(s.free, i)
}

// Reserve makes room for n keys in all without growing again: a fleet's
// values are allocated once, not a quarter more at a time with every older
// slice left to the collector.
func (s *Slab[T]) Reserve(n int) {
	if more := n - len(s.index) - len(s.free); more > 0 {
		s.items = slices.Grow(s.items, more)
	}
}

// Len is the number of keys with a value.
func (s *Slab[T]) Len() int { return len(s.index) }

// All yields every key and its value, in no order. The loop may Remove the
// key it is at, but not Add.
func (s *Slab[T]) All() iter.Seq2[string, *T] {
	return func(yield func(string, *T) bool) {
		for k, i := range s.index {
			if !yield(k, &s.items[i]) {
				return
			}
		}
	}
}

// Clear drops every value.
func (s *Slab[T]) Clear() {
	clear(s.index)
	clear(s.items)
	s.items, s.free = s.items[:0], s.free[:0]
}

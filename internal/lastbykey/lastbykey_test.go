package lastbykey

import (
	"slices"
	"testing"
)

type kv struct{ k, v string }

func TestSort(t *testing.T) {
	key := func(e kv) string { return e.k }
	for _, tc := range []struct {
		name     string
		in, want []kv
	}{
		{"empty", nil, nil},
		{"in order", []kv{{"a", "1"}, {"b", "2"}}, []kv{{"a", "1"}, {"b", "2"}}},
		{"out of order", []kv{{"c", "1"}, {"a", "2"}, {"b", "3"}}, []kv{{"a", "2"}, {"b", "3"}, {"c", "1"}}},
		{"repeated key, last wins", []kv{{"b", "1"}, {"a", "2"}, {"b", "3"}, {"b", "4"}}, []kv{{"a", "2"}, {"b", "4"}}},
		{"in order with a repeat", []kv{{"a", "1"}, {"a", "2"}}, []kv{{"a", "2"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := slices.Clone(tc.in)
			got := Sort(in, key)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Sort(%v) = %v, want %v", tc.in, got, tc.want)
			}
			for _, e := range in[len(got):] {
				if e != (kv{}) {
					t.Errorf("dropped element %v still held past the end", e)
				}
			}
		})
	}
}

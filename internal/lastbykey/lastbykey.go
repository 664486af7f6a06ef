// Package lastbykey orders a decoded list by a string key and keeps one
// element per key, the last listed, as a JSON object keeps the last of a
// repeated key.
package lastbykey

import (
	"slices"
	"strings"
)

// Sort sorts s by key, stably, and drops each element whose key a later
// one repeats, in place; it clears the room it frees, so that nothing it
// dropped stays reachable. A short list already in order is only read.
func Sort[T any](s []T, key func(T) string) []T {
	slices.SortStableFunc(s, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	n := 0
	for i := range s {
		if n > 0 && key(s[n-1]) == key(s[i]) {
			s[n-1] = s[i]
			continue
		}
		if n != i { // an element is not written onto itself
			s[n] = s[i]
		}
		n++
	}
	clear(s[n:])
	return s[:n]
}

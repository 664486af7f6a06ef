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
// dropped stays reachable. A list already in order is only read.
func Sort[T any](s []T, key func(T) string) []T {
	if slices.IsSortedFunc(s, func(a, b T) int { return strings.Compare(key(a), key(b)) }) && !repeats(s, key) {
		return s
	}
	slices.SortStableFunc(s, func(a, b T) int { return strings.Compare(key(a), key(b)) })
	n := 0
	for i := range s {
		if n > 0 && key(s[n-1]) == key(s[i]) {
			s[n-1] = s[i]
			continue
		}
		s[n] = s[i]
		n++
	}
	clear(s[n:])
	return s[:n]
}

// repeats reports whether two neighbours of s share a key.
func repeats[T any](s []T, key func(T) string) bool {
	for i := 1; i < len(s); i++ {
		if key(s[i-1]) == key(s[i]) {
			return true
		}
	}
	return false
}

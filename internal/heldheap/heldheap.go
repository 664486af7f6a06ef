// Package heldheap measures, in tests and benchmarks, how much heap a
// structure keeps once the garbage of building it is collected.
package heldheap

import "runtime"

// Bytes runs build and returns the growth of the live heap it leaves
// behind: what the value build returns holds, and whatever else build kept.
func Bytes(build func() any) int64 {
	b, _ := Held(build)
	return b
}

// Held is Bytes, and the growth in the number of live heap objects: each
// one is a visit of the collector on every cycle, where the bytes of an
// object without pointers are never read.
func Held(build func() any) (bytes, objects int64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc), int64(after.HeapObjects) - int64(before.HeapObjects)
}

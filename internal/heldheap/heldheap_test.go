package heldheap

import "testing"

// sink makes the dropped slices real allocations the compiler cannot elide.
var sink []byte

func TestBytesCountsWhatIsKeptNotTheGarbage(t *testing.T) {
	const n, slack = 1 << 20, 64 << 10 // slack: what the runtime itself frees or keeps meanwhile
	kept := Bytes(func() any {
		for range 16 {
			sink = make([]byte, n) // garbage once the next replaces it
		}
		sink = nil
		return make([]byte, n)
	})
	if kept < n-slack || kept > n+slack {
		t.Errorf("kept %d bytes for one slice of %d and 16 dropped", kept, n)
	}
}

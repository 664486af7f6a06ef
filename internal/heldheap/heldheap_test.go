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

func TestHeldCountsObjects(t *testing.T) {
	const n, slack = 1000, 50 // slack: what the runtime itself frees or keeps meanwhile
	_, objects := Held(func() any {
		kept := make([]*[4]int64, n)
		for i := range kept {
			kept[i] = new([4]int64)
			sink = make([]byte, 64) // garbage
		}
		return kept
	})
	if objects < n-slack || objects > n+slack {
		t.Errorf("%d objects held for %d kept and their slice", objects, n)
	}
}

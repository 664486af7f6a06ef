package exporter

// spare keeps up to a few large buffers for their next use, seconds away (a
// scrape's, a tick's). Unlike a sync.Pool it is not emptied by the
// collector, which at 10,000 towns runs several times between two scrapes:
// a pooled gzip writer (about 1 MB of compressor state) was seldom still
// there, and every scrape allocated its 1.5 MB of buffers anew.
type spare[T any] struct {
	free  chan T
	fresh func() T
}

func newSpare[T any](n int, fresh func() T) *spare[T] {
	return &spare[T]{free: make(chan T, n), fresh: fresh}
}

func (s *spare[T]) get() T {
	select {
	case v := <-s.free:
		return v
	default:
		return s.fresh()
	}
}

// put keeps v if there is room; the rest go to the collector.
func (s *spare[T]) put(v T) {
	select {
	case s.free <- v:
	default:
	}
}

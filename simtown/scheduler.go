package simtown

import (
	"container/heap"
	"sync"
	"time"
)

// scheduler holds every town's next alarm in one min-heap, so a fleet of a
// thousand towns costs one timer and a few workers, not a goroutine each.
type scheduler struct {
	mu   sync.Mutex
	h    alarmHeap
	wake chan struct{}
}

type alarm struct {
	at time.Time
	t  *town
}

type alarmHeap []alarm

func (h alarmHeap) Len() int { return len(h) }
func (h alarmHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].t.id < h[j].t.id
	}
	return h[i].at.Before(h[j].at)
}
func (h alarmHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *alarmHeap) Push(x any)   { *h = append(*h, x.(alarm)) }
func (h *alarmHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newScheduler() *scheduler { return &scheduler{wake: make(chan struct{}, 1)} }

func (s *scheduler) push(t *town, at time.Time) {
	s.mu.Lock()
	heap.Push(&s.h, alarm{at: at, t: t})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// popDue removes and returns the earliest alarm if it is due at now;
// otherwise it returns how long until the earliest one (-1: none at all).
func (s *scheduler) popDue(now time.Time) (*town, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.h) == 0 {
		return nil, -1
	}
	if top := s.h[0]; top.at.After(now) {
		return nil, top.at.Sub(now)
	}
	return heap.Pop(&s.h).(alarm).t, 0
}

// Package gastowntest serves the Gastown debug API from canned answers, for
// tests of the packages that poll it, and reads the shared answer samples.
package gastowntest

import (
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Sample reads one of the Gastown answer samples in gastown/testdata.
func Sample(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := ReadSample(name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ReadSample reads a sample outside a test (bench/fleet serves them).
func ReadSample(name string) ([]byte, error) {
	_, file, _, _ := runtime.Caller(0)
	return os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "gastown", "testdata", name))
}

// Fake serves per-town answers and counts what it was asked. Set its maps
// under Mu once it serves.
type Fake struct {
	Mu       sync.Mutex
	DryRun   map[string][]byte
	Status   map[string][]byte
	Handlers map[string]http.HandlerFunc // town -> custom behaviour
	Requests []time.Time

	inFlight, maxInFlight atomic.Int64
}

func NewFake() *Fake {
	return &Fake{DryRun: map[string][]byte{}, Status: map[string][]byte{}, Handlers: map[string]http.HandlerFunc{}}
}

// MaxInFlight is the most requests it served at once.
func (f *Fake) MaxInFlight() int64 { return f.maxInFlight.Load() }

func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	f.Mu.Lock()
	f.Requests = append(f.Requests, time.Now())
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/debug/towns/"), "/")
	town := parts[0]
	h, dry, st := f.Handlers[town], f.DryRun[town], f.Status[town]
	f.Mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	switch {
	case len(parts) == 2 && parts[1] == "reconcile-dry-run" && dry != nil:
		w.Write(dry)
	case len(parts) == 2 && parts[1] == "status" && st != nil:
		w.Write(st)
	default:
		w.WriteHeader(404)
		w.Write([]byte(`{"success":false,"error":"Not found"}`))
	}
}

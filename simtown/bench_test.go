package simtown

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rss is the process's resident set in bytes. SQLite's page caches live
// outside the Go heap (modernc allocates through its own libc), so the heap
// alone would under-count a town.
func rss(tb testing.TB) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024
		}
	}
	tb.Skip("no VmRSS")
	return 0
}

func heapBytes() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc)
}

// BenchmarkTownTick is the CPU cost of one alarm tick of a busy town (drain,
// reconcile, apply, side effects, invariants, workload), next to the cost of
// the cheapest statement on the same connection, measured in the same run.
func BenchmarkTownTick(b *testing.B) {
	f, c := newFleet(b, Options{Towns: 50, Seed: 1, FaultRate: 0.02, SideEffectFailureRate: 0.02})
	run(b, f, c, 2*time.Minute) // past the bootstrap, into steady state
	ctx := context.Background()

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tw := f.towns[i%len(f.towns)]
		now := c.Advance(5 * time.Second / time.Duration(len(f.towns)))
		if _, err := tw.tick(ctx, now); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	perTick := float64(b.Elapsed().Nanoseconds()) / float64(b.N)

	tw := f.towns[0]
	const queries = 2000
	start := time.Now()
	for i := 0; i < queries; i++ {
		if _, err := tw.st.count(`SELECT 1`); err != nil {
			b.Fatal(err)
		}
	}
	perQuery := float64(time.Since(start).Nanoseconds()) / queries

	b.ReportMetric(perTick, "ns/town-tick")
	b.ReportMetric(perQuery, "ns/baseline-query")
	b.ReportMetric(perTick/perQuery, "queries/tick")
	// One core keeps this many busy towns at the 5 s active cadence.
	b.ReportMetric(float64(activeInterval.Nanoseconds())/perTick, "busy-towns/core")
}

// BenchmarkFleetMemory runs a fleet of 1,000 towns in this process for a
// simulated minute and reports the memory of one town, next to the memory
// of a bare SQLite connection (the baseline) measured in the same run, and
// the time New takes per town.
func BenchmarkFleetMemory(b *testing.B) {
	const towns = 1000
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		heap0, rss0 := heapBytes(), rss(b)
		var bare []*town
		for j := 0; j < towns; j++ {
			db, conn, err := openTownDB(dir + "/bare-" + strconv.Itoa(j) + ".sqlite")
			if err != nil {
				b.Fatal(err)
			}
			bare = append(bare, &town{db: db, conn: conn})
		}
		heap1, rss1 := heapBytes(), rss(b)
		for _, t := range bare {
			t.close()
		}

		heap2, rss2 := heapBytes(), rss(b)
		start := time.Now()
		f, c := newFleet(b, Options{Towns: towns, Seed: 1, Dir: dir, FaultRate: 0.02})
		open := time.Since(start)
		run(b, f, c, time.Minute)
		heap3, rss3 := heapBytes(), rss(b)

		b.ReportMetric((rss3-rss2)/towns, "rss-bytes/town")
		b.ReportMetric((heap3-heap2)/towns, "heap-bytes/town")
		b.ReportMetric((rss1-rss0)/towns, "rss-bytes/baseline-conn")
		b.ReportMetric((heap1-heap0)/towns, "heap-bytes/baseline-conn")
		b.ReportMetric(float64(open.Nanoseconds())/towns, "ns/town-open")
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

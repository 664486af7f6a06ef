package main

import (
	"math"
	"testing"
)

// TestSummarize: rounds group by fleet size and scheme in their order; the
// ratio is the median of the rounds' ratios (the mean of the middle two
// for an even count), and the peak RSS the highest.
func TestSummarize(t *testing.T) {
	r := func(towns int, scheme string, bare, ours, hwm float64) row {
		return row{towns: towns, scheme: scheme, bare: run{cpuPer1k: bare}, ours: run{cpuPer1k: ours, hwm: hwm}}
	}
	cells := summarize([]row{
		r(1000, "http", 100, 130, 30<<20),
		r(1000, "http", 100, 110, 32<<20),
		r(1000, "http", 100, 150, 31<<20),
		r(1000, "https", 100, 120, 40<<20),
		r(1000, "https", 50, 70, 41<<20), // 1.40x
		r(10000, "http", 0, 99, 60<<20),  // no ratio: the window was too short
	})
	if len(cells) != 3 {
		t.Fatalf("%d cells, want 3: %+v", len(cells), cells)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	c := cells[0]
	if c.towns != 1000 || c.scheme != "http" || c.rounds != 3 || !near(c.ratio, 1.30) || !near(c.minRatio, 1.10) || !near(c.maxRatio, 1.50) || c.maxHWM != 32<<20 {
		t.Errorf("first cell %+v", c)
	}
	if c := cells[1]; c.rounds != 2 || !near(c.ratio, 1.30) || !near(c.bareCPU, 75) || !near(c.oursCPU, 95) {
		t.Errorf("even count: %+v, want the mean of the middle two", c)
	}
	if c := cells[2]; c.towns != 10000 || c.ratio != 0 || c.rounds != 1 {
		t.Errorf("a round without a ratio: %+v", c)
	}
}

package statuspage

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/exporter"
	"github.com/tickwatch/tickwatch/gastown"
)

// benchFleet is n towns: one in 50 down, one in 20 with a violation open,
// the rest up with varied queues.
func benchFleet(n int) *Pages {
	snap := exporter.NewSnapshot()
	tr := dedupe.NewTracker(dedupe.Options{OpenAfter: 1}, func() time.Time { return t0 })
	for i := range n {
		town := fmt.Sprintf("town-%05d", i)
		s := townSpec{up: i%50 != 7, ticking: true, dryRunUp: i%50 != 7, queue: i % 40, wallSeconds: float64(i%9) / 1000}
		if !s.up {
			s.err = fmt.Sprintf("status of town %q: Get: dial tcp 10.0.0.1:8788: connect: connection refused", town)
		}
		snap.Put(town, state(s, t0))
		if i%20 == 3 {
			tr.Observe(town, true, []gastown.Violation{{Invariant: 7, Message: "Working agent ag-1 has no hook"}})
		}
	}
	cfg := config.Default()
	return New(Options{Snapshot: snap, Tracker: tr, TelemetryPath: "/metrics", Now: func() time.Time { return t0 },
		Outbox: func() *OutboxStatus { return &OutboxStatus{} }}, &cfg)
}

// BenchmarkFleetPage serves the fleet page (its default: problems first,
// 100 towns a page) at 20 and 10,000 towns, next to the baseline of the
// whole fleet in one table (per_page=0: what the page was before it had
// pages, and what a compact table without paging would cost), and
// /status.json. It reports the page weight in bytes next to the time.
func BenchmarkFleetPage(b *testing.B) {
	for _, n := range []int{20, 10000} {
		p := benchFleet(n)
		for _, c := range []struct {
			name, target string
			h            http.HandlerFunc
		}{
			{"paged", "/", p.ServeFleet},
			{"filtered", "/?q=town-0999&sort=queue", p.ServeFleet},
			{"baseline-one-table", "/?per_page=0", p.ServeFleet},
			{"status.json", "/status.json", p.ServeFleetJSON},
		} {
			b.Run(fmt.Sprintf("towns=%d/%s", n, c.name), func(b *testing.B) {
				var size int
				for range b.N {
					rec := httptest.NewRecorder()
					c.h(rec, httptest.NewRequest(http.MethodGet, c.target, nil))
					if rec.Code != 200 {
						b.Fatalf("%s: %d", c.target, rec.Code)
					}
					size = rec.Body.Len()
				}
				b.ReportMetric(float64(size), "page-bytes")
			})
		}
	}
}

// BenchmarkTownPage serves one town's page with a full history.
func BenchmarkTownPage(b *testing.B) {
	p := benchFleet(10000)
	for i := range HistoryLen {
		p.o.History.Record(poll("town-00003", i, i, float64(i), nil, nil))
	}
	var size int
	for range b.N {
		rec := httptest.NewRecorder()
		p.ServeTown(rec, httptest.NewRequest(http.MethodGet, "/towns/town-00003", nil))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "page-bytes")
}

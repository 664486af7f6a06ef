package exporter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/gastowntest"
)

const benchTowns = 10000

// pollSnapshot stores n towns shaped like the status.json and dry-run.json
// samples, each decoded from its own copy of the answers as a poll would, so
// that nothing is shared between towns that a real fleet would not share.
func pollSnapshot(tb testing.TB, n int) *Snapshot {
	dryJSON, statusJSON := gastowntest.Sample(tb, "dry-run.json"), gastowntest.Sample(tb, "status.json")
	snap := NewSnapshot()
	now := time.Now()
	for i := 0; i < n; i++ {
		var d gastown.DryRun
		var st gastown.Status
		if err := json.Unmarshal(dryJSON, &d); err != nil {
			tb.Fatal(err)
		}
		if err := json.Unmarshal(statusJSON, &st); err != nil {
			tb.Fatal(err)
		}
		o := gastown.Observation{Town: fmt.Sprintf("town-%05d", i), At: now, DryRun: &d, Status: &st,
			StatusCall: gastown.Call{Done: true, Code: 200, Duration: time.Millisecond},
			DryRunCall: gastown.Call{Done: true, Code: 200, Duration: time.Millisecond}}
		s, _ := newTownState(&o, nil, 64)
		snap.Put(o.Town, s)
	}
	return snap
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// constMetrics serves what a Gatherer served, the way a conventional
// exporter does: a ConstMetric per series, made anew at every scrape.
type constMetrics struct {
	descs  []*prometheus.Desc
	series [][]constSeries
}

type constSeries struct {
	values []string
	v      float64
}

func newConstMetrics(mfs []*dto.MetricFamily) *constMetrics {
	c := &constMetrics{}
	for _, mf := range mfs {
		var labels []string
		for _, lp := range mf.Metric[0].Label {
			labels = append(labels, lp.GetName())
		}
		c.descs = append(c.descs, prometheus.NewDesc(mf.GetName(), mf.GetHelp(), labels, nil))
		ss := make([]constSeries, len(mf.Metric))
		for i, m := range mf.Metric {
			for _, lp := range m.Label {
				ss[i].values = append(ss[i].values, lp.GetValue())
			}
			ss[i].v = m.GetGauge().GetValue()
		}
		c.series = append(c.series, ss)
	}
	return c
}

func (c *constMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *constMetrics) Collect(ch chan<- prometheus.Metric) {
	for i, d := range c.descs {
		for _, s := range c.series[i] {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, s.v, s.values...)
		}
	}
}

// discardResponse counts what a handler writes and keeps none of it, so that
// a scrape's figure is the handler's own work.
type discardResponse struct {
	header http.Header
	n      int
}

func (d *discardResponse) Header() http.Header { return d.header }
func (d *discardResponse) WriteHeader(int)     {}
func (d *discardResponse) Write(p []byte) (int, error) {
	d.n += len(p)
	return len(p), nil
}

type scrapeFigures struct {
	d              time.Duration
	bytes          int
	allocs, allocB uint64
}

func (f *scrapeFigures) add(g scrapeFigures) {
	f.d += g.d
	f.bytes = g.bytes
	f.allocs += g.allocs
	f.allocB += g.allocB
}

func measureScrape(h http.Handler, gzip bool) scrapeFigures {
	req := httptest.NewRequest("GET", "/metrics", nil)
	if gzip {
		req.Header.Set("Accept-Encoding", "gzip") // as Prometheus asks
	}
	w := &discardResponse{header: http.Header{}}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	h.ServeHTTP(w, req)
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	return scrapeFigures{d, w.n, after.Mallocs - before.Mallocs, after.TotalAlloc - before.TotalAlloc}
}

// BenchmarkScrape10kTowns serves /metrics for 10,000 towns shaped like the
// answer samples, through tickwatch's handler and, in alternating rounds of
// the same run, through a bare promhttp handler serving the same series as
// ConstMetrics; plain and gzipped; with the default series and with every
// metrics.* group on. It prints server time per scrape, exposition bytes,
// allocations per scrape, series per town and the live heap per town of the
// snapshot. Target: under 100 ms per scrape, plain and gzipped.
func BenchmarkScrape10kTowns(b *testing.B) {
	before := liveHeap()
	snap := pollSnapshot(b, benchTowns)
	snap.AppendTowns(nil) // the sorted order scrapes keep
	heapPerTown := float64(liveHeap()-before) / benchTowns
	// Every town has the violations its status rows show open.
	var st gastown.Status
	if err := json.Unmarshal(gastowntest.Sample(b, "status.json"), &st); err != nil {
		b.Fatal(err)
	}
	tracker := dedupe.NewTracker(dedupe.Options{OpenAfter: 1}, nil)
	for _, e := range snap.Towns() {
		tracker.Observe(e.Town, true, gastown.CheckStatus(&st))
	}
	b.Run("default", func(b *testing.B) { benchScrape(b, snap, tracker, heapPerTown, config.Metrics{}) })
	b.Run("every_group", func(b *testing.B) { benchScrape(b, snap, tracker, heapPerTown, allGroups()) })
}

func benchScrape(b *testing.B, snap *Snapshot, violations ViolationCounts, heapPerTown float64, groups config.Metrics) {
	towns := NewTownMetrics(snap, violations)
	towns.SetMetrics(groups)
	ours := MetricsHandler(prometheus.NewRegistry(), towns, slog.New(slog.DiscardHandler))
	mfs, _ := towns.Gather()
	series := 0
	for _, mf := range mfs {
		series += len(mf.Metric)
	}
	bareReg := prometheus.NewRegistry()
	bareReg.MustRegister(newConstMetrics(mfs))
	bare := promhttp.HandlerFor(bareReg, promhttp.HandlerOpts{})

	// The same exposition, byte for byte: the comparison is fair.
	body := func(h http.Handler) []byte {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return rec.Body.Bytes()
	}
	if o, c := body(ours), body(bare); !bytes.Equal(o, c) {
		b.Fatalf("expositions differ: %d vs %d bytes", len(o), len(c))
	}

	var oursPlain, oursGzip, barePlain, bareGzip scrapeFigures
	reps := max(b.N, 5) // one scrape takes long enough that b.N stays 1
	b.ResetTimer()
	for i := 0; i < reps; i++ {
		barePlain.add(measureScrape(bare, false))
		oursPlain.add(measureScrape(ours, false))
		bareGzip.add(measureScrape(bare, true))
		oursGzip.add(measureScrape(ours, true))
	}
	b.StopTimer()
	per := func(f scrapeFigures) (ms, allocs, mb float64) {
		n := float64(reps)
		return float64(f.d.Microseconds()) / 1000 / n, float64(f.allocs) / n, float64(f.allocB) / n / 1e6
	}
	report := func(prefix string, f scrapeFigures) {
		ms, allocs, mb := per(f)
		b.ReportMetric(ms, prefix+"-ms/scrape")
		b.ReportMetric(allocs, prefix+"-allocs/scrape")
		b.ReportMetric(mb, prefix+"-allocMB/scrape")
		b.ReportMetric(float64(f.bytes)/1e6, prefix+"-MB")
	}
	report("tickwatch", oursPlain)
	report("bare", barePlain)
	report("tickwatch-gzip", oursGzip)
	report("bare-gzip", bareGzip)
	b.ReportMetric(float64(series)/benchTowns, "series/town")
	b.ReportMetric(heapPerTown, "heap-B/town")
	runtime.KeepAlive(snap)
}

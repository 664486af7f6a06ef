package sidecar

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/internal/gastowntest"
	"github.com/tickwatch/tickwatch/internal/heldheap"
)

// BenchmarkCollection10kTowns times a full collection (one per op) with the
// state of 10,000 towns live, each polled from the sample answers until its
// violation is open, next to one before the sidecar existed (runtime-ns: the
// runtime's own), and prints the heap objects and bytes per town. The collector visits every object on every cycle; at
// 10,000 towns its marking is about a sixth of the sidecar's CPU.
func BenchmarkCollection10kTowns(b *testing.B) {
	const towns = 10000
	fake := gastowntest.NewFake()
	status, dry := gastowntest.Sample(b, "status.json"), gastowntest.Sample(b, "dry-run.json")
	ids := make([]string, towns)
	for i := range ids {
		id := fmt.Sprintf("town-%05d", i)
		fake.Status[id], fake.DryRun[id] = status, dry
		ids[i] = strconv.Quote(id)
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "towns.json"), []byte("["+strings.Join(ids, ",")+"]"), 0o644); err != nil {
		b.Fatal(err)
	}
	yml := "target:\n  url: " + srv.URL + "\n  towns_file: " + filepath.Join(dir, "towns.json") +
		"\npoll:\n  concurrency: 64\n  max_requests_per_second: 40000\ndedupe:\n  state_dir: " + filepath.Join(dir, "state") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "tickwatch.yml"), []byte(yml), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "tickwatch.yml"))
	if err != nil {
		b.Fatal(err)
	}

	runtimeOnly := medianCollection(15)
	var sc *Sidecar
	defer func() {
		if sc != nil {
			sc.Violations.Tracker.Close()
			sc.Violations.Notifier.Close()
		}
	}()
	bytes, objects := heldheap.Held(func() any {
		if sc, err = New(cfg, Options{TelemetryPath: "/metrics", Logger: slog.New(slog.DiscardHandler)}); err != nil {
			b.Fatal(err)
		}
		// Until every town has its violation open: on a busy machine a poll
		// may time out, and its town then opens a tick later.
		for tick := 0; len(sc.Violations.Tracker.AllOpenViolations()) < towns; tick++ {
			if tick == 10 {
				b.Fatalf("%d violations open in %d towns after %d ticks, want one a town at least",
					len(sc.Violations.Tracker.AllOpenViolations()), towns, tick)
			}
			sc.Poller.Tick(context.Background())
		}
		fake.Mu.Lock()
		fake.Requests = nil // the fake's log of calls is not the sidecar's heap
		fake.Mu.Unlock()
		return sc
	})

	b.ResetTimer()
	for range b.N {
		runtime.GC()
	}
	b.StopTimer()
	runtime.KeepAlive(sc)
	b.ReportMetric(float64(runtimeOnly.Nanoseconds()), "runtime-ns")
	b.ReportMetric(float64(objects)/towns, "objects/town")
	b.ReportMetric(float64(bytes)/towns, "bytes/town")
}

// medianCollection is the median time of n full collections.
func medianCollection(n int) time.Duration {
	ds := make([]time.Duration, n)
	for i := range ds {
		start := time.Now()
		runtime.GC()
		ds[i] = time.Since(start)
	}
	slices.Sort(ds)
	return ds[n/2]
}

package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/gastowntest"
)

// BenchmarkTownPoll compares one town poll (dry run and status, decoded into
// the snapshot) with a bare net/http client doing the same two requests and
// discarding the bodies, in the same run. Target: at most 1.5x the bare client.
func BenchmarkTownPoll(b *testing.B) {
	dry, status := gastowntest.Sample(b, "dry-run.json"), gastowntest.Sample(b, "status.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/status") {
			w.Write(status)
		} else {
			w.Write(dry)
		}
	}))
	defer srv.Close()

	bare := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	bareOne := func() {
		for _, req := range []struct{ method, path string }{{"POST", "/debug/towns/t/reconcile-dry-run"}, {"GET", "/debug/towns/t/status"}} {
			r, _ := http.NewRequest(req.method, srv.URL+req.path, nil)
			resp, err := bare.Do(r)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	c, err := gastown.NewClient(gastown.ClientOptions{URL: srv.URL, HTTPClient: commoncfg.DefaultHTTPClientConfig, Timeout: 5 * time.Second, MaxBodyBytes: 4 << 20})
	if err != nil {
		b.Fatal(err)
	}
	snap := NewSnapshot()
	p := NewPoller(Settings{Client: c, WithStatus: true, MaxActionTypes: 64, Interval: time.Hour}, snap, time.Now, slog.New(slog.DiscardHandler))
	s := p.settings.Load()
	ours := func() { p.poll(context.Background(), context.Background(), s, "t") }

	// Alternate batches of each, so that both see the same machine: a shared
	// two-core box drifts more between two long runs than within one.
	bareOne()
	ours()
	b.ResetTimer()
	var bareT, oursT time.Duration
	for done := 0; done < b.N; {
		n := min(50, b.N-done)
		start := time.Now()
		for i := 0; i < n; i++ {
			bareOne()
		}
		mid := time.Now()
		for i := 0; i < n; i++ {
			ours()
		}
		bareT, oursT = bareT+mid.Sub(start), oursT+time.Since(mid)
		done += n
	}
	bareNs, oursNs := bareT/time.Duration(b.N), oursT/time.Duration(b.N)
	b.ReportMetric(float64(bareNs.Nanoseconds()), "bare-ns/poll")
	b.ReportMetric(float64(oursNs.Nanoseconds()), "tickwatch-ns/poll")
	b.ReportMetric(float64(oursNs)/float64(bareNs), "x-bare")
	if st := snap.Get("t"); st == nil || !st.Up {
		b.Fatalf("poll did not land in the snapshot: %+v", st)
	}
}

// fillSnapshot stores n towns shaped like the status.json sample.
func fillSnapshot(tb testing.TB, n int) *Snapshot {
	var d gastown.DryRun
	var st gastown.Status
	json.Unmarshal(gastowntest.Sample(tb, "dry-run.json"), &d)
	json.Unmarshal(gastowntest.Sample(tb, "status.json"), &st)
	snap := NewSnapshot()
	now := time.Now()
	for i := 0; i < n; i++ {
		o := gastown.Observation{Town: fmt.Sprintf("town-%05d", i), At: now, DryRun: &d, Status: &st,
			StatusCall: gastown.Call{Done: true, Code: 200, Duration: time.Millisecond},
			DryRunCall: gastown.Call{Done: true, Code: 200, Duration: time.Millisecond}}
		s, _ := newTownState(&o, nil, 64)
		snap.Put(o.Town, s)
	}
	return snap
}

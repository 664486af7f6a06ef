package exporter

import (
	"context"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/gastowntest"
)

// BenchmarkTownPoll compares one town poll (dry run and status, decoded into
// the snapshot) with a bare keep-alive net/http client doing the same two
// requests and discarding the bodies, in the same run, over HTTP and over
// HTTPS. Target: at most 1.25x the bare client. Besides the time it reports
// each side's allocations and bytes per poll; the server runs in the same
// process, so both sides include its share, which is the same for both.
func BenchmarkTownPoll(b *testing.B) {
	b.Run("http", func(b *testing.B) { benchTownPoll(b, false) })
	b.Run("https", func(b *testing.B) { benchTownPoll(b, true) })
}

func benchTownPoll(b *testing.B, tls bool) {
	dry, status := gastowntest.Sample(b, "dry-run.json"), gastowntest.Sample(b, "status.json")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/status") {
			w.Write(status)
		} else {
			w.Write(dry)
		}
	}))
	hc := commoncfg.DefaultHTTPClientConfig
	bareTransport := &http.Transport{MaxIdleConnsPerHost: 16}
	if tls {
		srv.StartTLS()
		// The client trusts the server's certificate as a user would
		// configure it: a CA file.
		ca := filepath.Join(b.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
			b.Fatal(err)
		}
		hc.TLSConfig.CAFile = ca
		bareTransport.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	} else {
		srv.Start()
	}
	defer srv.Close()

	bare := &http.Client{Transport: bareTransport}
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
	c, err := gastown.NewClient(gastown.ClientOptions{URL: srv.URL, HTTPClient: hc, Timeout: 5 * time.Second, MaxBodyBytes: 4 << 20})
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
	if st := snap.Get("t"); st == nil || !st.Up || st.DryRun == nil || !st.DryRun.Up {
		b.Fatalf("poll did not land in the snapshot: %+v", st)
	}
	var bareT, oursT time.Duration
	var bareMem, oursMem, m0, m1, m2 runtime.MemStats
	b.ResetTimer()
	for done := 0; done < b.N; {
		n := min(50, b.N-done)
		runtime.ReadMemStats(&m0)
		start := time.Now()
		for i := 0; i < n; i++ {
			bareOne()
		}
		mid := time.Now()
		runtime.ReadMemStats(&m1)
		mid2 := time.Now()
		for i := 0; i < n; i++ {
			ours()
		}
		end := time.Now()
		runtime.ReadMemStats(&m2)
		bareT, oursT = bareT+mid.Sub(start), oursT+end.Sub(mid2)
		bareMem.Mallocs += m1.Mallocs - m0.Mallocs
		bareMem.TotalAlloc += m1.TotalAlloc - m0.TotalAlloc
		oursMem.Mallocs += m2.Mallocs - m1.Mallocs
		oursMem.TotalAlloc += m2.TotalAlloc - m1.TotalAlloc
		done += n
	}
	n := float64(b.N)
	bareNs, oursNs := float64(bareT.Nanoseconds())/n, float64(oursT.Nanoseconds())/n
	b.ReportMetric(bareNs, "bare-ns/poll")
	b.ReportMetric(oursNs, "tickwatch-ns/poll")
	b.ReportMetric(oursNs/bareNs, "x-bare")
	b.ReportMetric(float64(bareMem.Mallocs)/n, "bare-allocs/poll")
	b.ReportMetric(float64(oursMem.Mallocs)/n, "tickwatch-allocs/poll")
	b.ReportMetric(float64(bareMem.TotalAlloc)/n, "bare-B/poll")
	b.ReportMetric(float64(oursMem.TotalAlloc)/n, "tickwatch-B/poll")
}

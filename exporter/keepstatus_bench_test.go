package exporter

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/gastowntest"
)

// BenchmarkTownPollKeepingStatus measures what a poll that may open a
// violation costs on top of an ordinary one, in alternating batches of the
// same run: keeping the raw status answer, and decoding it in full for the
// event's triage context (what the violations pipeline does when a
// transition opens). The ordinary poll is BenchmarkTownPoll's.
func BenchmarkTownPollKeepingStatus(b *testing.B) {
	fake := gastowntest.NewFake()
	fake.DryRun["t"], fake.Status["t"] = gastowntest.Sample(b, "dry-run.json"), gastowntest.Sample(b, "status.json")
	srv := httptest.NewServer(fake)
	defer srv.Close()
	c, err := gastown.NewClient(gastown.ClientOptions{URL: srv.URL, HTTPClient: commoncfg.DefaultHTTPClientConfig, Timeout: 5 * time.Second, MaxBodyBytes: 4 << 20})
	if err != nil {
		b.Fatal(err)
	}
	p := NewPoller(Settings{Client: c, WithStatus: true, MaxActionTypes: 64, Interval: time.Hour}, NewSnapshot(), time.Now, slog.New(slog.DiscardHandler))
	s := p.settings.Load()
	var kept *gastown.Observation
	p.OnObservation = func(o *gastown.Observation) { kept = o }
	keep := false
	p.KeepStatusBody = func(string) bool { return keep }
	plain := func() { keep = false; p.poll(context.Background(), context.Background(), s, "t") }
	opening := func() {
		keep = true
		p.poll(context.Background(), context.Background(), s, "t")
		st, err := gastown.DecodeStatus(kept.StatusBody)
		if err != nil {
			b.Fatal(err)
		}
		if tr := st.Triage(kept.Violations[0]); len(tr.Agents) != 1 {
			b.Fatalf("triage of the sample: %+v", tr)
		}
	}
	plain()
	opening()
	b.ResetTimer()
	var plainT, openT time.Duration
	for done := 0; done < b.N; {
		n := min(50, b.N-done)
		start := time.Now()
		for range n {
			plain()
		}
		mid := time.Now()
		for range n {
			opening()
		}
		plainT, openT = plainT+mid.Sub(start), openT+time.Since(mid)
		done += n
	}
	plainNs, openNs := plainT/time.Duration(b.N), openT/time.Duration(b.N)
	b.ReportMetric(float64(plainNs.Nanoseconds()), "poll-ns")
	b.ReportMetric(float64(openNs.Nanoseconds()), "opening-poll-ns")
	b.ReportMetric(float64(openNs)/float64(plainNs), "x-poll")
}

package exporter

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tickwatch/tickwatch/internal/gastowntest"

	"github.com/prometheus/client_golang/prometheus"
)

// TestHostileTownsCostOnlyThemselves: towns whose answers never end, come
// one header byte at a time, redirect for ever or carry bytes that are not
// UTF-8 fail alone, within the tick, and the scrape of the whole fleet
// stays one Prometheus can read.
func TestHostileTownsCostOnlyThemselves(t *testing.T) {
	towns := []string{"good", "endless", "slowloris", "loop", "not-utf8"}
	// The timeout leaves the endless town time to reach the body limit on
	// a loaded machine; the slowloris town costs all of it.
	f := newFixture(t, towns, func(s *Settings) { s.Interval, s.Timeout = 10*time.Second, 2*time.Second })
	stop := make(chan struct{})
	defer close(stop)
	f.fake.DryRun["good"], f.fake.Status["good"] = gastowntest.Sample(t, "dry-run.json"), gastowntest.Sample(t, "status.json")
	f.fake.Handlers["endless"] = func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("["), 32<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}
	f.fake.Handlers["slowloris"] = func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 200 OK\r\nX-Slow: ")
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if buf.WriteByte('a') != nil || buf.Flush() != nil {
				return
			}
		}
	}
	f.fake.Handlers["loop"] = func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, r.URL.Path, http.StatusFound) }
	f.fake.DryRun["not-utf8"] = []byte("{\"actions\":[],\"metrics\":{\"actionsEmitted\":2,\"actionsByType\":{\"nudge\xff\xfe\":2},\"pendingEventCount\":0,\"eventsDrained\":1}," +
		"\"violations\":[{\"invariant\":7,\"message\":\"Working agent a\xc0 has no hook\"}]}")
	f.fake.Status["not-utf8"] = gastowntest.Sample(t, "status.json")

	start := time.Now()
	res := f.poller.Tick(context.Background())
	if took := time.Since(start); took >= 10*time.Second {
		t.Errorf("tick took %v, longer than its interval", took)
	}
	if res != (TickResult{Towns: 5, Polled: 5}) {
		t.Errorf("tick = %+v", res)
	}
	for town, wantErr := range map[string]string{
		"endless":   `status of town "endless": body larger than 1048576 bytes`,
		"slowloris": `status of town "slowloris": Get "` + f.srv.URL + `/debug/towns/slowloris/status": context deadline exceeded`,
		"loop":      `status of town "loop": Get "/debug/towns/loop/status": stopped after 10 redirects`,
	} {
		if st := f.snap.Get(town); st == nil || st.Up || st.Err != wantErr {
			t.Errorf("%s: state %+v, want error %q", town, st, wantErr)
		}
	}
	if st := f.snap.Get("good"); st == nil || !st.Up || st.DryRun.QueueDepth != 3 {
		t.Errorf("good town hurt: %+v", st)
	}
	if st := f.snap.Get("not-utf8"); st == nil || !st.Up {
		t.Errorf("not-utf8: %+v, want it up", st)
	}

	rec := httptest.NewRecorder()
	MetricsHandler(prometheus.NewRegistry(), everyTownMetric(f.snap), slog.New(slog.DiscardHandler)).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if !utf8.ValidString(body) {
		t.Errorf("the scrape is not UTF-8, and Prometheus would reject all of it")
	}
	for _, want := range []string{`reconciler_up{town="good"} 1`, `reconciler_actions{town="not-utf8",type="nudge` + "\uFFFD\uFFFD" + `"} 2`} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

package exporter

import (
	"compress/gzip"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetricsGzipWhenAskedOnly(t *testing.T) {
	h := MetricsHandler(prometheus.NewRegistry(), NewTownMetrics(pollSnapshot(t, 50), nil), slog.New(slog.DiscardHandler))
	scrape := func(acceptEncoding string) (string, string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Header.Set("Accept-Encoding", acceptEncoding)
		h.ServeHTTP(rec, req)
		return rec.Header().Get("Content-Encoding"), rec.Body.String()
	}
	encoding, plain := scrape("")
	if encoding != "" || !strings.Contains(plain, `reconciler_up{town="town-00049"} 1`) {
		t.Fatalf("plain scrape: encoding %q, body %.200s", encoding, plain)
	}
	for _, accept := range []string{"gzip", "deflate, gzip;q=1.0, *;q=0.5", "GZIP", "gzip;q=0.001", "gzip;q=0, gzip"} {
		encoding, body := scrape(accept)
		if encoding != "gzip" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q", accept, encoding)
			continue
		}
		zr, err := gzip.NewReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		unzipped, err := io.ReadAll(zr)
		if err != nil || string(unzipped) != plain {
			t.Errorf("Accept-Encoding %q: gzipped body differs from the plain one (%v)", accept, err)
		}
		if len(body) > len(plain)/5 {
			t.Errorf("gzip kept %d of %d bytes", len(body), len(plain))
		}
	}
	for _, accept := range []string{"gzip;q=0", "gzip; q=0.0", "gzip;Q=0.000", "gzip;level=1;q=0", "identity", "br"} {
		if encoding, _ := scrape(accept); encoding != "" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want none", accept, encoding)
		}
	}
}

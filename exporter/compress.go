package exporter

import (
	"compress/gzip"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// gzipWriters holds one writer for each scrape that may run at once (two
// Prometheus replicas); more are made as needed.
var gzipWriters = newSpare(2, func() *gzip.Writer {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
})

// acceptsGzip reports whether an Accept-Encoding header takes gzip: listed,
// and not with a q-value of zero (q=0, Q=0.000; RFC 9110, 12.4.2).
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		refused := false
		for param := range strings.SplitSeq(params, ";") {
			name, value, _ := strings.Cut(param, "=")
			if strings.EqualFold(strings.TrimSpace(name), "q") {
				q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
				refused = err == nil && q == 0
			}
		}
		if !refused {
			return true
		}
	}
	return false
}

// gzipResponse sends a handler's body through the gzip writer.
type gzipResponse struct {
	http.ResponseWriter
	gz io.Writer
}

func (g gzipResponse) Write(b []byte) (int, error) { return g.gz.Write(b) }

package exporter

import (
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"sync"
)

type gzipWriter = *gzip.Writer

var gzipWriters = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
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

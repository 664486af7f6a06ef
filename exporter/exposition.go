package exporter

import (
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// MetricsHandler serves reg's own metrics and the town families. A scrape
// in the text format (what Prometheus asks for unless it wants native
// histograms) streams: the town families are written line by line into the
// response from the snapshot, through one reused buffer, with no object per
// series. Other formats (protobuf) and name[] filters go through promhttp
// with the families built as dto objects. Gzip runs at its fastest level:
// the exposition is very repetitive text, and the default level spends most
// of a scrape compressing it for little gain.
func MetricsHandler(reg prometheus.Gatherer, towns *TownMetrics, logger *slog.Logger) http.Handler {
	errorLog := slog.NewLogLogger(logger.Handler(), slog.LevelError)
	built := promhttp.HandlerFor(Gatherer(reg, towns), promhttp.HandlerOpts{
		ErrorLog:           errorLog,
		ErrorHandling:      promhttp.ContinueOnError,
		DisableCompression: true,
	})
	accepted := expfmt.DefaultAcceptedFormats()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var out io.Writer = w
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			gz := gzipWriters.get()
			defer func() {
				gz.Reset(nil) // kept without this response
				gzipWriters.put(gz)
			}()
			gz.Reset(w)
			defer gz.Close()
			w.Header().Set("Content-Encoding", "gzip")
			out = gz
		}
		w.Header().Add("Vary", "Accept-Encoding")
		format := expfmt.NegotiateAccept(r.Header, accepted...)
		if format.FormatType() != expfmt.TypeTextPlain || (r.URL != nil && r.URL.Query().Has("name[]")) {
			if out != w {
				w = gzipResponse{w, out}
			}
			built.ServeHTTP(w, r)
			return
		}
		// As promhttp's ContinueOnError: what the registry could gather is
		// served, and the error logged.
		own, err := reg.Gather()
		if err != nil {
			errorLog.Println("error gathering metrics:", err)
		}
		w.Header().Add("Vary", "Accept")
		w.Header().Set("Content-Type", string(format))
		if err := towns.WriteText(out, own, format); err != nil {
			logger.Debug("scrape not completed", "err", err)
		}
	})
}

// WriteText writes own (the registry's families, sorted by name) and the
// town families in the text format, merged by name.
func (c *TownMetrics) WriteText(w io.Writer, own []*dto.MetricFamily, format expfmt.Format) error {
	t := textSinks.get()
	defer func() {
		t.reset(nil)
		textSinks.put(t)
	}()
	t.reset(w)
	enc := expfmt.NewEncoder(t, format)
	next := 0
	writeOwnBefore := func(name string) {
		for ; next < len(own) && (name == "" || own[next].GetName() < name); next++ {
			if t.err == nil {
				t.err = t.flush()
			}
			if t.err == nil {
				t.err = enc.Encode(own[next])
			}
		}
		// A name both serve is the registry's mistake: the town family
		// would be a second block of the same name, which Prometheus
		// rejects. The registry's copy is skipped.
		for ; next < len(own) && own[next].GetName() == name; next++ {
		}
	}
	c.walk(t, writeOwnBefore)
	writeOwnBefore("")
	if t.err == nil {
		t.err = t.flush()
	}
	return t.err
}

// textSink writes series lines into a buffer it flushes to w when full.
type textSink struct {
	w   io.Writer
	buf []byte
	err error

	// The current family: its header waits for its first sample.
	name, help    string
	headerPending bool
	prefix1       []byte // `name{label1="`
	infix         []byte // `",label2="`
	lineEndQuoted []byte // `"} `
}

const textFlushAt = 32 << 10

var textSinks = newSpare(2, func() *textSink { return &textSink{buf: make([]byte, 0, textFlushAt+4096)} })

func (t *textSink) reset(w io.Writer) {
	t.w, t.err, t.buf = w, nil, t.buf[:0]
}

// Write lets the registry's encoder write through the same buffer.
func (t *textSink) Write(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if len(t.buf)+len(p) > cap(t.buf) {
		if t.err = t.flush(); t.err != nil {
			return 0, t.err
		}
		if len(p) > cap(t.buf) {
			_, t.err = t.w.Write(p)
			return len(p), t.err
		}
	}
	t.buf = append(t.buf, p...)
	return len(p), nil
}

func (t *textSink) flush() error {
	if len(t.buf) == 0 {
		return nil
	}
	_, err := t.w.Write(t.buf)
	t.buf = t.buf[:0]
	return err
}

func (t *textSink) begin(name, help string, labels []string) {
	t.name, t.help, t.headerPending = name, help, true
	t.prefix1 = append(append(append(append(t.prefix1[:0], name...), '{'), labels[0]...), `="`...)
	t.infix = t.infix[:0]
	if len(labels) > 1 {
		t.infix = append(append(append(t.infix, `",`...), labels[1]...), `="`...)
	}
	t.lineEndQuoted = append(t.lineEndQuoted[:0], `"} `...)
}

func (t *textSink) header() {
	b := append(t.buf, "# HELP "...)
	b = append(b, t.name...)
	b = append(b, ' ')
	b = appendEscaped(b, t.help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, t.name...)
	b = append(b, " gauge\n"...)
	t.buf, t.headerPending = b, false
}

func (t *textSink) sample1(v float64, value string) {
	if t.err != nil {
		return
	}
	if t.headerPending {
		t.header()
	}
	b := append(t.buf, t.prefix1...)
	b = appendEscaped(b, value, true)
	b = append(b, t.lineEndQuoted...)
	b = appendValue(b, v)
	t.buf = append(b, '\n')
	if len(t.buf) >= textFlushAt {
		t.err = t.flush()
	}
}

func (t *textSink) sample2(v float64, first, second string) {
	if t.err != nil {
		return
	}
	if t.headerPending {
		t.header()
	}
	b := append(t.buf, t.prefix1...)
	b = appendEscaped(b, first, true)
	b = append(b, t.infix...)
	b = appendEscaped(b, second, true)
	b = append(b, t.lineEndQuoted...)
	b = appendValue(b, v)
	t.buf = append(b, '\n')
	if len(t.buf) >= textFlushAt {
		t.err = t.flush()
	}
}

// appendEscaped escapes as the text format wants: backslash and newline in
// HELP, and the double quote too in label values.
func appendEscaped(b []byte, s string, quoted bool) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch c := s[i]; {
		case c == '\\':
			esc = `\\`
		case c == '\n':
			esc = `\n`
		case c == '"' && quoted:
			esc = `\"`
		default:
			continue
		}
		b = append(append(b, s[start:i]...), esc...)
		start = i + 1
	}
	return append(b, s[start:]...)
}

// appendValue writes v as the text encoder does: shortest 'g' form, with
// NaN and signed infinities spelt out. Whole numbers below a million, the
// common case, take the integer path to the same digits.
func appendValue(b []byte, v float64) []byte {
	switch {
	case v > -1e6 && v < 1e6 && v == math.Trunc(v):
		return strconv.AppendInt(b, int64(v), 10)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

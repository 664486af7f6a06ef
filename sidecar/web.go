package sidecar

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/tickwatch/tickwatch/exporter"
)

// StatusReport is what the status page and /status.json show.
type StatusReport struct {
	Ready         bool          `json:"ready"`
	LastTickStart time.Time     `json:"last_tick_start"`
	LastTickEnd   time.Time     `json:"last_tick_end"`
	Towns         []TownStatus  `json:"towns"`
	Outbox        *OutboxStatus `json:"sentry_outbox,omitempty"`
}

type TownStatus struct {
	Town        string    `json:"town"`
	Up          bool      `json:"up"`
	LastPoll    time.Time `json:"last_poll"`
	LastSuccess time.Time `json:"last_success"`
	Error       string    `json:"error,omitempty"`
	// From the last status call; null while it fails.
	Ticking    *bool      `json:"ticking"`
	NextFireAt *time.Time `json:"next_fire_at"` // the armed alarm
	// From the last dry run; null before the first.
	DryRunUp    *bool  `json:"dry_run_up"`
	DryRunCode  int    `json:"dry_run_status_code,omitempty"`
	DryRunError string `json:"dry_run_error,omitempty"`
	QueueDepth  *int   `json:"queue_depth"` // null while the dry run fails

	OpenViolations []string `json:"open_violations"`
}

type OutboxStatus struct {
	LogOnly     bool   `json:"log_only"` // no DSN: transitions go to the log
	Logged      uint64 `json:"logged"`
	Pending     int    `json:"pending"`
	Sent        uint64 `json:"sent"`
	Failed      uint64 `json:"failed"`
	RateLimited uint64 `json:"rate_limited"`
	Dropped     uint64 `json:"dropped"`
}

// ServerOptions wire the HTTP endpoints of `tickwatch run`.
type ServerOptions struct {
	Gatherer      prometheus.Gatherer
	TelemetryPath string
	Poller        *exporter.Poller
	Snapshot      *exporter.Snapshot
	// OpenViolations lists a town's open violations for the status page.
	OpenViolations func(town string) []string
	Outbox         func() *OutboxStatus
	Reload         func() error
	Logger         *slog.Logger
}

// NewHandler serves /metrics, the landing and status page, /status.json,
// /-/healthy, /-/ready and POST /-/reload.
func NewHandler(o ServerOptions) (http.Handler, error) {
	switch p := o.TelemetryPath; {
	case !strings.HasPrefix(p, "/") || p == "/" || strings.HasPrefix(p, "/-/") || p == "/status.json":
		return nil, fmt.Errorf("--web.telemetry-path %q: want a path such as /metrics, not / or one of tickwatch's own", p)
	}
	mux := http.NewServeMux()
	mux.Handle(o.TelemetryPath, exporter.MetricsHandler(o.Gatherer, o.Logger))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !o.Poller.Ready() {
			http.Error(w, "Not ready: no complete tick yet", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		if err := o.Reload(); err != nil {
			http.Error(w, "reload failed, old configuration kept: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Reloaded")
	})
	mux.HandleFunc("/status.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(o.report())
	})

	const marker = "<!--status-->"
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "tickwatch",
		Description: "Gastown reconciler exporter and alerting sidecar",
		Version:     version.Info(),
		Links: []web.LandingLinks{
			{Address: o.TelemetryPath, Text: "Metrics"},
			{Address: "/status.json", Text: "Status (JSON)"},
			{Address: "/-/healthy", Text: "Health"},
			{Address: "/-/ready", Text: "Readiness"},
		},
		ExtraHTML: marker,
		ExtraCSS:  "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left}.down{color:#c00}",
		Profiling: "false",
	})
	if err != nil {
		return nil, err
	}
	var page pageWriter
	landing.ServeHTTP(&page, &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}})
	head, tail, found := bytes.Cut(page.body.Bytes(), []byte(marker))
	if !found {
		return nil, fmt.Errorf("landing page: no place for the status")
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		var buf bytes.Buffer
		if err := statusTemplate.Execute(&buf, o.report()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.Write(head)
		w.Write(buf.Bytes())
		w.Write(tail)
	})
	return mux, nil
}

// pageWriter keeps what the exporter-toolkit landing page renders, once at
// start, so the status can be spliced into it on every request.
type pageWriter struct {
	body   bytes.Buffer
	header http.Header
}

func (w *pageWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}
func (w *pageWriter) Write(b []byte) (int, error) { return w.body.Write(b) }
func (w *pageWriter) WriteHeader(int)             {}

func (o ServerOptions) report() StatusReport {
	r := StatusReport{Ready: o.Poller.Ready(), Towns: []TownStatus{}}
	r.LastTickStart, r.LastTickEnd = o.Poller.LastTick()
	for _, e := range o.Snapshot.Towns() {
		st := e.State
		ts := TownStatus{Town: e.Town, Up: st.Up, LastPoll: st.LastPoll, LastSuccess: st.LastSuccess,
			Error: st.Err, OpenViolations: []string{}}
		if s := st.Status; s != nil {
			ts.Ticking = &s.Ticking
			if !s.NextFireAt.IsZero() {
				ts.NextFireAt = &s.NextFireAt
			}
		}
		if d := st.DryRun; d != nil {
			ts.DryRunUp, ts.DryRunCode, ts.DryRunError = &d.Up, d.Code, d.Err
			if d.Up {
				ts.QueueDepth = &d.QueueDepth
			}
		}
		if o.OpenViolations != nil {
			if v := o.OpenViolations(e.Town); v != nil {
				ts.OpenViolations = v
			}
		}
		r.Towns = append(r.Towns, ts)
	}
	if o.Outbox != nil {
		r.Outbox = o.Outbox()
	}
	return r
}

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"deref": func(b *bool) bool { return b != nil && *b },
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return time.Since(t).Round(time.Millisecond).String() + " ago"
	},
}).Parse(`
<h3>Status</h3>
<div>Ready: {{.Ready}} · last complete tick: {{ago .LastTickEnd}}</div>
{{with .Outbox}}{{if .LogOnly}}<div>Sentry: no DSN configured; {{.Logged}} transitions written to the log</div>{{else}}<div>Sentry outbox: {{.Pending}} pending · {{.Sent}} sent · {{.Failed}} failed · {{.RateLimited}} rate limited · {{.Dropped}} dropped</div>{{end}}{{end}}
<h3>Towns ({{len .Towns}})</h3>
<table>
<tr><th>Town</th><th>Up</th><th>Last poll</th><th>Dry run</th><th>Queue depth</th><th>Open violations</th><th>Last error</th></tr>
{{range .Towns}}<tr{{if not .Up}} class="down"{{end}}><td>{{.Town}}</td><td>{{if not .Up}}down{{else if and .Ticking (not (deref .Ticking))}}not ticking{{else}}up{{end}}</td><td>{{ago .LastPoll}}</td><td>{{if .DryRunUp}}{{if deref .DryRunUp}}ok{{else}}<span class="down">failing</span>: {{.DryRunError}}{{end}}{{else}}–{{end}}</td><td>{{with .QueueDepth}}{{.}}{{else}}–{{end}}</td><td>{{range .OpenViolations}}{{.}}<br>{{end}}</td><td>{{.Error}}</td></tr>
{{end}}</table>
`))

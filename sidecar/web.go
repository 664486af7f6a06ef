package sidecar

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tickwatch/tickwatch/exporter"
	"github.com/tickwatch/tickwatch/statuspage"
)

// ServerOptions wire the HTTP endpoints of `tickwatch run`.
type ServerOptions struct {
	Registry      prometheus.Gatherer // the sidecar's own metrics
	Towns         *exporter.TownMetrics
	TelemetryPath string
	Poller        *exporter.Poller
	Pages         *statuspage.Pages
	Reload        func() error
	Logger        *slog.Logger
}

// NewHandler serves /metrics, the status pages (/, /towns/<id>, their JSON
// and /status.json), /-/healthy, /-/ready and POST /-/reload.
func NewHandler(o ServerOptions) (http.Handler, error) {
	switch p := o.TelemetryPath; {
	case !strings.HasPrefix(p, "/") || p == "/" || strings.HasPrefix(p, "/-/") || p == "/status.json" || strings.HasPrefix(p, "/towns/"):
		return nil, fmt.Errorf("--web.telemetry-path %q: want a path such as /metrics, not / or one of tickwatch's own", p)
	}
	mux := http.NewServeMux()
	mux.Handle(o.TelemetryPath, exporter.MetricsHandler(o.Registry, o.Towns, o.Logger))
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "Healthy") })
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !o.Poller.Ready() {
			msg := "Not ready: no complete tick yet"
			if err := o.Poller.ListError(); err != nil {
				msg = "Not ready: no tick could read the town list yet: " + err.Error()
			}
			http.Error(w, msg, http.StatusServiceUnavailable)
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
	mux.HandleFunc("/status.json", o.Pages.ServeFleetJSON)
	mux.HandleFunc("/", o.Pages.ServeFleet)
	// Town ids may hold "/", "." and "..": their pages are routed before
	// the mux, which would clean such paths into other ones.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.EscapedPath(), "/towns/") {
			o.Pages.ServeTown(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}), nil
}

// Package statuspage serves the operator's pages of `tickwatch run`: the
// fleet page (/), each town's page (/towns/<id>) and the same data as JSON
// (/status.json, /towns/<id>?format=json), with a small in-memory history
// per town for the town page's sparklines.
package statuspage

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/version"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/exporter"
)

// Ticks says whether the poller has completed a tick, and when the last one ran.
type Ticks interface {
	Ready() bool
	LastTick() (start, end time.Time)
}

// Options are what the pages read.
type Options struct {
	Snapshot *exporter.Snapshot
	Ticks    Ticks
	Tracker  *dedupe.Tracker
	History  *History
	Outbox   func() *OutboxStatus // nil: no Sentry line
	// DryRunBackoff tells whether a town's dry run is backing off (the
	// poller's); nil: never.
	DryRunBackoff func(town string) (exporter.DryRunBackoff, bool)
	TelemetryPath string
	Now           func() time.Time
}

// Pages serves the status pages and their JSON.
type Pages struct {
	o        Options
	settings atomic.Pointer[settings]
}

type settings struct {
	th    config.Thresholds
	links links
}

func New(o Options, cfg *config.Config) *Pages {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.History == nil {
		o.History = NewHistory()
	}
	p := &Pages{o: o}
	p.SetConfig(cfg)
	return p
}

// SetConfig applies a (reloaded) config: thresholds and links.
func (p *Pages) SetConfig(cfg *config.Config) {
	p.settings.Store(&settings{th: cfg.Thresholds, links: linksFrom(cfg)})
}

func (p *Pages) sources(s *settings) fleetSources {
	src := fleetSources{snap: p.o.Snapshot, th: s.th, open: map[string]dedupe.OpenSummary{}}
	if p.o.Tracker != nil {
		src.open, src.opened = p.o.Tracker.OpenSummaries(), p.o.Tracker.OpenViolations
	}
	if p.o.Outbox != nil {
		src.outbox = p.o.Outbox()
	}
	if p.o.Ticks != nil {
		src.ready = p.o.Ticks.Ready()
		src.tickBeg, src.tickEnd = p.o.Ticks.LastTick()
	}
	return src
}

// Fleet builds the fleet view for a query.
func (p *Pages) Fleet(q Query) Fleet {
	return buildFleet(p.sources(p.settings.Load()), q)
}

// Town builds a town's view; ok is false for a town not watched.
func (p *Pages) Town(town string) (Town, bool) {
	st := p.o.Snapshot.Get(town)
	if st == nil {
		return Town{}, false
	}
	s := p.settings.Load()
	t := buildTown(town, st, p.sources(s), p.o.History, s.links)
	if p.o.DryRunBackoff != nil {
		if b, ok := p.o.DryRunBackoff(town); ok && !b.Until.IsZero() {
			t.DryRunBackoff = &DryRunBackoff{StatusCode: b.Code, Failures: b.Failures, NextAttempt: b.Until}
		}
	}
	return t, true
}

// ServeFleet serves the fleet page at /, and its JSON with ?format=json.
func (p *Pages) ServeFleet(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		p.notFound(w, "No page at "+r.URL.Path+".")
		return
	}
	if r.URL.Query().Get("format") == "json" {
		p.ServeFleetJSON(w, r)
		return
	}
	f := p.Fleet(ParseQuery(r.URL.Query(), DefaultPerPage))
	p.render(w, http.StatusOK, "fleet", "tickwatch", f)
}

// ServeFleetJSON serves /status.json: every town unless per_page is given.
func (p *Pages) ServeFleetJSON(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, p.Fleet(ParseQuery(r.URL.Query(), 0)))
}

// ServeTown serves /towns/<id> (the id path-escaped, one segment),
// /towns/?id=<id> (for ids a path cannot carry), and their JSON with
// ?format=json or a ".json" suffix.
func (p *Pages) ServeTown(w http.ResponseWriter, r *http.Request) {
	town, asJSON, ok := p.townOf(r)
	if !ok {
		if asJSON {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such town: " + town})
			return
		}
		p.notFound(w, "tickwatch watches no town "+strconv.Quote(town)+".")
		return
	}
	t, _ := p.Town(town)
	if asJSON {
		writeJSON(w, http.StatusOK, t)
		return
	}
	v := townView{Town: t, th: p.settings.Load().th}
	if p.o.Outbox != nil {
		v.LogOnly = p.o.Outbox().LogOnly
	}
	p.render(w, http.StatusOK, "town", town+" · tickwatch", v)
}

// townOf finds the town a request is about. The id is taken from the
// escaped path, so an id holding "/" (escaped as %2F) stays one id. A
// ".json" suffix asks for JSON unless a town has the whole name.
func (p *Pages) townOf(r *http.Request) (town string, asJSON, ok bool) {
	asJSON = r.URL.Query().Get("format") == "json"
	if r.URL.Query().Has("id") {
		town = r.URL.Query().Get("id")
		return town, asJSON, p.o.Snapshot.Get(town) != nil
	}
	raw := strings.TrimPrefix(r.URL.EscapedPath(), "/towns/")
	town, err := url.PathUnescape(raw)
	if err != nil || strings.Contains(raw, "/") {
		return strings.TrimPrefix(r.URL.Path, "/towns/"), asJSON, false
	}
	if p.o.Snapshot.Get(town) != nil {
		return town, asJSON, true
	}
	if base, cut := strings.CutSuffix(town, ".json"); cut && p.o.Snapshot.Get(base) != nil {
		return base, true, true
	}
	return town, asJSON, false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	enc.Encode(v)
}

func (p *Pages) notFound(w http.ResponseWriter, msg string) {
	p.render(w, http.StatusNotFound, "notfound", "not found · tickwatch", msg)
}

// render executes a page into a buffer first, so a template error is a 500
// rather than half a page.
func (p *Pages) render(w http.ResponseWriter, code int, page, title string, data any) {
	var buf bytes.Buffer
	err := templates.ExecuteTemplate(&buf, page, pageData{
		Title: title, Version: version.Info(), TelemetryPath: p.o.TelemetryPath, Now: p.o.Now(), Data: data,
	})
	if err != nil {
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

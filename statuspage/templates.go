package statuspage

import (
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tickwatch/tickwatch/config"
)

var (
	//go:embed page.css
	pageCSS string
	//go:embed script.js
	pageScript string
	//go:embed pages.html
	pageTemplates string
)

// contentSecurityPolicy lets the page run its own style and script and
// nothing else: a town id or error text that slipped past escaping could
// still not load or run anything.
var contentSecurityPolicy = "default-src 'none'; style-src " + cspHash(pageCSS) + "; script-src " + cspHash(pageScript) +
	"; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// pageData is what every page's frame reads; Data is the page's own.
type pageData struct {
	Title         string
	Version       string
	TelemetryPath string
	Now           time.Time
	Data          any
}

// townView is a town with the thresholds its sparklines draw.
type townView struct {
	Town
	LogOnly bool // no Sentry DSN: events go to the log
	th      config.Thresholds
}

// Spark is one sparkline, drawn in a 300×50 box.
type Spark struct {
	Segments []string // polyline points; a gap where a poll could not read the value
	Limit    float64  // y of the threshold line; <0: off the chart
	Last     string
	Min, Max string
	N        int
	Label    string
}

const sparkW, sparkH, sparkPad = 300.0, 50.0, 3.0

func (v townView) QueueSpark() Spark {
	return spark("queue depth", v.History, func(s Sample) (float64, bool) {
		if s.QueueDepth == nil {
			return 0, false
		}
		return float64(*s.QueueDepth), true
	}, v.th.QueueDepthWarning, func(f float64) string { return strconv.Itoa(int(f)) })
}

func (v townView) WallClockSpark() Spark {
	return spark("wall clock", v.History, func(s Sample) (float64, bool) {
		if s.WallClockSeconds == nil {
			return 0, false
		}
		return *s.WallClockSeconds, true
	}, v.th.WallClockSeconds, duration)
}

func spark(label string, samples []Sample, value func(Sample) (float64, bool), limit float64, format func(float64) string) Spark {
	sp := Spark{Limit: -1, Label: label}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range samples {
		if v, ok := value(s); ok {
			lo, hi = min(lo, v), max(hi, v)
			sp.N++
		}
	}
	if sp.N == 0 {
		return sp
	}
	top := hi
	if top <= 0 {
		top = 1
	}
	if limit > 0 && limit <= top {
		sp.Limit = y(limit, top)
	}
	step := (sparkW - 2*sparkPad) / float64(max(1, len(samples)-1))
	var b strings.Builder
	for i, s := range samples {
		v, ok := value(s)
		if !ok {
			if b.Len() > 0 {
				sp.Segments = append(sp.Segments, b.String())
				b.Reset()
			}
			continue
		}
		x := sparkPad + float64(i)*step
		if len(samples) == 1 {
			x = sparkW / 2
		}
		fmt.Fprintf(&b, "%.1f,%.1f ", x, y(v, top))
		sp.Last = format(v)
	}
	if b.Len() > 0 {
		sp.Segments = append(sp.Segments, b.String())
	}
	sp.Min, sp.Max = format(lo), format(hi)
	return sp
}

func y(v, top float64) float64 { return sparkH - sparkPad - v/top*(sparkH-2*sparkPad) }

// duration words a wall clock: "0.4 ms", "12 ms", "1.25 s".
func duration(sec float64) string {
	switch ms := sec * 1000; {
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(sec, 'f', 2, 64) + " s"
}

// ago words how long before now t was: "4s ago", "3m12s ago", "never".
func ago(now time.Time, t any) string {
	var at time.Time
	switch v := t.(type) {
	case time.Time:
		at = v
	case *time.Time:
		if v != nil {
			at = *v
		}
	}
	if at.IsZero() {
		return "never"
	}
	d := now.Sub(at)
	if d > -time.Second && d < time.Second {
		return "just now"
	}
	if d < 0 {
		return "in " + roundAge(-d)
	}
	return roundAge(d) + " ago"
}

func roundAge(d time.Duration) string {
	switch {
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}

func utc(t any) string {
	switch v := t.(type) {
	case time.Time:
		if !v.IsZero() {
			return v.UTC().Format(time.RFC3339)
		}
	case *time.Time:
		if v != nil && !v.IsZero() {
			return v.UTC().Format(time.RFC3339)
		}
	}
	return ""
}

func stateClass(state string) string {
	switch state {
	case "ok":
		return "ok"
	case "down", "violations", "queue_critical":
		return "bad"
	}
	return "warn"
}

// sortHref is the link of a column header: sort by it, or flip the order
// when it already is the sort.
func sortHref(q Query, key string) string {
	n := q
	n.Sort, n.Page = key, 1
	n.Desc = sortKeys[key]
	if q.Sort == key {
		n.Desc = !q.Desc
	}
	return href(n)
}

func ariaSort(q Query, key string) string {
	if q.Sort != key {
		return ""
	}
	if q.Desc {
		return "descending"
	}
	return "ascending"
}

func pageHref(q Query, page int) string {
	q.Page = page
	return href(q)
}

func stateHref(state string) string {
	return href(Query{State: state, Sort: "problem", Page: 1})
}

func href(q Query) string {
	if v := q.Values(); len(v) > 0 {
		return "/?" + v.Encode()
	}
	return "/"
}

func jsonHref(q Query, perPage int) string {
	v := q.Values()
	if q.PerPage > 0 {
		v.Set("per_page", strconv.Itoa(perPage))
	}
	if len(v) == 0 {
		return "/status.json"
	}
	return "/status.json?" + v.Encode()
}

func sourceLabel(s string) string {
	switch s {
	case "dry_run":
		return "reported by the dry run"
	case "status_rows":
		return "derived from the status rows"
	case "reconciler_count":
		return "the reconciler's count, not named"
	}
	return s
}

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"ago":        ago,
	"utc":        utc,
	"duration":   duration,
	"stateLabel": func(s string) string { return stateLabels[s] },
	"stateClass": stateClass,
	"sortHref":   sortHref,
	"ariaSort":   ariaSort,
	"pageHref":   pageHref,
	"stateHref":  stateHref,
	"jsonHref":   jsonHref,
	"townPath":   TownPath,
	"source":     sourceLabel,
	"css":        func() template.CSS { return template.CSS(pageCSS) },
	"script":     func() template.JS { return template.JS(pageScript) },
	"add":        func(a, b int) int { return a + b },
	"first":      func(f Fleet) int { return (f.Query.Page-1)*f.Query.PerPage + 1 },
	"last":       func(f Fleet) int { return (f.Query.Page-1)*f.Query.PerPage + len(f.Towns) },
	"states":     func() []string { return states },
	"deref":      func(b *bool) bool { return b != nil && *b },
}).Parse(pageTemplates))

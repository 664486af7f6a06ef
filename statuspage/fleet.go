package statuspage

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/exporter"
	"github.com/tickwatch/tickwatch/gastown"
)

// Fleet is what the fleet page and /status.json show: a summary of every
// town, then the towns that pass the query, sorted, one page of them.
type Fleet struct {
	Ready                  bool          `json:"ready"`
	LastTickStart          time.Time     `json:"last_tick_start"`
	LastTickEnd            time.Time     `json:"last_tick_end"`
	LastTickDurationSecond float64       `json:"last_tick_duration_seconds"`
	Summary                Summary       `json:"summary"`
	Outbox                 *OutboxStatus `json:"sentry_outbox,omitempty"`
	Query                  Query         `json:"query"`
	Matched                int           `json:"matched"` // towns that pass the filter, on all pages
	Pages                  int           `json:"pages"`
	Towns                  []TownRow     `json:"towns"` // this page
}

// Summary counts the whole fleet, whatever the filter.
type Summary struct {
	Towns              int `json:"towns"`
	Up                 int `json:"up"`
	Down               int `json:"down"`
	NotTicking         int `json:"not_ticking"`
	DryRunFailing      int `json:"dry_run_failing"`
	WithOpenViolations int `json:"with_open_violations"`
	OpenViolations     int `json:"open_violations"`
	Problems           int `json:"problems"` // towns with any of the above, or a queue or wall clock over its threshold
}

// OutboxStatus is the Sentry side of the summary.
type OutboxStatus struct {
	LogOnly     bool   `json:"log_only"` // no DSN: transitions go to the log
	Logged      uint64 `json:"logged"`
	Pending     int    `json:"pending"`
	Sent        uint64 `json:"sent"`
	Failed      uint64 `json:"failed"`
	RateLimited uint64 `json:"rate_limited"`
	Dropped     uint64 `json:"dropped"`
}

// TownRow is one town in the fleet table.
type TownRow struct {
	Town string `json:"town"`
	// State is the worst thing about the town: down, violations,
	// not_ticking, queue_critical, dry_run_failing, queue_high,
	// wall_clock_high, or ok.
	State string `json:"state"`
	// Problems lists every state that applies, worst first; empty when ok.
	Problems    []string  `json:"problems"`
	Up          bool      `json:"up"`
	LastPoll    time.Time `json:"last_poll"`
	LastSuccess time.Time `json:"last_success"`
	Error       string    `json:"error,omitempty"` // why the last poll was not up
	// From the last status call; null while it fails.
	Ticking    *bool      `json:"ticking"`
	NextFireAt *time.Time `json:"next_fire_at"` // the armed alarm
	// From the last dry run; null before the first.
	DryRunUp    *bool  `json:"dry_run_up"`
	DryRunCode  int    `json:"dry_run_status_code,omitempty"`
	DryRunError string `json:"dry_run_error,omitempty"`
	// When the last dry run was made: polls of a quiet town make none
	// (poll.dry_run_interval), and its dry-run values are this old.
	DryRunAt   *time.Time `json:"dry_run_at"`
	QueueDepth *int       `json:"queue_depth"` // null while the dry run fails
	// The reconciler's last tick, from the status; null before it ticked.
	LastTick *LastTickRow `json:"last_tick"`

	OpenViolationCount   int        `json:"open_violation_count"`
	OldestViolationSince *time.Time `json:"oldest_violation_since"`
	OpenViolations       []string   `json:"open_violations"` // "#7 message (since RFC 3339)"

	rank  int    // index of State in states
	flags uint16 // conditions
}

// LastTickRow is the part of the last tick the fleet table shows.
type LastTickRow struct {
	WallClockSeconds float64 `json:"wall_clock_seconds"`
	EventsDrained    int     `json:"events_drained"`
	Actions          int     `json:"actions"`
	PendingEvents    int     `json:"pending_events"`
}

// Queue is the queue depth the table shows and sorts by: the dry run's, else
// the last tick's pending events; ok is false when neither is known.
func (r *TownRow) Queue() (n int, fromLastTick, ok bool) {
	switch {
	case r.QueueDepth != nil:
		return *r.QueueDepth, false, true
	case r.LastTick != nil:
		return r.LastTick.PendingEvents, true, true
	}
	return 0, false, false
}

// States, worst first: the default order of the table.
var states = []string{"down", "violations", "not_ticking", "queue_critical", "dry_run_failing", "queue_high", "wall_clock_high", "ok"}

// stateLabels are how the page words a state.
var stateLabels = map[string]string{
	"down": "down", "violations": "violations", "not_ticking": "not ticking", "queue_critical": "queue critical",
	"dry_run_failing": "dry run failing", "queue_high": "queue high", "wall_clock_high": "slow ticks", "ok": "ok",
}

// Query is what the fleet view was asked for (the page's query parameters).
type Query struct {
	Filter  string `json:"q,omitempty"`     // substring of the town id, state or last error
	State   string `json:"state,omitempty"` // towns in this state (also when a worse one applies), "problem" for any but ok
	Sort    string `json:"sort"`            // a column: see sortKeys
	Desc    bool   `json:"desc"`
	Page    int    `json:"page"`     // from 1
	PerPage int    `json:"per_page"` // 0: all
}

// Columns the table sorts by, and whether each sorts descending first
// (the deepest queue, the most violations at the top).
var sortKeys = map[string]bool{
	"problem": false, "town": false, "state": false, "last_success": false, "queue": true, "wall_clock": true,
	"drained": true, "actions": true, "violations": true, "error": false,
}

// DefaultPerPage is the fleet page's page size; /status.json lists every
// town unless asked for pages.
const (
	DefaultPerPage = 100
	maxPerPage     = 10000
)

// ParseQuery reads a fleet query, forgiving what it does not understand (a
// bookmarked URL keeps working when a column is renamed).
func ParseQuery(v url.Values, perPage int) Query {
	q := Query{Filter: strings.TrimSpace(v.Get("q")), State: v.Get("state"), Sort: v.Get("sort"), Page: 1, PerPage: perPage}
	if _, ok := sortKeys[q.Sort]; !ok {
		q.Sort = "problem"
	}
	q.Desc = sortKeys[q.Sort]
	switch v.Get("order") {
	case "asc":
		q.Desc = false
	case "desc":
		q.Desc = true
	}
	if q.State != "problem" && !slices.Contains(states, q.State) {
		q.State = ""
	}
	if n, err := strconv.Atoi(v.Get("page")); err == nil && n > 1 {
		q.Page = n
	}
	if n, err := strconv.Atoi(v.Get("per_page")); err == nil && n >= 0 {
		q.PerPage = min(n, maxPerPage)
	}
	return q
}

// Values is the query as URL parameters, leaving out defaults.
func (q Query) Values() url.Values {
	v := url.Values{}
	if q.Filter != "" {
		v.Set("q", q.Filter)
	}
	if q.State != "" {
		v.Set("state", q.State)
	}
	if q.Sort != "problem" {
		v.Set("sort", q.Sort)
	}
	if q.Desc != sortKeys[q.Sort] {
		v.Set("order", map[bool]string{true: "desc", false: "asc"}[q.Desc])
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	return v
}

// fleetSources are what a fleet view is built from.
type fleetSources struct {
	snap    *exporter.Snapshot
	open    map[string]dedupe.OpenSummary
	opened  func(town string) []dedupe.Transition
	th      config.Thresholds
	outbox  *OutboxStatus
	ready   bool
	tickBeg time.Time
	tickEnd time.Time
}

func buildFleet(src fleetSources, q Query) Fleet {
	f := Fleet{Ready: src.ready, LastTickStart: src.tickBeg, LastTickEnd: src.tickEnd, Outbox: src.outbox, Query: q}
	if !src.tickEnd.IsZero() {
		f.LastTickDurationSecond = src.tickEnd.Sub(src.tickBeg).Seconds()
	}
	entries := src.snap.Towns()
	all := make([]TownRow, len(entries))
	matched := make([]*TownRow, 0, len(entries))
	needle := strings.ToLower(q.Filter)
	for i, e := range entries {
		r := &all[i]
		*r = townRow(e.Town, e.State, src.open[e.Town], src.th)
		f.Summary.add(r)
		if q.matches(r, needle) {
			matched = append(matched, r)
		}
	}
	sortRows(matched, q.Sort, q.Desc)
	f.Matched = len(matched)
	f.Pages = 1
	if q.PerPage > 0 {
		f.Pages = max(1, (len(matched)+q.PerPage-1)/q.PerPage)
		f.Query.Page = min(q.Page, f.Pages)
		start := (f.Query.Page - 1) * q.PerPage
		matched = matched[start:min(len(matched), start+q.PerPage)]
	}
	rows := make([]TownRow, len(matched))
	for i, r := range matched {
		rows[i] = *r
	}
	// Violation texts only for the rows shown: they take the tracker's lock
	// and allocate.
	for i := range rows {
		rows[i].Problems = rows[i].problems()
		rows[i].OpenViolations = []string{}
		if rows[i].OpenViolationCount > 0 && src.opened != nil {
			for _, t := range src.opened(rows[i].Town) {
				rows[i].OpenViolations = append(rows[i].OpenViolations, violationLine(t))
			}
		}
	}
	f.Towns = rows
	return f
}

func violationLine(t dedupe.Transition) string {
	return invariantName(t.Invariant) + " " + t.Message + " (since " + t.FirstSeen.UTC().Format(time.RFC3339) + ")"
}

func invariantName(inv int) string {
	if inv == gastown.Unnamed {
		return "(unnamed)"
	}
	return "#" + gastown.InvariantLabel(inv)
}

func (s *Summary) add(r *TownRow) {
	s.Towns++
	if r.Up {
		s.Up++
	} else {
		s.Down++
	}
	if r.has("not_ticking") {
		s.NotTicking++
	}
	if r.has("dry_run_failing") {
		s.DryRunFailing++
	}
	if r.OpenViolationCount > 0 {
		s.WithOpenViolations++
		s.OpenViolations += r.OpenViolationCount
	}
	if r.flags != 0 {
		s.Problems++
	}
}

func (q Query) matches(r *TownRow, needle string) bool {
	switch q.State {
	case "":
	case "problem":
		if r.flags == 0 {
			return false
		}
	case "ok":
		if r.flags != 0 {
			return false
		}
	default:
		if !r.has(q.State) {
			return false
		}
	}
	return needle == "" || containsFold(r.Town, needle) || containsFold(stateLabels[r.State], needle) ||
		containsFold(r.Error, needle) || containsFold(r.DryRunError, needle)
}

// containsFold reports whether s contains the lower-case needle, ignoring
// ASCII case, without allocating.
func containsFold(s, needle string) bool {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != needle[j] {
				break
			}
		}
		if j == n {
			return true
		}
	}
	return false
}

func townRow(town string, st *exporter.TownState, open dedupe.OpenSummary, th config.Thresholds) TownRow {
	r := TownRow{Town: town, Up: st.Up, LastPoll: st.LastPoll, LastSuccess: st.LastSuccess, Error: st.Err,
		OpenViolationCount: open.Count}
	if open.Count > 0 {
		r.OldestViolationSince = &open.Oldest
	}
	if s := st.Status; s != nil {
		r.Ticking = &s.Ticking
		if !s.NextFireAt.IsZero() {
			r.NextFireAt = &s.NextFireAt
		}
		if lt := s.LastTick; lt != nil {
			r.LastTick = &LastTickRow{WallClockSeconds: lt.WallClockSeconds, EventsDrained: lt.EventsDrained,
				Actions: sumCounts(lt.Actions), PendingEvents: lt.PendingEvents}
		}
	}
	if d := st.ServedDryRun(); d != nil { // as /metrics: a town that is down has no queue
		r.DryRunUp, r.DryRunCode, r.DryRunError, r.DryRunAt = &d.Up, d.Code, d.Err, &d.At
		if d.Up {
			r.QueueDepth = &d.QueueDepth
		}
	}
	r.flags = r.conditions(th)
	r.rank = len(states) - 1 // ok
	for i := range states {
		if r.flags&(1<<i) != 0 {
			r.rank = i
			break
		}
	}
	r.State = states[r.rank]
	return r
}

// conditions sets one bit per state (index in states) that applies to the
// town; the town's State is the worst of them.
func (r *TownRow) conditions(th config.Thresholds) uint16 {
	queue, _, known := r.Queue()
	var c uint16
	set := func(state string, on bool) {
		if on {
			c |= 1 << slices.Index(states, state)
		}
	}
	set("down", !r.Up)
	set("violations", r.OpenViolationCount > 0)
	set("not_ticking", r.Up && r.Ticking != nil && !*r.Ticking)
	// Above a threshold, as the alert rules compare.
	set("queue_critical", known && float64(queue) > th.QueueDepthCritical)
	set("dry_run_failing", r.DryRunUp != nil && !*r.DryRunUp)
	set("queue_high", known && float64(queue) > th.QueueDepthWarning) // a critical queue too, as its alert
	set("wall_clock_high", r.LastTick != nil && r.LastTick.WallClockSeconds > th.WallClockSeconds)
	return c
}

func (r *TownRow) problems() []string {
	out := []string{}
	for i, s := range states {
		if r.flags&(1<<i) != 0 {
			out = append(out, s)
		}
	}
	return out
}

func (r *TownRow) has(state string) bool { return r.flags&(1<<slices.Index(states, state)) != 0 }

func sumCounts(tc []exporter.TypeCount) int {
	n := 0
	for _, c := range tc {
		n += int(c.Count)
	}
	return n
}

// sortRows orders rows by one column, unknown values last whatever the
// direction, then problems first, then by town id (unique: the order is
// total, so the sort need not be stable).
func sortRows(rows []*TownRow, key string, desc bool) {
	type value struct {
		known bool
		n     float64
		s     string
	}
	get := func(r *TownRow) value {
		switch key {
		case "town":
			return value{known: true, s: r.Town}
		case "state", "problem":
			return value{known: true, n: float64(r.rank)}
		case "last_success":
			return value{known: !r.LastSuccess.IsZero(), n: float64(r.LastSuccess.UnixNano())}
		case "queue":
			n, _, ok := r.Queue()
			return value{known: ok, n: float64(n)}
		case "wall_clock":
			return value{known: r.LastTick != nil, n: wallClock(r)}
		case "drained":
			return value{known: r.LastTick != nil, n: float64(drained(r))}
		case "actions":
			return value{known: r.LastTick != nil, n: float64(actions(r))}
		case "violations":
			return value{known: true, n: float64(r.OpenViolationCount)}
		case "error":
			return value{known: r.Error != "" || r.DryRunError != "", s: r.Error + r.DryRunError}
		}
		return value{known: true}
	}
	slices.SortFunc(rows, func(a, b *TownRow) int {
		va, vb := get(a), get(b)
		if va.known != vb.known {
			if va.known {
				return -1
			}
			return 1
		}
		c := cmp.Compare(va.n, vb.n)
		if c == 0 {
			c = strings.Compare(va.s, vb.s)
		}
		if desc {
			c = -c
		}
		if c == 0 {
			c = cmp.Compare(a.rank, b.rank)
		}
		if c == 0 {
			c = strings.Compare(a.Town, b.Town)
		}
		return c
	})
}

func wallClock(r *TownRow) float64 {
	if r.LastTick == nil {
		return 0
	}
	return r.LastTick.WallClockSeconds
}

func drained(r *TownRow) int {
	if r.LastTick == nil {
		return 0
	}
	return r.LastTick.EventsDrained
}

func actions(r *TownRow) int {
	if r.LastTick == nil {
		return 0
	}
	return r.LastTick.Actions
}

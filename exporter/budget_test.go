package exporter

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/gastowntest"
	"github.com/tickwatch/tickwatch/metricnames"
)

// allGroups turns every optional family on.
func allGroups() config.Metrics {
	var m config.Metrics
	v := reflect.ValueOf(&m).Elem()
	for i := 0; i < v.NumField(); i++ {
		v.Field(i).SetBool(true)
	}
	return m
}

// everyTownMetric serves every town family, the optional ones too.
func everyTownMetric(snap *Snapshot) *TownMetrics {
	c := NewTownMetrics(snap, nil)
	c.SetMetrics(allGroups())
	return c
}

// sampleTown stores one town polled from the given answer samples.
func sampleTown(t testing.TB, snap *Snapshot, town, dryRun, status string) {
	t.Helper()
	o := sampleObservation(t, town, dryRun, status)
	s, _ := newTownState(&o, nil, 64)
	snap.Put(town, s)
}

// sampleObservation is a successful poll of town that got the named
// sample answers.
func sampleObservation(t testing.TB, town, dryRun, status string) gastown.Observation {
	t.Helper()
	var d gastown.DryRun
	var st gastown.Status
	if err := json.Unmarshal(gastowntest.Sample(t, dryRun), &d); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(gastowntest.Sample(t, status), &st); err != nil {
		t.Fatal(err)
	}
	return gastown.Observation{Town: town, At: time.Unix(1_800_000_000, 0), DryRun: &d, Status: &st,
		StatusCall: gastown.Call{Done: true, Code: 200, Duration: time.Millisecond},
		DryRunCall: gastown.Call{Done: true, Code: 200, Duration: time.Millisecond}}
}

// seriesOf counts the series of town in what c gathers.
func seriesOf(t *testing.T, c *TownMetrics, town string) int {
	t.Helper()
	mfs, err := c.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				if lp.GetName() == labelTown && lp.GetValue() == town {
					n++
				}
			}
		}
	}
	return n
}

// budgetRow is one line of the README's series budget.
type budgetRow struct {
	setting           string // "" for the default, "all" for every group
	families          []string
	typical, restored int // series of the two sample towns
}

// seriesBudget measures the budget from the answer samples: the typical
// town (status.json, dry-run.json: 3 action types at its last tick, 8 in
// its dry run) and one restarted and idle (status-after-restart.json,
// dry-run-idle.json: no last tick yet, nothing to do).
func seriesBudget(t *testing.T) []budgetRow {
	snap := NewSnapshot()
	sampleTown(t, snap, "typical", "dry-run.json", "status.json")
	sampleTown(t, snap, "restarted", "dry-run-idle.json", "status-after-restart.json")
	c := NewTownMetrics(snap, nil)
	row := func(setting string, m config.Metrics) budgetRow {
		c.SetMetrics(m)
		r := budgetRow{setting: setting, typical: seriesOf(t, c, "typical"), restored: seriesOf(t, c, "restarted")}
		for _, name := range TownFamilies() {
			if s := metricnames.Setting(name); (setting == "" && s == "") || s == setting {
				r.families = append(r.families, name)
			}
		}
		return r
	}
	rows := []budgetRow{row("", config.Metrics{})}
	for _, g := range config.MetricsGroups() {
		var m config.Metrics
		reflect.ValueOf(&m).Elem().FieldByIndex(groupField(t, g)).SetBool(true)
		r := row(g, m)
		r.typical -= rows[0].typical // what the group adds
		r.restored -= rows[0].restored
		rows = append(rows, r)
	}
	all := row("all", allGroups())
	all.families = nil
	return append(rows, all)
}

func groupField(t *testing.T, group string) []int {
	i := slices.Index(config.MetricsGroups(), group)
	if i < 0 {
		t.Fatalf("no metrics group %q", group)
	}
	return []int{i}
}

// TestSeriesBudget holds the default to about 12 series for a typical town,
// pins what each setting adds, and checks the README's table against the
// figures measured here.
func TestSeriesBudget(t *testing.T) {
	rows := seriesBudget(t)
	want := map[string][2]int{ // setting -> series of the typical and the restarted town (added, for a group)
		"":                                      {12, 5},
		metricnames.SettingAgentsByStatus:       {4, 4},
		metricnames.SettingBeadsByStatus:        {5, 5},
		metricnames.SettingSideEffectsByOutcome: {3, 0},
		metricnames.SettingDryRunDetail:         {11, 3},
		metricnames.SettingAlarmInterval:        {1, 1},
		"all":                                   {36, 18},
	}
	for _, r := range rows {
		if got := [2]int{r.typical, r.restored}; got != want[r.setting] {
			t.Errorf("setting %q: typical and restarted town have %v series, want %v", r.setting, got, want[r.setting])
		}
	}
	if rows[0].typical > 12 {
		t.Errorf("the default serves %d series for a typical town; the budget is 12", rows[0].typical)
	}

	var table strings.Builder
	table.WriteString("| setting (`metrics:`) | families | typical town | restarted idle town |\n| --- | --- | --- | --- |\n")
	for _, r := range rows {
		setting, prefix := "default", ""
		switch r.setting {
		case "":
		case "all":
			setting = "all of them"
		default:
			setting, prefix = "`"+r.setting+": true`", "+"
		}
		var fams []string
		for _, f := range r.families {
			fams = append(fams, "`"+f+"`")
		}
		if r.setting == "all" {
			fams = []string{"every family above"}
		}
		fmt.Fprintf(&table, "| %s | %s | %s%d | %s%d |\n", setting, strings.Join(fams, ", "), prefix, r.typical, prefix, r.restored)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), table.String()) {
		t.Errorf("README.md lacks the series budget as measured; its table should read:\n%s", table.String())
	}
}

// Every setting the metric names refer to is a key of the metrics section,
// and every key serves a family.
func TestSettingsAreMetricsGroups(t *testing.T) {
	groups := config.MetricsGroups()
	if !slices.Equal(slices.Sorted(slices.Values(groups)), metricnames.Settings()) {
		t.Errorf("metricnames.Settings() = %v, config.MetricsGroups() = %v", metricnames.Settings(), groups)
	}
	serving := map[string]bool{}
	for _, name := range TownFamilies() {
		if s := metricnames.Setting(name); s != "" {
			serving[s] = true
		}
	}
	for _, g := range groups {
		if !serving[g] {
			t.Errorf("metrics.%s turns on no family", g)
		}
	}
}

// oddTowns holds towns whose ids need escaping, an open violation and a
// failed dry run, so the text writer meets every case the encoder handles.
func oddTowns(t *testing.T) *Snapshot {
	snap := NewSnapshot()
	sampleTown(t, snap, "typical", "dry-run.json", "status.json")
	sampleTown(t, snap, `quo"te\back`+"\nline", "dry-run-idle.json", "status-after-restart.json")
	sampleTown(t, snap, "ünïcode", "dry-run-with-violations.json", "status.json")
	failed := *snap.Get("typical")
	failed.Up, failed.Status = false, nil
	failed.DryRun = &DryRunState{Code: 500, Seconds: 1.5e-7, Err: "500"}
	snap.Put("a-failed", &failed)
	return snap
}

type openCounts map[string]map[int]int

func (o openCounts) EachOpenCount(towns iter.Seq[string], fn func(town string, invariant, n int)) {
	for town := range towns {
		for inv, n := range o[town] {
			fn(town, inv, n)
		}
	}
}

// ownRegistry has families that sort before, between and after the town
// families, as the sidecar's registry does.
func ownRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	for _, name := range []string{"go_goroutines", "reconciler_zz_own", "tickwatch_towns"} {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "own " + name})
		g.Set(3)
		reg.MustRegister(g)
	}
	return reg
}

func gather(t *testing.T, g prometheus.Gatherer) []*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return mfs
}

// The streamed exposition is byte for byte what promhttp's text encoder
// makes of the gathered families, for the default and every group on.
func TestStreamedTextIsTheEncodedExposition(t *testing.T) {
	snap := oddTowns(t)
	c := NewTownMetrics(snap, openCounts{"typical": {7: 1, 0: 2}, "ünïcode": {3: 1}})
	reg := ownRegistry()
	for _, m := range []config.Metrics{{}, allGroups()} {
		c.SetMetrics(m)
		format := expfmt.NewFormat(expfmt.TypeTextPlain)
		var streamed, encoded bytes.Buffer
		if err := c.WriteText(&streamed, gather(t, reg), format); err != nil {
			t.Fatal(err)
		}
		mfs, err := Gatherer(reg, c).Gather()
		if err != nil {
			t.Fatal(err)
		}
		enc := expfmt.NewEncoder(&encoded, format)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				t.Fatal(err)
			}
		}
		if streamed.String() != encoded.String() {
			t.Errorf("groups %+v: streamed\n%s\nencoded\n%s", m, streamed.String(), encoded.String())
		}
		if n := strings.Count(streamed.String(), "# TYPE reconciler_up "); n != 1 {
			t.Errorf("reconciler_up has %d blocks", n)
		}
		// What Prometheus parses back.
		parser := expfmt.NewTextParser(model.UTF8Validation)
		parsed, err := parser.TextToMetricFamilies(strings.NewReader(streamed.String()))
		if err != nil {
			t.Fatalf("the exposition does not parse: %v", err)
		}
		if got := parsed[metricnames.Up].Metric; len(got) != 4 {
			t.Errorf("reconciler_up has %d series, want 4", len(got))
		}
	}
}

// A registry family named like a town family is left out: two blocks of one
// name would fail the whole scrape.
func TestOwnFamilyNamedLikeATownFamily(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: metricnames.Up, Help: "clash"}))
	var out bytes.Buffer
	if err := everyTownMetric(oddTowns(t)).WriteText(&out, gather(t, reg), expfmt.NewFormat(expfmt.TypeTextPlain)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "# TYPE "+metricnames.Up+" "); n != 1 || strings.Contains(out.String(), "clash") {
		t.Errorf("%d blocks of %s:\n%s", n, metricnames.Up, out.String())
	}
}

func TestMetricsHandlerFormats(t *testing.T) {
	c := NewTownMetrics(oddTowns(t), nil)
	h := MetricsHandler(ownRegistry(), c, slog.New(slog.DiscardHandler))
	scrape := func(path, accept, encoding string) (http.Header, []byte) {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Accept", accept)
		req.Header.Set("Accept-Encoding", encoding)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if rec.Header().Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		return rec.Header(), body
	}
	const prometheus3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
	header, text := scrape("/metrics", prometheus3, "gzip")
	if ct := header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=1.0.0") || header.Get("Content-Encoding") != "gzip" {
		t.Errorf("Prometheus 3 scrape: Content-Type %q, Content-Encoding %q", ct, header.Get("Content-Encoding"))
	}
	_, plain := scrape("/metrics", "", "")
	if !bytes.Equal(text, plain) || !bytes.Contains(plain, []byte(`reconciler_up{town="typical"} 1`)) {
		t.Errorf("text scrapes differ or miss a town:\n%s\n%s", text, plain)
	}

	const protobuf = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
	for _, encoding := range []string{"", "gzip"} {
		header, body := scrape("/metrics", protobuf+";q=0.7,text/plain;version=0.0.4;q=0.3", encoding)
		if !strings.HasPrefix(header.Get("Content-Type"), "application/vnd.google.protobuf") {
			t.Fatalf("protobuf scrape answered %q", header.Get("Content-Type"))
		}
		var names []string
		dec := expfmt.NewDecoder(bytes.NewReader(body), expfmt.NewFormat(expfmt.TypeProtoDelim))
		for {
			var mf dto.MetricFamily
			if err := dec.Decode(&mf); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			names = append(names, mf.GetName())
		}
		if !slices.IsSorted(names) || !slices.Contains(names, metricnames.Up) || !slices.Contains(names, "go_goroutines") || slices.Contains(names, metricnames.Agents) {
			t.Errorf("protobuf scrape (%q) has families %v", encoding, names)
		}
	}

	_, filtered := scrape("/metrics?name[]="+metricnames.Ticking+"&name[]=tickwatch_towns", "", "")
	if got := strings.Count(string(filtered), "# TYPE "); got != 2 || !strings.Contains(string(filtered), metricnames.Ticking+`{town="typical"} 1`) {
		t.Errorf("name[] filter served:\n%s", filtered)
	}
}

func TestAppendValueIsTheEncodersFloat(t *testing.T) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1, 2, 41, 999999, 1e6, -999999, -1e6, 1234567, 0.041, 1.5e-7,
		1.8e9, 1800000000.123, 4194304, 64, math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, 1e21, 123456.5} {
		var want string
		switch {
		case v == 0:
			want = "0"
		case math.IsNaN(v):
			want = "NaN"
		case math.IsInf(v, 1):
			want = "+Inf"
		case math.IsInf(v, -1):
			want = "-Inf"
		default:
			want = strconv.FormatFloat(v, 'g', -1, 64)
		}
		if got := string(appendValue(nil, v)); got != want {
			t.Errorf("appendValue(%v) = %s, want %s", v, got, want)
		}
	}
}

// A scrape of the default families allocates nothing per series: a few
// hundred allocations whether 100 or 2,000 towns are served.
func TestScrapeAllocationsDoNotGrowWithTowns(t *testing.T) {
	own := gather(t, ownRegistry())
	allocs := func(towns int) float64 {
		c := NewTownMetrics(pollSnapshot(t, towns), nil)
		c.WriteText(io.Discard, own, expfmt.NewFormat(expfmt.TypeTextPlain)) // sorts the towns once
		return testing.AllocsPerRun(20, func() {
			c.WriteText(io.Discard, own, expfmt.NewFormat(expfmt.TypeTextPlain))
		})
	}
	small, large := allocs(100), allocs(2000)
	if large > small+5 {
		t.Errorf("a scrape allocates %v times with 100 towns and %v with 2,000", small, large)
	}
}

// A gzipped scrape after collections finds the buffers of the last one:
// at 10,000 towns the collector runs several times between two scrapes, and
// buffers kept in a sync.Pool were gone by the next, so every scrape made a
// gzip writer (about 1 MB) and the town list anew.
func TestScrapeBuffersOutlastCollections(t *testing.T) {
	h := MetricsHandler(ownRegistry(), NewTownMetrics(pollSnapshot(t, 2000), nil), slog.New(slog.DiscardHandler))
	scrape := func() {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		h.ServeHTTP(&discardResponse{header: http.Header{}}, req)
	}
	scrape()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	scrape()
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 256<<10 {
		t.Errorf("a scrape after two collections allocated %d KB, want its buffers kept from the last", got>>10)
	}
}

// A registry that gathers only part of its families still lets the scrape
// serve them and every town, and says why in the log.
func TestScrapeSurvivesAFailingGather(t *testing.T) {
	var log bytes.Buffer
	reg := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, _ := ownRegistry().Gather()
		return mfs[:1], fmt.Errorf("collector exploded")
	})
	h := MetricsHandler(reg, NewTownMetrics(oddTowns(t), nil), slog.New(slog.NewTextHandler(&log, nil)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "go_goroutines 3") || !strings.Contains(body, `reconciler_up{town="typical"} 1`) {
		t.Errorf("scrape %d:\n%s", rec.Code, body)
	}
	if !strings.Contains(log.String(), "collector exploded") {
		t.Errorf("log: %s", log.String())
	}
}

// TestOpenViolationsInOrder: the open violations come out sorted by
// invariant label, then town, complete and each under its own number,
// whether the fleet has a few invariants open or more than the passes over
// the rows allow.
func TestOpenViolationsInOrder(t *testing.T) {
	snap := NewSnapshot()
	const towns = 40
	for i := range towns {
		snap.Put(fmt.Sprintf("town-%02d", (i*7)%towns), &TownState{Up: true})
	}
	for _, spread := range []int{3, 3 * maxInvariantPasses} {
		open := openCounts{}
		var want []string
		for i := range towns {
			town := fmt.Sprintf("town-%02d", i)
			open[town] = map[int]int{}
			// The second beyond 32 bits: a target may number its own way.
			for _, inv := range []int{i % spread, 1<<32 + 100 + i%spread} {
				open[town][inv] = i + 1
				want = append(want, gastown.InvariantLabel(inv)+" "+town+" "+strconv.Itoa(i+1))
			}
		}
		slices.Sort(want) // labels, then towns: both sort as their strings
		var buf bytes.Buffer
		if err := NewTownMetrics(snap, open).WriteText(&buf, nil, expfmt.NewFormat(expfmt.TypeTextPlain)); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, line := range strings.Split(buf.String(), "\n") {
			if !strings.HasPrefix(line, metricnames.InvariantViolations+"{") {
				continue
			}
			var inv, town, n string
			if _, err := fmt.Sscanf(strings.NewReplacer(`{invariant="`, " ", `",town="`, " ", `"} `, " ").Replace(line), metricnames.InvariantViolations+" %s %s %s", &inv, &town, &n); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			got = append(got, inv+" "+town+" "+n)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%d invariants: got\n%s\nwant\n%s", 2*spread, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

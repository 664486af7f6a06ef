package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// countingProxy stands between tickwatch and the worker and counts the
// calls tickwatch makes, by town and call.
type countingProxy struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string]int // "town call" -> count
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{calls: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // a stopped worker is part of the test
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if segs := strings.Split(r.URL.EscapedPath(), "/"); len(segs) == 5 && segs[1] == "debug" && segs[2] == "towns" {
			town, _ := url.PathUnescape(segs[3])
			p.mu.Lock()
			p.calls[town+" "+segs[4]]++
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *countingProxy) count(town, call string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[town+" "+call]
}

// series is one scrape: "name{labels}" -> value, labels sorted, town first.
type series map[string]float64

func key(name string, labels ...string) string {
	return name + "{" + strings.Join(labels, ",") + "}"
}

// scrape reads tickwatch's /metrics.
func scrape(base string) (series, error) {
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, err
	}
	out := series{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, lp := range m.GetLabel() {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
			sort.Slice(ls, func(i, j int) bool { // town first: key("x", "town="+t, ...)
				if strings.HasPrefix(ls[i], "town=") != strings.HasPrefix(ls[j], "town=") {
					return strings.HasPrefix(ls[i], "town=")
				}
				return ls[i] < ls[j]
			})
			v := m.GetGauge().GetValue()
			if c := m.GetCounter(); c != nil {
				v = c.GetValue()
			}
			out[key(name, ls...)] = v
		}
	}
	return out, nil
}

// townStatus is the part of tickwatch's /status.json the suite reads.
type townStatus struct {
	Town       string     `json:"town"`
	Up         bool       `json:"up"`
	LastPoll   time.Time  `json:"last_poll"`
	Ticking    *bool      `json:"ticking"`
	NextFireAt *time.Time `json:"next_fire_at"`
	DryRunUp   *bool      `json:"dry_run_up"`
	DryRunCode int        `json:"dry_run_status_code"`
	Error      string     `json:"error"`
}

func statusJSON(base string) (map[string]townStatus, error) {
	resp, err := client.Get(base + "/status.json")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Towns []townStatus `json:"towns"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, err
	}
	out := map[string]townStatus{}
	for _, ts := range r.Towns {
		out[ts.Town] = ts
	}
	return out, nil
}

// within calls cond every half second until it returns nil or timeout
// passes, and returns its last error.
func within(timeout time.Duration, cond func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func expect(s series, k string, want float64) error {
	got, ok := s[k]
	if !ok {
		return fmt.Errorf("%s absent", k)
	}
	if got != want {
		return fmt.Errorf("%s = %g, want %g", k, got, want)
	}
	return nil
}

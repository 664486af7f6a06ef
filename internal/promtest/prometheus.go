package promtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// PrometheusConfig is what a test's Prometheus scrapes and evaluates.
type PrometheusConfig struct {
	Job     string   // scrape job; "" means "tickwatch"
	Targets []string // host:port of each tickwatch
	// RuleFiles are copied next to the generated prometheus.yml. They are
	// loaded (by a SIGHUP reload) only once every target has been scraped
	// up: Prometheus discovers static targets a few seconds after start,
	// and rules with second-long `for`s would otherwise see a missing
	// target and fire absent() alerts.
	RuleFiles map[string][]byte
	// Alertmanager is the host:port alerts go to; "" sends none.
	Alertmanager string
	// ScrapeInterval and EvaluationInterval default to one second.
	ScrapeInterval, EvaluationInterval time.Duration
}

// Prometheus is a running Prometheus server.
type Prometheus struct {
	URL  string
	Proc *Process

	cfgPath string
	cfg     promYAML
}

type promYAML struct {
	Global struct {
		ScrapeInterval     model.Duration `yaml:"scrape_interval"`
		ScrapeTimeout      model.Duration `yaml:"scrape_timeout"`
		EvaluationInterval model.Duration `yaml:"evaluation_interval"`
	} `yaml:"global"`
	RuleFiles     []string        `yaml:"rule_files,omitempty"`
	Alerting      *promAlerting   `yaml:"alerting,omitempty"`
	ScrapeConfigs []promScrapeJob `yaml:"scrape_configs"`
}

type promAlerting struct {
	Alertmanagers []promStatic `yaml:"alertmanagers"`
}

type promStatic struct {
	StaticConfigs []struct {
		Targets []string `yaml:"targets"`
	} `yaml:"static_configs"`
}

type promScrapeJob struct {
	JobName    string `yaml:"job_name"`
	promStatic `yaml:",inline"`
}

func static(targets ...string) promStatic {
	s := promStatic{}
	s.StaticConfigs = append(s.StaticConfigs, struct {
		Targets []string `yaml:"targets"`
	}{targets})
	return s
}

// StartPrometheus writes a config for c into a temp dir and runs Prometheus
// on a loopback port it binds itself, with its own data dir, until it is
// ready.
func StartPrometheus(t testing.TB, c PrometheusConfig) *Prometheus {
	t.Helper()
	bin := Binary(t, PrometheusBin)
	dir := t.TempDir()
	if c.Job == "" {
		c.Job = "tickwatch"
	}
	if c.ScrapeInterval == 0 {
		c.ScrapeInterval = time.Second
	}
	if c.EvaluationInterval == 0 {
		c.EvaluationInterval = time.Second
	}
	var cfg promYAML
	cfg.Global.ScrapeInterval = model.Duration(c.ScrapeInterval)
	cfg.Global.ScrapeTimeout = model.Duration(c.ScrapeInterval)
	cfg.Global.EvaluationInterval = model.Duration(c.EvaluationInterval)
	if c.Alertmanager != "" {
		cfg.Alerting = &promAlerting{Alertmanagers: []promStatic{static(c.Alertmanager)}}
	}
	cfg.ScrapeConfigs = []promScrapeJob{{JobName: c.Job, promStatic: static(c.Targets...)}}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	writePromConfig(t, cfgPath, cfg)
	proc := Start(t, bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:0", // bound by Prometheus itself: no port race
		// Resend firing alerts every second, so Alertmanager hears
		// about changes (and resolutions) within a tick of the rules.
		"--rules.alert.resend-delay=1s",
		"--log.level=info", // the line with the bound address is at info
	)
	p := &Prometheus{URL: "http://" + proc.WaitOutput(t, listeningOn, startTimeout)[1], Proc: proc, cfgPath: cfgPath, cfg: cfg}
	waitReady(t, p.Proc, p.URL+"/-/ready", startTimeout)
	if len(c.RuleFiles) == 0 {
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*startTimeout)
	defer cancel()
	q := fmt.Sprintf("up{job=%q} == 1", c.Job)
	Eventually(t, startTimeout, "Prometheus to scrape every target up", func() error {
		v, err := p.Query(ctx, q)
		if err != nil {
			return err
		}
		if len(v) != len(c.Targets) {
			return fmt.Errorf("%d of %d targets up; %s", len(v), len(c.Targets), p.targetErrors(ctx))
		}
		return nil
	})
	for name, data := range c.RuleFiles {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatalf("write rule file: %v", err)
		}
		cfg.RuleFiles = append(cfg.RuleFiles, name)
	}
	writePromConfig(t, cfgPath, cfg)
	p.cfg = cfg
	if err := p.Proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("reload prometheus: %v", err)
	}
	Eventually(t, startTimeout, "Prometheus to load the rule files", func() error {
		var data struct {
			Groups []struct {
				File string `json:"file"`
			} `json:"groups"`
		}
		if err := p.get(ctx, "/api/v1/rules", &data); err != nil {
			return err
		}
		loaded := map[string]bool{}
		for _, g := range data.Groups {
			loaded[filepath.Base(g.File)] = true
		}
		for name := range c.RuleFiles {
			if !loaded[name] {
				return fmt.Errorf("%s has no group loaded yet", name)
			}
		}
		return nil
	})
	return p
}

// SetTargets replaces the job's targets, as service discovery does when a
// replica comes or goes, and waits until Prometheus scrapes exactly those.
func (p *Prometheus) SetTargets(t testing.TB, targets ...string) {
	t.Helper()
	p.cfg.ScrapeConfigs[0].promStatic = static(targets...)
	writePromConfig(t, p.cfgPath, p.cfg)
	if err := p.Proc.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("reload prometheus: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	Eventually(t, startTimeout, "Prometheus to scrape the new targets", func() error {
		var data struct {
			ActiveTargets []struct {
				Labels map[string]string `json:"labels"`
			} `json:"activeTargets"`
		}
		if err := p.get(ctx, "/api/v1/targets?state=active", &data); err != nil {
			return err
		}
		var got []string
		for _, tg := range data.ActiveTargets {
			got = append(got, tg.Labels["instance"])
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(targets))
		if !slices.Equal(got, want) {
			return fmt.Errorf("active targets %v, want %v", got, want)
		}
		return nil
	})
}

func writePromConfig(t testing.TB, path string, cfg promYAML) {
	t.Helper()
	data, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("encode prometheus.yml: %v", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("write prometheus.yml: %v", err)
	}
}

// targetErrors summarises the scrape targets' health, for failure messages.
func (p *Prometheus) targetErrors(ctx context.Context) string {
	var data struct {
		ActiveTargets []struct {
			ScrapeURL string `json:"scrapeUrl"`
			Health    string `json:"health"`
			LastError string `json:"lastError"`
		} `json:"activeTargets"`
	}
	if err := p.get(ctx, "/api/v1/targets", &data); err != nil {
		return err.Error()
	}
	if len(data.ActiveTargets) == 0 {
		return "no active targets yet"
	}
	var out []string
	for _, tg := range data.ActiveTargets {
		out = append(out, fmt.Sprintf("%s %s %s", tg.ScrapeURL, tg.Health, tg.LastError))
	}
	return strings.Join(out, "; ")
}

// waitReady polls a /-/ready endpoint until it answers 200.
func waitReady(t testing.TB, proc *Process, readyURL string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, proc.Name+" to be ready", func() error {
		if done, err := proc.Exited(); done {
			return Permanent(fmt.Errorf("%s exited: %v", proc.Name, err))
		}
		resp, err := client.Get(readyURL)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %s", readyURL, resp.Status)
		}
		return nil
	})
}

// Sample is one element of an instant vector.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query runs an instant PromQL query now and returns its vector.
func (p *Prometheus) Query(ctx context.Context, q string) ([]Sample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %q, want vector", q, data.ResultType)
	}
	out := make([]Sample, 0, len(data.Result))
	for _, r := range data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("query %q: value %v: %w", q, r.Value[1], err)
		}
		out = append(out, Sample{Labels: r.Metric, Value: v})
	}
	return out, nil
}

// Alert is an alert as Prometheus's /api/v1/alerts lists it.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"` // pending or firing
	Value       string            `json:"value"`
}

// Alerts lists the pending and firing alerts.
func (p *Prometheus) Alerts(ctx context.Context) ([]Alert, error) {
	var data struct {
		Alerts []Alert `json:"alerts"`
	}
	if err := p.get(ctx, "/api/v1/alerts", &data); err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return data.Alerts, nil
}

// get decodes the data field of a Prometheus API answer.
func (p *Prometheus) get(ctx context.Context, path string, data any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("%s: %s: %w", path, resp.Status, err)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, resp.Status, env.Error)
	}
	return json.Unmarshal(env.Data, data)
}

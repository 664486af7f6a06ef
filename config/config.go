// Package config holds tickwatch's configuration: its types, defaults, a
// strict YAML loader that points at the offending line, and validation.
package config

import (
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// Config is the whole configuration file.
type Config struct {
	Target     Target     `yaml:"target"`
	Poll       Poll       `yaml:"poll"`
	Shard      Shard      `yaml:"shard"`
	Dedupe     Dedupe     `yaml:"dedupe"`
	Sentry     Sentry     `yaml:"sentry"`
	Thresholds Thresholds `yaml:"thresholds"`
	Web        Web        `yaml:"web"`
	Metrics    Metrics    `yaml:"metrics"`
}

// Target is the Gastown worker to watch. An empty URL means the embedded simtown fleet.
type Target struct {
	URL        string                     `yaml:"url"`
	Towns      []string                   `yaml:"towns"`
	TownsFile  string                     `yaml:"towns_file"`
	HTTPClient commoncfg.HTTPClientConfig `yaml:"http_client"`
	Timeout    model.Duration             `yaml:"timeout"`
	Status     bool                       `yaml:"status"`
}

type Poll struct {
	Interval             model.Duration `yaml:"interval"`
	IdleInterval         model.Duration `yaml:"idle_interval"`
	Concurrency          int            `yaml:"concurrency"`
	MaxRequestsPerSecond float64        `yaml:"max_requests_per_second"`
	MaxBodyBytes         int64          `yaml:"max_body_bytes"`
	MaxActionTypes       int            `yaml:"max_action_types"`
	// DryRunInterval is the longest a town goes without a dry run while
	// nothing calls for one (see exporter.Settings.DryRunInterval); 0 makes
	// one on every poll.
	DryRunInterval model.Duration `yaml:"dry_run_interval"`
	// BatchWindow groups the polls due within it into one start (see
	// exporter.Settings.BatchWindow); 0 starts each at its own moment. At
	// most a fifth of Interval of it is used (EffectiveBatchWindow), so a
	// short interval needs no setting of its own.
	BatchWindow model.Duration `yaml:"batch_window"`
}

// EffectiveBatchWindow is the batch window the poller uses.
func (q Poll) EffectiveBatchWindow() time.Duration {
	return min(time.Duration(q.BatchWindow), time.Duration(q.Interval)/5)
}

// MaxDryRunWait is the longest a watched town goes without a dry run: the
// upper bound of poll.dry_run_interval and the cap of the back-off of a dry
// run that keeps failing. The ReconcilerDryRunFailing alert waits at least
// this long, so a dry run that answers again is tried before the alert
// could have fired on a failure no attempt has confirmed since.
const MaxDryRunWait = 10 * time.Minute

// Shard selects the towns this replica owns: hash(town) mod Count == Index.
type Shard struct {
	Index int `yaml:"index"`
	Count int `yaml:"count"`
}

type Dedupe struct {
	OpenAfter      int            `yaml:"open_after"`
	ResolveAfter   int            `yaml:"resolve_after"`
	RepeatInterval model.Duration `yaml:"repeat_interval"` // 0: never repeat
	StateDir       string         `yaml:"state_dir"`
}

type Sentry struct {
	DSN                commoncfg.Secret `yaml:"dsn"`
	Environment        string           `yaml:"environment"`
	Release            string           `yaml:"release"`
	MaxEventsPerSecond float64          `yaml:"max_events_per_second"`
	Burst              int              `yaml:"burst"`
	SendResolved       bool             `yaml:"send_resolved"`
	GroupBy            []string         `yaml:"group_by"`
	// With an auth token, a resolved violation resolves its Sentry issue
	// through the web API instead of sending an info event.
	AuthTokenFile string `yaml:"auth_token_file"`
	Organization  string `yaml:"organization"` // the organization slug
	APIURL        string `yaml:"api_url"`      // empty: from the DSN
}

// Web is where people reach tickwatch's pages and the dashboard: the base of
// the links that the status pages and the Sentry events carry.
type Web struct {
	ExternalURL string `yaml:"external_url"` // tickwatch as its users reach it
	GrafanaURL  string `yaml:"grafana_url"`  // Grafana's base URL
}

// Thresholds are the one source of the dashboard's thresholds and the alert rules.
type Thresholds struct {
	WallClockSeconds   float64        `yaml:"wall_clock_seconds"`
	QueueDepthWarning  float64        `yaml:"queue_depth_warning"`
	QueueDepthCritical float64        `yaml:"queue_depth_critical"`
	StaleAfter         model.Duration `yaml:"stale_after"`
}

// Default returns the configuration used when a file names nothing else.
func Default() Config {
	return Config{
		Target: Target{
			HTTPClient: commoncfg.DefaultHTTPClientConfig,
			Timeout:    model.Duration(4 * time.Second),
			Status:     true,
		},
		Poll: Poll{
			Interval:             model.Duration(5 * time.Second),
			IdleInterval:         model.Duration(60 * time.Second),
			Concurrency:          64,
			MaxRequestsPerSecond: 200,
			MaxBodyBytes:         4 << 20,
			MaxActionTypes:       64,
			// An idle town is polled about once a minute anyway; a quiet
			// active one makes one dry run a minute instead of twelve.
			DryRunInterval: model.Duration(time.Minute),
			BatchWindow:    model.Duration(time.Second),
		},
		Shard: Shard{Index: 0, Count: 1},
		Dedupe: Dedupe{
			OpenAfter:      2,
			ResolveAfter:   3,
			RepeatInterval: model.Duration(24 * time.Hour),
			StateDir:       "./data",
		},
		Sentry: Sentry{
			Environment:        "production",
			MaxEventsPerSecond: 1,
			Burst:              20,
			SendResolved:       true,
			GroupBy:            []string{"invariant"},
		},
		Thresholds: DefaultThresholds(),
	}
}

// DefaultThresholds are the thresholds of SPEC section 3.
func DefaultThresholds() Thresholds {
	return Thresholds{
		WallClockSeconds:   0.5,
		QueueDepthWarning:  25,
		QueueDepthCritical: 50,
		StaleAfter:         model.Duration(5 * time.Minute),
	}
}

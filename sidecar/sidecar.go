package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"

	"github.com/tickwatch/tickwatch/alerts"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/exporter"
	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/statuspage"
)

// Sidecar is `tickwatch run` without its command line: the poller, the
// metrics, the violations pipeline and the HTTP endpoints, built from a config.
type Sidecar struct {
	Registry   *prometheus.Registry // the sidecar's own metrics
	Gatherer   prometheus.Gatherer  // Registry plus the town metrics: what /metrics serves
	Snapshot   *exporter.Snapshot
	Poller     *exporter.Poller
	Violations *Violations
	History    *statuspage.History // the town pages' recent polls
	Pages      *statuspage.Pages

	logger      *slog.Logger
	configFile  string
	embeddedURL string
	handler     http.Handler

	mu  sync.Mutex // serialises reloads and guards cfg
	cfg *config.Config
}

// Options are the command-line parts of a sidecar.
type Options struct {
	ConfigFile    string // what Reload re-reads; "" re-applies the defaults
	TelemetryPath string
	// EmbeddedURL is the in-process simtown fleet's URL, watched while the
	// config names no target.url (also after a reload).
	EmbeddedURL string
	Logger      *slog.Logger
}

// New builds a sidecar from a loaded config.
func New(cfg *config.Config, o Options) (*Sidecar, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Sidecar{Registry: prometheus.NewRegistry(), Snapshot: exporter.NewSnapshot(), logger: logger, configFile: o.ConfigFile, embeddedURL: o.EmbeddedURL}
	cfg = s.withEmbedded(cfg)
	s.cfg = cfg
	settings, err := settingsFrom(cfg, nil, nil)
	if err != nil {
		return nil, err
	}
	s.Poller = exporter.NewPoller(settings, s.Snapshot, time.Now, logger)

	dir := cfg.Dedupe.StateDir
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	tracker, err := dedupe.OpenTracker(dir, dedupeOptions(cfg), time.Now, logger.With("component", "dedupe"))
	if err != nil {
		return nil, err
	}
	notifier, err := alerts.NewNotifier(cfg.Sentry, cfg.Shard.Index, dir, time.Now, logger.With("component", "sentry"),
		alerts.WithOpenViolations(tracker.AllOpenViolations))
	if err != nil {
		tracker.Close()
		return nil, err
	}
	notifier.SetLinks(cfg.Web)
	s.Violations = NewViolations(tracker, notifier, logger)
	s.History = statuspage.NewHistory()
	s.Poller.OnObservation = func(o *gastown.Observation) {
		s.History.Record(o)
		s.Violations.Observe(o)
	}
	s.Poller.KeepStatusBody = s.Violations.MayNotify
	s.Poller.OnWatchList = func(owned map[string]bool) {
		s.History.Retain(owned)
		s.Violations.Retain(owned)
	}
	s.Poller.OnTickEnd = s.Violations.TickDone

	s.Registry.MustRegister(
		s.Poller,
		s.Violations,
		versioncollector.NewCollector("tickwatch"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	s.Gatherer = exporter.Gatherer(s.Registry, exporter.NewTownMetrics(s.Snapshot, tracker))
	s.Pages = statuspage.New(statuspage.Options{
		Snapshot:      s.Snapshot,
		Ticks:         s.Poller,
		Tracker:       tracker,
		History:       s.History,
		Outbox:        s.Violations.OutboxStatus,
		TelemetryPath: o.TelemetryPath,
	}, cfg)
	s.handler, err = NewHandler(ServerOptions{
		Gatherer:      s.Gatherer,
		TelemetryPath: o.TelemetryPath,
		Poller:        s.Poller,
		Pages:         s.Pages,
		Reload:        s.Reload,
		Logger:        logger,
	})
	if err != nil {
		tracker.Close()
		notifier.Close()
		return nil, err
	}
	return s, nil
}

// Handler serves every HTTP endpoint of `tickwatch run`.
func (s *Sidecar) Handler() http.Handler { return s.handler }

// ShutdownFlushTimeout bounds how long a stopping sidecar tries to empty the
// Sentry outbox; what is left stays in the outbox for the next start.
const ShutdownFlushTimeout = 5 * time.Second

// Run polls and sends until ctx is done, then flushes the outbox (bounded)
// and persists the state.
func (s *Sidecar) Run(ctx context.Context) error {
	s.mu.Lock()
	cfg := s.cfg
	s.mu.Unlock()
	s.logger.Info("watching", "target", cfg.Target.RedactedURL(), "interval", time.Duration(cfg.Poll.Interval),
		"shard", fmt.Sprintf("%d/%d", cfg.Shard.Index, cfg.Shard.Count), "version", version.Version)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Violations.Notifier.Run(ctx) }()
	s.Poller.Run(ctx)
	wg.Wait()

	v := s.Violations
	if err := v.Notifier.Flush(ShutdownFlushTimeout); err != nil {
		s.logger.Warn("outbox not empty at shutdown; kept for the next start", "err", err, "pending", v.Notifier.Stats().Pending)
	}
	return errors.Join(v.Tracker.Close(), v.Notifier.Close()) // Close saves the tracker
}

func dedupeOptions(cfg *config.Config) dedupe.Options {
	return dedupe.Options{
		OpenAfter:      cfg.Dedupe.OpenAfter,
		ResolveAfter:   cfg.Dedupe.ResolveAfter,
		RepeatInterval: time.Duration(cfg.Dedupe.RepeatInterval),
	}
}

// Reload re-reads the config file and applies it from the next tick on. A
// config that does not load, validate or build is rejected and the running
// one is kept.
func (s *Sidecar) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg, err := config.Load(s.configFile)
	var settings exporter.Settings
	if err == nil {
		cfg = s.withEmbedded(cfg)
		settings, err = settingsFrom(cfg, s.cfg, s.Poller.Settings())
	}
	if err != nil {
		problems := config.Problems(err)
		if len(problems) == 0 {
			s.logger.Error("reload rejected, keeping the running configuration", "err", err)
		}
		for _, p := range problems { // one line each, as check-config prints them
			s.logger.Error("reload rejected, keeping the running configuration", "err", p)
		}
		return err
	}
	if old := s.Poller.Settings().Client; old != settings.Client {
		defer old.CloseIdleConnections() // after the swap below
	}
	s.Poller.Reload(settings)
	s.Violations.Tracker.SetOptions(dedupeOptions(cfg))
	if err := s.Violations.Notifier.Update(cfg.Sentry, cfg.Shard.Index); err != nil {
		s.logger.Warn("sentry settings not applied; the running ones are kept", "err", err)
	}
	s.Pages.SetConfig(cfg)
	s.Violations.Notifier.SetLinks(cfg.Web)
	if cfg.Dedupe.StateDir != s.cfg.Dedupe.StateDir {
		s.logger.Warn("dedupe.state_dir changes take effect at the next restart")
	}
	s.cfg = cfg
	s.logger.Info("configuration reloaded", "file", s.configFile)
	return nil
}

// withEmbedded points a config without target.url at the embedded fleet.
func (s *Sidecar) withEmbedded(cfg *config.Config) *config.Config {
	if cfg.Target.URL == "" && s.embeddedURL != "" {
		c := *cfg
		c.Target.URL = s.embeddedURL
		return &c
	}
	return cfg
}

// settingsFrom builds the poller's settings. On a reload whose target
// section is unchanged it keeps the running client (and its open
// connections) and town source (and the town list it knows).
func settingsFrom(cfg, prevCfg *config.Config, prev *exporter.Settings) (exporter.Settings, error) {
	timeout := time.Duration(cfg.Target.Timeout)
	var client *gastown.Client
	var towns *exporter.TownSource
	if prev != nil && reflect.DeepEqual(cfg.Target, prevCfg.Target) && cfg.Poll.MaxBodyBytes == prevCfg.Poll.MaxBodyBytes {
		client, towns = prev.Client, prev.Towns
	} else {
		var err error
		client, err = gastown.NewClient(gastown.ClientOptions{
			URL:          cfg.Target.URL,
			HTTPClient:   cfg.Target.HTTPClient,
			Timeout:      timeout,
			MaxBodyBytes: cfg.Poll.MaxBodyBytes,
			UserAgent:    "tickwatch/" + version.Version,
		})
		if err != nil {
			return exporter.Settings{}, err
		}
		towns = exporter.NewTownSource(cfg.Target.Towns, cfg.Target.TownsFile, client.Towns)
	}
	interval := time.Duration(cfg.Poll.Interval)
	return exporter.Settings{
		Client:               client,
		Towns:                towns,
		Interval:             interval,
		IdleInterval:         time.Duration(cfg.Poll.IdleInterval),
		Timeout:              timeout,
		Spread:               interval - timeout,
		Concurrency:          cfg.Poll.Concurrency,
		MaxRequestsPerSecond: cfg.Poll.MaxRequestsPerSecond,
		MaxActionTypes:       cfg.Poll.MaxActionTypes,
		WithStatus:           cfg.Target.Status,
		Shard:                cfg.Shard,
	}, nil
}

package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
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
	"github.com/tickwatch/tickwatch/internal/atomicfile"
	"github.com/tickwatch/tickwatch/metricnames"
	"github.com/tickwatch/tickwatch/statuspage"
)

// Sidecar is `tickwatch run` without its command line: the poller, the
// metrics, the violations pipeline and the HTTP endpoints, built from a config.
type Sidecar struct {
	Registry   *prometheus.Registry // the sidecar's own metrics
	Gatherer   prometheus.Gatherer  // Registry plus the town metrics: what /metrics serves
	Towns      *exporter.TownMetrics
	Snapshot   *exporter.Snapshot
	Poller     *exporter.Poller
	Violations *Violations
	History    *statuspage.History // the town pages' recent polls
	Pages      *statuspage.Pages

	logger      *slog.Logger
	configFile  string
	embeddedURL string
	shard       config.ShardOverride
	handler     http.Handler

	mu  sync.Mutex // serialises reloads and guards cfg
	cfg *config.Config

	// As Prometheus and Alertmanager say it: a rejected reload is visible
	// without reading the log.
	reloadOK, reloadAt prometheus.Gauge

	stateDir string           // as started: a reload does not move it
	now      func() time.Time // Options.Now, or time.Now
	// lastSuccessSaved is when a tick last wrote LastSuccessFile; only the
	// poller's goroutine touches it.
	lastSuccessSaved time.Time
	fileShard        config.Shard // the config file's, which the command line may override
	shardMu          sync.Mutex
	pending          *pendingShard   // a shard record waiting for a hand-over
	owned            map[string]bool // the towns of the last tick's watch list
}

// Options are the command-line parts of a sidecar.
type Options struct {
	ConfigFile    string // what Reload re-reads; "" re-applies the defaults
	TelemetryPath string
	// EmbeddedURL is the in-process simtown fleet's URL, watched while the
	// config names no target.url (also after a reload).
	EmbeddedURL string
	// Shard is the shard set on the command line or in the environment
	// (a StatefulSet pod's ordinal); it wins over the config file's, also
	// after a reload.
	Shard  config.ShardOverride
	Logger *slog.Logger
	// Now is the poller's and the violation tracker's clock (nil: time.Now),
	// so tests can run ticks at the times they choose.
	Now func() time.Time
	// WatchedTowns, when set, is told how many towns this replica watches
	// each time a tick has read the town list, before its polls start (what
	// sizes the memory limit of `tickwatch run`).
	WatchedTowns func(n int)
}

// New builds a sidecar from a loaded config.
func New(cfg *config.Config, o Options) (*Sidecar, error) {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Sidecar{Registry: prometheus.NewRegistry(), Snapshot: exporter.NewSnapshot(), logger: logger,
		configFile: o.ConfigFile, embeddedURL: o.EmbeddedURL, shard: o.Shard}
	s.fileShard = cfg.Shard
	cfg, err := s.withCommandLine(cfg)
	if err != nil {
		return nil, err
	}
	s.cfg = cfg
	settings, err := settingsFrom(cfg, nil, nil)
	if err != nil {
		return nil, err
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	s.now = now
	s.Poller = exporter.NewPoller(settings, s.Snapshot, now, logger)

	dir := cfg.Dedupe.StateDir
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	tracker, err := dedupe.OpenTracker(dir, dedupeOptions(cfg), now, logger.With("component", "dedupe"))
	if err != nil {
		return nil, err
	}
	s.stateDir = dir
	if seeds, err := readLastSuccess(dir); err != nil {
		logger.Warn("unreadable last successes of the previous run; towns down now count their age from this start", "err", err)
	} else {
		s.Snapshot.SeedLastSuccess(seeds)
	}
	prev, recorded := readShard(dir, logger)
	gained := recorded && prev != cfg.Shard
	if gained {
		handOver(tracker, prev)
	}
	if err := s.recordShard(cfg.Shard, gained); err != nil {
		tracker.Close()
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
	s.Violations.Reissue(now())
	s.History = statuspage.NewHistory()
	s.Poller.OnObservation = func(o *gastown.Observation) {
		s.History.Record(o)
		s.Violations.Observe(o)
	}
	s.Poller.KeepStatusBody = s.Violations.MayNotify
	s.Poller.WantDryRun = s.Violations.WantsDryRun
	s.Poller.OnWatchList = func(owned map[string]bool) {
		s.shardMu.Lock()
		s.owned = owned
		s.shardMu.Unlock()
		s.History.Retain(owned)
		s.Violations.Retain(owned)
		if o.WatchedTowns != nil {
			o.WatchedTowns(len(owned))
		}
	}
	s.Poller.OnTickEnd = func() {
		s.Violations.TickDone()
		s.recordWhenTakenOver()
		if t := now(); t.Sub(s.lastSuccessSaved) >= lastSuccessEvery {
			s.lastSuccessSaved = t
			if err := s.saveLastSuccess(); err != nil {
				s.logger.Warn("saving the towns' last successes", "err", err)
			}
		}
	}

	s.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: metricnames.ReloadSuccessful, Help: metricnames.Help(metricnames.ReloadSuccessful)})
	s.reloadAt = prometheus.NewGauge(prometheus.GaugeOpts{Name: metricnames.ReloadSuccessTime, Help: metricnames.Help(metricnames.ReloadSuccessTime)})
	s.reloadOK.Set(1)
	s.reloadAt.SetToCurrentTime()
	s.Registry.MustRegister(
		s.reloadOK,
		s.reloadAt,
		s.Poller,
		s.Violations,
		versioncollector.NewCollector("tickwatch"),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	s.Towns = exporter.NewTownMetrics(s.Snapshot, tracker)
	s.Towns.SetMetrics(cfg.Metrics)
	s.Gatherer = exporter.Gatherer(s.Registry, s.Towns)
	s.Pages = statuspage.New(statuspage.Options{
		Snapshot:      s.Snapshot,
		Ticks:         s.Poller,
		Tracker:       tracker,
		History:       s.History,
		Outbox:        s.Violations.OutboxStatus,
		DryRunBackoff: s.Poller.DryRunBackoff,
		TelemetryPath: o.TelemetryPath,
	}, cfg)
	s.handler, err = NewHandler(ServerOptions{
		Registry:      s.Registry,
		Towns:         s.Towns,
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
	// The state directory in full: a relative default follows the working
	// directory, and a start elsewhere would begin with empty state.
	stateDir, err := filepath.Abs(s.stateDir)
	if err != nil {
		stateDir = s.stateDir
	}
	s.logger.Info("watching", "target", cfg.Target.RedactedURL(), "interval", time.Duration(cfg.Poll.Interval),
		"shard", shardString(cfg.Shard), "state_dir", stateDir, "version", version.Version)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); s.Violations.Notifier.Run(ctx) }()
	s.Poller.Run(ctx)
	wg.Wait()
	if err := s.saveLastSuccess(); err != nil {
		s.logger.Warn("saving the towns' last successes; towns down at the next start count their age from it", "err", err)
	}

	v := s.Violations
	if err := v.Notifier.Flush(ShutdownFlushTimeout); err != nil {
		s.logger.Warn("outbox not empty at shutdown; kept for the next start", "err", err, "pending", v.Notifier.Stats().Pending)
	}
	// What the outbox could not take is in the saved state: the next start
	// writes it (Reissue).
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
	var fileShard config.Shard
	if err == nil {
		fileShard = cfg.Shard
		cfg, err = s.withCommandLine(cfg)
	}
	var settings exporter.Settings
	if err == nil {
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
		s.reloadOK.Set(0)
		return err
	}
	if old := s.Poller.Settings().Client; old != settings.Client {
		defer old.CloseIdleConnections() // after the swap below
	}
	s.Poller.Reload(settings)
	s.Towns.SetMetrics(cfg.Metrics)
	s.Violations.Tracker.SetOptions(dedupeOptions(cfg))
	if err := s.Violations.Notifier.Update(cfg.Sentry, cfg.Shard.Index); err != nil {
		s.logger.Warn("sentry settings not applied; the running ones are kept", "err", err)
		kept := *cfg // so the status pages link to the Sentry the events go to
		kept.Sentry = s.cfg.Sentry
		cfg = &kept
	}
	s.Pages.SetConfig(cfg)
	s.Violations.Notifier.SetLinks(cfg.Web)
	if cfg.Dedupe.StateDir != s.stateDir {
		s.logger.Warn("dedupe.state_dir changes take effect at the next restart", "in_use", s.stateDir, "configured", cfg.Dedupe.StateDir)
	}
	// A resize in the config file does nothing on a replica whose command
	// line fixes the count: say so, or TickwatchShardingMismatch comes
	// without a word in the log.
	if fileShard.Count != s.fileShard.Count && fileShard.Count != cfg.Shard.Count {
		s.logger.Warn("shard.count changed in the config file, but --shard.count or TICKWATCH_SHARD_COUNT fixes this replica's",
			"file", fileShard.Count, "running", cfg.Shard.Count)
	}
	if fileShard.Index != s.fileShard.Index && fileShard.Index != cfg.Shard.Index {
		s.logger.Warn("shard.index changed in the config file, but --shard.index or TICKWATCH_SHARD_INDEX fixes this replica's",
			"file", fileShard.Index, "running", cfg.Shard.Index)
	}
	s.fileShard = fileShard
	if cfg.Shard != s.cfg.Shard {
		s.logger.Info("shard changed: towns move between replicas from the next tick", "from", shardString(s.cfg.Shard), "to", shardString(cfg.Shard))
		handOver(s.Violations.Tracker, s.cfg.Shard)
		if err := s.recordShard(cfg.Shard, true); err != nil {
			s.logger.Warn("recording the shard; a restart will not know which towns it gained", "err", err)
		}
	}
	s.cfg = cfg
	s.reloadOK.Set(1)
	s.reloadAt.SetToCurrentTime()
	s.logger.Info("configuration reloaded", "file", s.configFile)
	return nil
}

// withCommandLine applies what the command line decides over the file: the
// shard it was started with, and the embedded fleet as the target of a
// config without target.url.
func (s *Sidecar) withCommandLine(cfg *config.Config) (*config.Config, error) {
	c := *cfg
	if err := s.shard.Apply(&c); err != nil {
		return nil, err
	}
	if c.Target.URL == "" && s.embeddedURL != "" {
		c.Target.URL = s.embeddedURL
	}
	return &c, nil
}

func shardString(sh config.Shard) string { return fmt.Sprintf("%d/%d", sh.Index, sh.Count) }

// ShardFile, in the state directory, records the shard the replica last ran
// as, so that a restart with another shard knows which towns it gained.
const ShardFile = "shard"

// LastSuccessFile, in the state directory, keeps each town's last
// successful poll from one run to the next (written at shutdown, and at
// the end of a tick once every lastSuccessEvery, for a crash): a town down
// across a restart keeps its reconciler_last_success_timestamp_seconds,
// and ReconcilerStale its age.
const LastSuccessFile = "last_success.json"

const lastSuccessEvery = time.Minute

func (s *Sidecar) saveLastSuccess() error {
	last := map[string]time.Time{}
	for _, e := range s.Snapshot.Towns() {
		if st := e.State; st != nil && !st.LastSuccess.IsZero() {
			last[e.Town] = st.LastSuccess
		}
	}
	b, err := json.Marshal(last)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(s.stateDir, LastSuccessFile), b, 0o640)
}

// readLastSuccess reads what saveLastSuccess wrote; nothing for a first
// start.
func readLastSuccess(dir string) (map[string]time.Time, error) {
	b, err := os.ReadFile(filepath.Join(dir, LastSuccessFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var last map[string]time.Time
	if err := json.Unmarshal(b, &last); err != nil {
		return nil, fmt.Errorf("%s: %w", LastSuccessFile, err)
	}
	return last, nil
}

// readShard is the shard recorded in dir; ok is false without a record (a
// first start) or with one that cannot be read.
func readShard(dir string, logger *slog.Logger) (sh config.Shard, ok bool) {
	path := filepath.Join(dir, ShardFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return sh, false
	}
	if _, err := fmt.Sscanf(string(b), "%d/%d", &sh.Index, &sh.Count); err != nil || sh.Count < 1 {
		logger.Warn("unreadable shard record; no town counts as handed over", "file", path, "content", string(b))
		return sh, false
	}
	return sh, true
}

// handOver tells the tracker which towns the replica gains from others by
// running as another shard than prev: those prev did not own. A town
// gained this way was watched by another replica, which reported its open
// violations: the tracker takes them over without a second opened event.
func handOver(t *dedupe.Tracker, prev config.Shard) {
	t.HandOver(func(town string) bool { return !exporter.Owns(town, prev) })
}

// handOverWindow bounds how long the shard record waits for the towns a
// replica gained: a town that stays down must not keep its hand-over open,
// where a violation that appears meanwhile would be taken as reported.
const handOverWindow = 10 * time.Minute

// pendingShard is a shard not yet recorded, and until when it waits.
type pendingShard struct {
	shard config.Shard
	by    time.Time
}

// recordShard writes the shard record of sh. With gained, a hand-over is
// under way: the record waits for the towns gained to be taken over
// (recordWhenTakenOver), so that a restart before then hands them over
// again instead of reporting their open violations as new.
func (s *Sidecar) recordShard(sh config.Shard, gained bool) error {
	s.shardMu.Lock()
	defer s.shardMu.Unlock()
	if gained {
		s.pending = &pendingShard{sh, s.now().Add(handOverWindow)}
		return nil
	}
	s.pending = nil
	return s.writeShard(sh)
}

// writeShard writes the shard record; under shardMu.
func (s *Sidecar) writeShard(sh config.Shard) error {
	return atomicfile.Write(filepath.Join(s.stateDir, ShardFile), []byte(shardString(sh)+"\n"), 0o640)
}

// recordWhenTakenOver writes the pending shard record once every town owned
// that was gained has had its first poll (a tick that read no watch list
// tells nothing), or the window has passed.
func (s *Sidecar) recordWhenTakenOver() {
	s.shardMu.Lock()
	p, owned := s.pending, s.owned
	s.shardMu.Unlock()
	if p == nil || (s.now().Before(p.by) && (owned == nil || !s.Violations.Tracker.TakenOver(owned))) {
		return
	}
	s.shardMu.Lock()
	defer s.shardMu.Unlock()
	if s.pending != p {
		return // a reload moved on to another shard meanwhile
	}
	s.pending = nil
	if err := s.writeShard(p.shard); err != nil {
		s.logger.Warn("recording the shard; a restart will hand the gained towns over again", "err", err)
	}
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
		BatchWindow:          cfg.Poll.EffectiveBatchWindow(),
		Concurrency:          cfg.Poll.Concurrency,
		MaxRequestsPerSecond: cfg.Poll.MaxRequestsPerSecond,
		MaxActionTypes:       cfg.Poll.MaxActionTypes,
		WithStatus:           cfg.Target.Status,
		DryRunInterval:       time.Duration(cfg.Poll.DryRunInterval),
		Shard:                cfg.Shard,
	}, nil
}

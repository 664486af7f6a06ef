package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"gopkg.in/yaml.v3"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/sidecar"
)

func addRun(app *kingpin.Application) (*kingpin.CmdClause, action) {
	cmd := app.Command("run", "Run the sidecar (the default). With no config and no target it watches an embedded simtown fleet.").Default()
	configFile := cmd.Flag("config.file", "Configuration file (YAML). Without one: defaults, and the embedded simtown fleet as target.").String()
	webFlags := kingpinflag.AddFlags(cmd, ":9917")
	metricsPath := cmd.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").String()
	simTowns := cmd.Flag("simtown.towns", "Towns of the embedded simtown fleet (used when no target.url is configured).").Default("20").Int()
	simSeed := cmd.Flag("simtown.seed", "Workload seed of the embedded simtown fleet.").Default("1").Int64()
	simFaults := cmd.Flag("simtown.fault-rate", "Chance per tick that an embedded town breaks an invariant for a while.").Default("0.02").Float64()
	shardIndex := cmd.Flag("shard.index", "This replica's shard, over the config file's shard.index: a number, or 'hostname' for the ordinal ending the host name (StatefulSet pod tickwatch-2 is shard 2). Default: $"+config.EnvShardIndex+".").PlaceHolder("INDEX").String()
	memoryLimit := addMemoryLimit(cmd)
	shardCount := cmd.Flag("shard.count", "Number of shards, over the config file's shard.count; without it a reload can change the count. Default: $"+config.EnvShardCount+".").PlaceHolder("COUNT").String()

	return cmd, func(ctx context.Context, logger *slog.Logger) error {
		watchedTowns := applyMemoryLimit(memoryLimit(), os.LookupEnv, logger)
		cfg, err := config.Load(*configFile)
		if err != nil {
			return err
		}
		shard, err := config.ResolveShard(*shardIndex, *shardCount, os.LookupEnv, os.Hostname)
		if err != nil {
			return err
		}
		if err := shard.Apply(cfg); err != nil { // before anything starts
			return err
		}
		var embeddedURL string
		if cfg.Target.URL == "" {
			url, stop, err := startEmbeddedFleet(ctx, logger, *simTowns, *simSeed, *simFaults)
			if err != nil {
				return fmt.Errorf("embedded simtown: %w", err)
			}
			defer stop()
			embeddedURL = url
		}
		sc, err := sidecar.New(cfg, sidecar.Options{
			ConfigFile: *configFile, TelemetryPath: *metricsPath, EmbeddedURL: embeddedURL, Shard: shard, Logger: logger,
			WatchedTowns: watchedTowns,
		})
		if err != nil {
			return err
		}

		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-hup:
					sc.Reload() // logs its own outcome
				}
			}
		}()

		srv := &http.Server{Handler: sc.Handler(), ReadHeaderTimeout: 10 * time.Second}
		var once sync.Once
		srv.BaseContext = func(l net.Listener) context.Context {
			// Called as each listener starts serving: say once where the
			// status page is, with the port really bound.
			once.Do(func() { logger.Info("status page", "url", pageURL(l.Addr(), *webFlags.WebConfigFile)) })
			return context.Background()
		}
		serveErr := make(chan error, 1)
		go func() { serveErr <- web.ListenAndServe(srv, webFlags, logger) }()

		stopLog := context.AfterFunc(ctx, func() {
			logger.Info("stopping: sending what the Sentry outbox holds (5s at most), then saving state")
		})
		defer stopLog()
		ctx, stopRun := context.WithCancel(ctx)
		defer stopRun()
		runDone := make(chan error, 1)
		go func() { runDone <- sc.Run(ctx) }()
		select {
		case err := <-serveErr:
			// Cannot serve (address in use, bad web config): stop polling
			// cleanly, so the state is saved, and say why.
			stopRun()
			return errors.Join(fmt.Errorf("web server: %w", err), <-runDone)
		case err = <-runDone:
		}
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdownCtx)
		logger.Info("stopped")
		return err
	}
}

// pageURL is the status page's URL on a listen address: localhost for a
// wildcard address, https when the web config enables TLS.
func pageURL(addr net.Addr, webConfigFile string) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	scheme := "http"
	if webConfigFile != "" {
		if b, err := os.ReadFile(webConfigFile); err == nil {
			var c struct {
				TLS struct {
					CertFile string `yaml:"cert_file"`
					Cert     string `yaml:"cert"`
				} `yaml:"tls_server_config"`
			}
			if yaml.Unmarshal(b, &c) == nil && (c.TLS.CertFile != "" || c.TLS.Cert != "") {
				scheme = "https"
			}
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/"
}

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/alecthomas/kingpin/v2"

	"github.com/tickwatch/tickwatch/alerts/rules"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/internal/atomicfile"
)

func addRules(app *kingpin.Application) (*kingpin.CmdClause, action) {
	cmd := app.Command("rules", "Write the Prometheus alerting rules and their promtool unit tests, built from the config's thresholds.")
	cfgFile := cmd.Flag("config.file", "Configuration file whose thresholds the rules use; none means the defaults.").PlaceHolder("FILE").String()
	out := cmd.Flag("out", "Directory for "+rules.RuleFileName+" and "+rules.TestFileName+"; - prints the rules to stdout.").Default(".").String()
	format := cmd.Flag("format", "Rules as a Prometheus rule file ("+rules.FormatPrometheus+") or a prometheus-operator PrometheusRule ("+rules.FormatOperator+").").Default(rules.FormatPrometheus).Enum(rules.FormatPrometheus, rules.FormatOperator)
	job := cmd.Flag("scrape.job", "Prometheus job that scrapes tickwatch (TickwatchDown watches its up series).").Default("tickwatch").String()
	runbook := cmd.Flag("runbook.url", "Runbook document the runbook_url annotations point into.").Default(rules.DefaultRunbookURL).String()
	return cmd, func(_ context.Context, logger *slog.Logger) error {
		th, err := thresholdsFrom(*cfgFile)
		if err != nil {
			return err
		}
		files, err := rules.Files(th, rules.Options{Job: *job, RunbookURL: *runbook}, *format)
		if err != nil {
			return err
		}
		// kingpin reads a lone "-" after a flag as an empty value, so
		// `--out -` arrives here as "" (and `--out=-` as "-").
		if *out == "-" || *out == "" {
			_, err := os.Stdout.Write(files[0].Data)
			return err
		}
		if err := os.MkdirAll(*out, 0o755); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		for _, f := range files {
			path := filepath.Join(*out, f.Name)
			if err := atomicfile.Write(path, f.Data, 0o644); err != nil {
				return err
			}
			logger.Info("wrote rules file", "path", path)
		}
		return nil
	}
}

// thresholdsFrom reads the thresholds of a config file, or the defaults
// when none is given: the dashboard and the rules draw the same lines.
func thresholdsFrom(cfgFile string) (config.Thresholds, error) {
	if cfgFile == "" {
		return config.DefaultThresholds(), nil
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		return config.Thresholds{}, fmt.Errorf("load config: %w", err)
	}
	return cfg.Thresholds, nil
}

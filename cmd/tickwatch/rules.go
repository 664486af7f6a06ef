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
)

func addRules(app *kingpin.Application) (*kingpin.CmdClause, action) {
	cmd := app.Command("rules", "Write the Prometheus alerting rules and their promtool unit tests, built from the config's thresholds.")
	cfgFile := cmd.Flag("config.file", "Configuration file whose thresholds the rules use; none means the defaults.").PlaceHolder("FILE").String()
	out := cmd.Flag("out", "Directory for "+rules.RuleFileName+" and "+rules.TestFileName+"; - prints the rules to stdout.").Default(".").String()
	format := cmd.Flag("format", "Rules as a Prometheus rule file or a prometheus-operator PrometheusRule.").Default(rules.FormatPrometheus).Enum(rules.FormatPrometheus, rules.FormatOperator)
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
		for _, f := range files {
			path := filepath.Join(*out, f.Name)
			if err := writeRulesFile(path, f.Data); err != nil {
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

// writeRulesFile replaces path in one step, so a Prometheus that reloads
// mid-write never reads half a rule file.
func writeRulesFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

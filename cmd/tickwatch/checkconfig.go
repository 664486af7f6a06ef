package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/tickwatch/tickwatch/config"
)

func addCheckConfig(app *kingpin.Application) (*kingpin.CmdClause, action) {
	cmd := app.Command("check-config", "Validate a configuration file; on a problem print file:line: what is wrong and exit 1.")
	flagPath := cmd.Flag("config.file", "Configuration file to check.").PlaceHolder("FILE").String()
	argPath := cmd.Arg("file", "Configuration file to check (same as --config.file).").String()
	return cmd, func(context.Context, *slog.Logger) error {
		path, err := checkConfigPath(*flagPath, *argPath)
		if err != nil {
			return err
		}
		return checkConfig(os.Stdout, os.Stderr, path)
	}
}

func checkConfigPath(flag, arg string) (string, error) {
	switch {
	case flag != "" && arg != "" && flag != arg:
		return "", fmt.Errorf("two files named (--config.file=%s and %s); check one at a time", flag, arg)
	case flag != "":
		return flag, nil
	case arg != "":
		return arg, nil
	}
	return "", errors.New("no file to check: pass --config.file=FILE or FILE")
}

// checkConfig loads path, its towns file, the files of its http_client and
// its Sentry token file. It prints "path: ok" and a
// summary to stdout, or every problem as "file:line: what is wrong" to
// stderr and returns a short error.
func checkConfig(stdout, stderr io.Writer, path string) error {
	cfg, err := config.Load(path)
	if err != nil {
		return reportProblems(stderr, path, err)
	}
	towns := map[string]bool{}
	for _, id := range cfg.Target.Towns {
		towns[id] = true
	}
	fromFile := ""
	if cfg.Target.TownsFile != "" {
		ids, err := config.ReadTownsFile(cfg.Target.TownsFile)
		if err != nil {
			return reportProblems(stderr, path, fmt.Errorf("%s: target.towns_file: %w", path, err))
		}
		for _, id := range ids {
			towns[id] = true
		}
		fromFile = fmt.Sprintf(" + %d in %s", len(ids), cfg.Target.TownsFile)
	}
	for _, f := range config.HTTPClientFiles(cfg.Target.HTTPClient) {
		if _, err := os.ReadFile(f.Path); err != nil {
			return reportProblems(stderr, path, fmt.Errorf("%s: %s: %w", path, f.Key, err))
		}
	}
	if f := cfg.Sentry.AuthTokenFile; f != "" {
		if _, err := config.ReadTokenFile(f); err != nil {
			return reportProblems(stderr, path, fmt.Errorf("%s: sentry.auth_token_file: %w", path, err))
		}
	}
	target := cfg.Target.RedactedURL()
	if target == "" {
		target = "embedded simtown fleet"
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	fmt.Fprintf(stdout, "towns: %d listed%s = %d distinct; target: %s; shard: %d of %d\n",
		len(cfg.Target.Towns), fromFile, len(towns), target, cfg.Shard.Index, cfg.Shard.Count)
	groups := "none (the series the dashboard and the alert rules read)"
	if on := cfg.Metrics.EnabledGroups(); len(on) > 0 {
		groups = strings.Join(on, ", ")
	}
	fmt.Fprintf(stdout, "optional metrics on: %s\n", groups)
	return nil
}

// reportProblems prints each located problem on its own line and returns a
// one-line error for main; an error without located problems (an unreadable
// file) is returned as it is.
func reportProblems(stderr io.Writer, path string, err error) error {
	problems := config.Problems(err)
	if len(problems) == 0 {
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(stderr, p.Error())
	}
	if len(problems) == 1 {
		return fmt.Errorf("%s: 1 problem", path)
	}
	return fmt.Errorf("%s: %d problems", path, len(problems))
}

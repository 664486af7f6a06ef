package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/tickwatch/tickwatch/grafana"
)

func addDashboard(app *kingpin.Application) (*kingpin.CmdClause, action) {
	cmd := app.Command("dashboard", "Write the Grafana dashboard JSON and its provisioning YAML, or push the dashboard to Grafana.")
	cfgFile := cmd.Flag("config.file", "Configuration file whose thresholds the dashboard uses; none means the defaults.").PlaceHolder("FILE").String()
	var outGiven bool
	out := cmd.Flag("out", "Directory for "+grafana.DashboardFile+" and "+grafana.ProvisioningFile+"; - prints the JSON to stdout. Defaults to . unless --grafana.url is given.").PlaceHolder("DIR").IsSetByUser(&outGiven).String()
	dashPath := cmd.Flag("grafana.dashboards-path", "Directory on the Grafana host that the provisioning YAML points at.").Default(grafana.DefaultDashboardsPath).String()
	url := cmd.Flag("grafana.url", "Grafana to push the dashboard to, e.g. http://grafana:3000.").PlaceHolder("URL").String()
	tokenFile := cmd.Flag("grafana.token-file", "File holding a Grafana service account token, sent as a Bearer token.").PlaceHolder("FILE").String()
	folder := cmd.Flag("grafana.folder", "Folder uid (created with that title if missing) for the dashboard; empty means General.").Default(grafana.DefaultFolder).String()
	timeout := cmd.Flag("grafana.timeout", "Timeout of each call to Grafana.").Default("30s").Duration()
	return cmd, func(ctx context.Context, logger *slog.Logger) error {
		th, err := thresholdsFrom(*cfgFile)
		if err != nil {
			return err
		}
		files, err := grafana.Files(th, *folder, *dashPath)
		if err != nil {
			return err
		}
		switch {
		// kingpin hands a lone "-" over as an empty value.
		case outGiven && (*out == "-" || *out == ""):
			if _, err := os.Stdout.Write(files[grafana.DashboardFile]); err != nil {
				return fmt.Errorf("write dashboard to stdout: %w", err)
			}
		case outGiven || *url == "":
			dir := *out
			if dir == "" {
				dir = "."
			}
			if err := grafana.WriteFiles(dir, files); err != nil {
				return err
			}
			logger.Info("wrote dashboard", "dashboard", filepath.Join(dir, grafana.DashboardFile),
				"provisioning", filepath.Join(dir, grafana.ProvisioningFile))
		}
		if *url == "" {
			return nil
		}
		target := grafana.PushTarget{URL: *url, Folder: *folder, HTTPClient: &http.Client{Timeout: *timeout}}
		if *tokenFile != "" {
			if target.Token, err = grafana.ReadTokenFile(*tokenFile); err != nil {
				return err
			}
		}
		start := time.Now()
		res, err := grafana.Push(ctx, target, files[grafana.DashboardFile])
		if err != nil {
			return fmt.Errorf("push dashboard %q: %w", grafana.UID, err)
		}
		logger.Info("pushed dashboard", "uid", res.UID, "version", res.Version, "url", res.URL,
			"folder", *folder, "duration", time.Since(start).Round(time.Millisecond))
		return nil
	}
}

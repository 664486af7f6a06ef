// Command tickwatch watches Gastown town reconcilers: Prometheus metrics,
// deduplicated Sentry events, a Grafana dashboard and alert rules.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
)

// action runs a subcommand once its flags are parsed.
type action func(ctx context.Context, logger *slog.Logger) error

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	app := kingpin.New("tickwatch", "Watches Gastown town reconcilers: Prometheus metrics, deduplicated Sentry events, dashboards and alert rules.")
	app.Version(version.Print("tickwatch"))
	app.HelpFlag.Short('h')
	logCfg := &promslog.Config{}
	promslogflag.AddFlags(app, logCfg)

	actions := map[string]action{}
	for _, add := range []func(*kingpin.Application) (*kingpin.CmdClause, action){
		addRun, addSimtown, addDashboard, addRules, addReplay, addCheckConfig, addVersion,
	} {
		clause, act := add(app)
		actions[clause.FullCommand()] = act
	}

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tickwatch: %v (try --help)\n", err)
		return 2
	}
	logger := promslog.New(logCfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := actions[cmd](ctx, logger); err != nil {
		fmt.Fprintf(os.Stderr, "tickwatch %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

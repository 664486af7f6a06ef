package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/tickwatch/tickwatch/simtown"
)

const simtownHelp = `Serve the reference Gastown-compatible town fleet alone: one SQLite database and one
alarm-driven reconciler per town, behind the Gastown debug API (reconcile-dry-run, status,
replay-events) plus GET /debug/towns. Fault knobs (the --fault.* flags set them for every
town at start) can be changed per town at run time:
  PUT    /debug/towns/{town}/fault  {"latency":"250ms","error_rate":0.5,"hang":false,
         "malformed_body":false,"stall_alarm":false,"queue_depth":60,"break_invariant":7}
  GET    /debug/towns/{town}/fault  read them;  DELETE /debug/towns/{town}/fault  heal the town
  PUT    /debug/fault, DELETE /debug/fault  the same for every town
latency delays town calls; error_rate answers that share with Gastown's 500 envelope; hang
never answers until the client gives up; malformed_body answers 200 with truncated JSON;
stall_alarm stops the alarm from draining so events pile up; queue_depth keeps at least that
many events pending; break_invariant (3..7) keeps that invariant broken until healed.
Unknown town ids answer 404 (simtown does not create towns on demand).`

type simtownFlags struct {
	listen string
	opts   simtown.Options
}

func addSimtown(app *kingpin.Application) (*kingpin.CmdClause, action) {
	cmd := app.Command("simtown", simtownHelp)
	var f simtownFlags
	cmd.Flag("listen", "Address to serve the debug API on (port 0 picks a free one; the log says which).").Default("127.0.0.1:8788").StringVar(&f.listen)
	cmd.Flag("towns", "Number of towns (ids town-01, town-02, ...).").Default("20").IntVar(&f.opts.Towns)
	cmd.Flag("seed", "Workload seed: the same seed gives the same event stream.").Default("1").Int64Var(&f.opts.Seed)
	cmd.Flag("speed", "Alarm speed-up: 10 turns the 5s/60s cadence into 0.5s/6s.").Default("1").Float64Var(&f.opts.Speed)
	cmd.Flag("fault-rate", "Chance per tick that a town breaks an invariant for a while (0 = never).").Default("0").Float64Var(&f.opts.FaultRate)
	cmd.Flag("data-dir", "Directory for the per-town SQLite files (kept across restarts); empty = a temporary directory removed on exit.").Default("").StringVar(&f.opts.Dir)
	cmd.Flag("side-effect.failure-rate", "Chance that one simulated side effect (dispatch_agent, stop_agent, poll_pr, send_nudge) fails.").Default("0.02").Float64Var(&f.opts.SideEffectFailureRate)
	cmd.Flag("side-effect.latency", "Time one simulated side effect takes.").Default("0s").DurationVar(&f.opts.SideEffectLatency)
	cmd.Flag("fault.latency", "Delay every town call by this much.").Default("0s").DurationVar(&f.opts.Fault.Latency)
	cmd.Flag("fault.error-rate", "Share of town calls answered with the 500 envelope.").Default("0").Float64Var(&f.opts.Fault.ErrorRate)
	cmd.Flag("fault.hang", "Town calls never answer until the client gives up.").BoolVar(&f.opts.Fault.Hang)
	cmd.Flag("fault.malformed-body", "Town calls answer 200 with a truncated JSON body.").BoolVar(&f.opts.Fault.MalformedBody)
	cmd.Flag("fault.stall-alarm", "Alarm ticks stop draining events, so the queue grows.").BoolVar(&f.opts.Fault.StallAlarm)
	cmd.Flag("fault.queue-depth", "Keep at least this many events pending in every town.").Default("0").IntVar(&f.opts.Fault.QueueDepth)
	cmd.Flag("fault.break-invariant", "Keep this invariant (3, 4, 5, 6 or 7) broken in every town; 0 = none.").Default("0").IntVar(&f.opts.Fault.BreakInvariant)
	return cmd, func(ctx context.Context, logger *slog.Logger) error { return runSimtown(ctx, logger, f) }
}

func runSimtown(ctx context.Context, logger *slog.Logger, f simtownFlags) error {
	f.opts.Logger = logger
	fleet, err := simtown.New(f.opts)
	if err != nil {
		return err
	}
	defer fleet.Close()
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	srv := &http.Server{Handler: fleet.Handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	started := make(chan struct{})
	go func() { defer close(started); fleet.Start(ctx) }()
	logger.Info("simtown listening", "address", ln.Addr().String(), "towns", f.opts.Towns,
		"seed", f.opts.Seed, "speed", f.opts.Speed, "data_dir", fleet.Dir())
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	}
	logger.Info("simtown shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down %s: %w", ln.Addr(), err)
	}
	<-started
	return fleet.Close()
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/tickwatch/tickwatch/simtown"
)

const simtownHelp = `Serve the reference Gastown-compatible town fleet alone: one SQLite database and one
alarm-driven reconciler per town, behind the Gastown debug API (reconcile-dry-run, status,
replay-events) plus GET /debug/towns, a simtown extension (the real worker answers 404 there).
It answers as the real worker does: no "violations" in the dry run (--dry-run-violations adds
them, a hypothetical future API), sideEffectsFailed always 0, and an id that is not in the fleet
answers as a town that was never created (empty status, "reconciler":null, never ticks) without
keeping anything for it. Fault knobs (the --fault.* flags set them for every town at start) can
be changed per town at run time:
  PUT    /debug/towns/{town}/fault  {"latency":"250ms","error_rate":0.5,"hang":false,
         "malformed_body":false,"stall_alarm":false,"queue_depth":60,"break_invariant":7,
         "savepoint_refused":false}
  GET    /debug/towns/{town}/fault  read them;  DELETE /debug/towns/{town}/fault  heal the town
  PUT    /debug/fault, DELETE /debug/fault  the same for every town
latency delays town calls; error_rate answers that share with Gastown's 500 envelope; hang
never answers until the client gives up; malformed_body answers 200 with truncated JSON;
stall_alarm stops the alarm from draining so events pile up (its ticks still report them);
queue_depth keeps at least that many events pending; break_invariant (3..7) keeps that
invariant broken until healed;
savepoint_refused answers the dry run and valid replays with the real code's 500.`

type simtownFlags struct {
	listen           string
	opts             simtown.Options
	townIDs          string
	savepoint        string
	version          string
	accessSecretFile string
}

func addSimtown(app *kingpin.Application) (*kingpin.CmdClause, action) {
	cmd := app.Command("simtown", simtownHelp)
	f := addSimtownFlags(cmd)
	return cmd, func(ctx context.Context, logger *slog.Logger) error { return runSimtown(ctx, logger, *f) }
}

func addSimtownFlags(cmd *kingpin.CmdClause) *simtownFlags {
	var f simtownFlags
	cmd.Flag("listen", "Address to serve the debug API on (port 0 picks a free one; the log says which).").Default("127.0.0.1:8788").StringVar(&f.listen)
	cmd.Flag("towns", "Number of towns.").Default("20").IntVar(&f.opts.Towns)
	cmd.Flag("town-ids", "Town ids: numbered (town-01, town-02, ...) or uuid (version 4 UUIDs like Gastown's, decided by --seed).").Default("numbered").EnumVar(&f.townIDs, "numbered", "uuid")
	cmd.Flag("seed", "Workload seed: the same seed gives the same event stream.").Default("1").Int64Var(&f.opts.Seed)
	cmd.Flag("speed", "Alarm speed-up: 10 turns the 5s/60s cadence into 0.5s/6s.").Default("1").Float64Var(&f.opts.Speed)
	cmd.Flag("idle-interval", "Alarm interval of an idle town: 60s, or 5m as in later Gastown versions (status says intervalMs 300000, \"idle (5m)\").").Default("60s").DurationVar(&f.opts.IdleInterval)
	cmd.Flag("savepoint", "working: the dry run and replay-events roll back as designed; refused: they answer 500 on every call, as the real code does on workerd.").Default("working").EnumVar(&f.savepoint, "working", "refused")
	cmd.Flag("dry-run-violations", "Add \"violations\" to the dry run, a hypothetical future Gastown API (the real worker sends them only to its own Sentry).").BoolVar(&f.opts.DryRunViolations)
	cmd.Flag("gastown-version", "measured: the Gastown version simtown was measured against; later: bead rows carry rig_id, created_by, labels and metadata, status carries draining and drainStartedAt.").Default("measured").EnumVar(&f.version, "measured", "later")
	cmd.Flag("access.client-id", "Require this Cloudflare Access service token id (header Cf-Access-Client-Id) on /debug/*, as later versions do; 401 without.").StringVar(&f.opts.Access.ClientID)
	cmd.Flag("access.client-secret-file", "File holding the service token's secret (header Cf-Access-Client-Secret).").StringVar(&f.accessSecretFile)
	cmd.Flag("fault-rate", "Chance per tick that a town breaks an invariant for a while (0 = never).").Default("0").Float64Var(&f.opts.FaultRate)
	cmd.Flag("data-dir", "Directory for the per-town SQLite files (kept across restarts); empty = a temporary directory removed on exit.").Default("").StringVar(&f.opts.Dir)
	cmd.Flag("side-effect.failure-rate", "Chance that one simulated side effect (dispatch_agent, stop_agent, poll_pr, send_nudge) fails; it still counts as succeeded, as in Gastown.").Default("0.02").Float64Var(&f.opts.SideEffectFailureRate)
	cmd.Flag("side-effect.latency", "Time one simulated side effect takes.").Default("0s").DurationVar(&f.opts.SideEffectLatency)
	cmd.Flag("fault.latency", "Delay every town call by this much.").Default("0s").DurationVar(&f.opts.Fault.Latency)
	cmd.Flag("fault.error-rate", "Share of town calls answered with the 500 envelope.").Default("0").Float64Var(&f.opts.Fault.ErrorRate)
	cmd.Flag("fault.hang", "Town calls never answer until the client gives up.").BoolVar(&f.opts.Fault.Hang)
	cmd.Flag("fault.malformed-body", "Town calls answer 200 with a truncated JSON body.").BoolVar(&f.opts.Fault.MalformedBody)
	cmd.Flag("fault.stall-alarm", "Alarm ticks stop draining events, so the queue grows.").BoolVar(&f.opts.Fault.StallAlarm)
	cmd.Flag("fault.queue-depth", "Keep at least this many events pending in every town.").Default("0").IntVar(&f.opts.Fault.QueueDepth)
	cmd.Flag("fault.break-invariant", "Keep this invariant (3, 4, 5, 6 or 7) broken in every town; 0 = none.").Default("0").IntVar(&f.opts.Fault.BreakInvariant)
	return &f
}

// options completes the Options from the flags that are not fields of it.
func (f simtownFlags) options() (simtown.Options, error) {
	o := f.opts
	if f.townIDs == "uuid" {
		o.TownIDs = simtown.IDsUUID
	}
	if f.version == "later" {
		o.Version = simtown.VersionLater
	}
	o.SavepointRefused = f.savepoint == "refused"
	if f.accessSecretFile != "" {
		b, err := os.ReadFile(f.accessSecretFile)
		if err != nil {
			return o, fmt.Errorf("read the Access client secret: %w", err)
		}
		if o.Access.ClientSecret = strings.TrimSpace(string(b)); o.Access.ClientSecret == "" {
			return o, fmt.Errorf("the Access client secret file %s is empty", f.accessSecretFile)
		}
	}
	return o, nil
}

func runSimtown(ctx context.Context, logger *slog.Logger, f simtownFlags) error {
	opts, err := f.options()
	if err != nil {
		return err
	}
	opts.Logger = logger
	fleet, err := simtown.New(opts)
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
	logger.Info("simtown listening", "address", ln.Addr().String(), "towns", opts.Towns,
		"seed", opts.Seed, "speed", opts.Speed, "data_dir", fleet.Dir())
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

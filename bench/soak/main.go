// Command soak runs tickwatch for a long time against a large simtown fleet
// and, separately, the real Gastown worker, with faults on a schedule: towns
// that time out, answer 500, send malformed, oversized or slow bodies; a
// Sentry that rate-limits, fails and goes away; tickwatch killed mid-flush
// and restarted; the towns file rewritten and truncated mid-write; config
// reloads, good and bad. It prints what was lost, what was wrongly reported,
// how the process's footprint drifted, how fast /metrics answered and the
// longest tick. `make soak` runs it (DURATION, default 30m).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tickwatch/tickwatch/bench/internal/proc"
)

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 30*time.Minute, "how long the faults run; a quiet phase to settle follows within it")
	flag.IntVar(&o.towns, "towns", 10000, "simtown towns (0: none)")
	flag.StringVar(&o.bin, "bin", "bin/tickwatch", "the tickwatch binary")
	flag.StringVar(&o.gastownScripts, "gastown.scripts", "", "../shared/gastown: setup.sh, start.sh, seed.sh, stop.sh of the real worker (empty: no real-worker run)")
	flag.StringVar(&o.gastownDir, "gastown.dir", "/tmp/tickwatch-gastown-soak", "where the real worker is set up")
	flag.IntVar(&o.gastownTowns, "gastown.towns", 5, "towns seeded on the real worker")
	flag.IntVar(&o.gastownPort, "gastown.port", 0, "port of the real worker (0: a free one)")
	flag.StringVar(&o.workDir, "work", "", "directory for state and logs (empty: a new temporary one, kept)")
	flag.DurationVar(&o.round, "round", 3*time.Minute, "how long each round of town faults lasts")
	flag.Int64Var(&o.seed, "seed", 1, "seed of the fault schedule")
	flag.Parse()
	log.SetFlags(0)
	if err := run(o); err != nil {
		log.Fatalf("soak: %v", err)
	}
}

type options struct {
	duration, round            time.Duration
	towns, gastownTowns        int
	gastownPort                int
	bin, workDir               string
	gastownScripts, gastownDir string
	seed                       int64
}

func run(o options) error {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if o.workDir == "" {
		if o.workDir, err = os.MkdirTemp("", "tickwatch-soak-"); err != nil {
			return err
		}
	}
	logf("work directory %s (state, configs, logs)", o.workDir)
	// Interrupted, it still stops what it started.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	var insts []*instance
	if o.towns > 0 {
		sim, err := startSimtownInstance(ctx, o, bin)
		if err != nil {
			return err
		}
		defer sim.close()
		insts = append(insts, sim)
	}
	if o.gastownScripts != "" {
		real, err := startRealWorkerInstance(ctx, o, bin)
		if err != nil {
			return err
		}
		defer real.close()
		insts = append(insts, real)
	}
	if len(insts) == 0 {
		return fmt.Errorf("nothing to soak: -towns 0 and no -gastown.scripts")
	}
	for _, in := range insts {
		if err := in.startTickwatch(ctx); err != nil {
			return err
		}
		go in.sample(ctx)
	}

	final := max(4*time.Minute, o.duration/5)
	active := o.duration - final
	if active < 2*o.round {
		return fmt.Errorf("-duration %s leaves %s of faults after the %s settling phase; want at least two rounds of %s", o.duration, active, final, o.round)
	}
	start := time.Now()
	logf("faults for %s, then %s to settle", active.Round(time.Second), final.Round(time.Second))
	// Each instance keeps its own time: one waiting (for a restart, say)
	// delays nothing of the other's.
	var wg sync.WaitGroup
	for i, in := range insts {
		rng := rand.New(rand.NewPCG(uint64(o.seed), uint64(i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, s := range schedule(in, active, o.round, rng) {
				if sleepUntil(ctx, start.Add(s.at)) != nil {
					return
				}
				late := time.Since(start.Add(s.at)).Round(time.Second)
				if err := s.do(ctx); err != nil {
					logf("[%s +%s] %s: %s: %v", s.at.Round(time.Second), late, in.name, s.name, err)
				} else {
					logf("[%s +%s] %s: %s", s.at.Round(time.Second), late, in.name, s.name)
				}
			}
		}()
	}
	wg.Wait()
	if err := sleepUntil(ctx, start.Add(active)); err != nil {
		return err
	}
	settleBy := start.Add(o.duration)
	for _, in := range insts {
		in.quiet()
	}
	logf("[%s] every fault healed, Sentry answering; waiting for every violation to resolve and the outbox to empty", active.Round(time.Second))
	for _, in := range insts {
		in.settle(ctx, settleBy)
	}
	var reports []string
	for _, in := range insts {
		reports = append(reports, in.finish(ctx))
	}
	fmt.Println()
	fmt.Printf("soak of %s (%s of faults, rounds of %s), work directory %s\n", time.Since(start).Round(time.Second), active.Round(time.Second), o.round, o.workDir)
	for _, r := range reports {
		fmt.Println(r)
	}
	return nil
}

func logf(format string, args ...any) {
	log.Printf("%s "+format, append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func sleepUntil(ctx context.Context, t time.Time) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(t)):
		return nil
	}
}

// step is one scheduled action.
type step struct {
	at   time.Duration // from the start
	name string
	do   func(context.Context) error
}

// schedule lays out one instance's faults over active: rounds of town
// faults, and at fixed shares of the time the Sentry outages, the kills (in
// the middle of an outage, so that the outbox holds what it could not send),
// the towns-file rewrites and the reloads.
func schedule(in *instance, active, round time.Duration, rng *rand.Rand) []step {
	var steps []step
	at := func(share float64) time.Duration { return time.Duration(share * float64(active)) }
	for t := time.Duration(0); t+round <= active; t += round {
		steps = append(steps, step{t, "round of town faults", func(ctx context.Context) error { return in.round(ctx, rng) }})
	}
	sentry := func(share float64, m sentryMode) {
		steps = append(steps, step{at(share), "Sentry " + string(m), func(context.Context) error { return in.sentry.setMode(m) }})
	}
	sentry(0.15, sentryRateLimited)
	sentry(0.30, sentryOK)
	sentry(0.45, sentryGone)
	sentry(0.60, sentryOK)
	sentry(0.70, sentryUnavailable)
	sentry(0.80, sentryOK)
	steps = append(steps,
		step{at(0.10), "reload (POST /-/reload, poll.concurrency changed)", func(ctx context.Context) error { return in.reload(ctx, "post", 96, 20) }},
		step{at(0.20), "towns file rewritten", func(context.Context) error { return in.rewriteTowns(rng) }},
		step{at(0.25), "SIGKILL mid-flush, restart", func(ctx context.Context) error { return in.killMidFlush(ctx, false) }},
		step{at(0.35), "towns file truncated mid-write for 15s", func(ctx context.Context) error { return in.truncateTowns(ctx, 15*time.Second) }},
		step{at(0.40), "reload of a bad config (must be rejected)", func(ctx context.Context) error { return in.badReload(ctx) }},
		step{at(0.42), "reload of the good config (SIGHUP)", func(ctx context.Context) error { return in.reload(ctx, "hup", 64, 20) }},
		step{at(0.50), "towns file rewritten", func(context.Context) error { return in.rewriteTowns(rng) }},
		step{at(0.52), "SIGTERM then SIGKILL 300ms into the shutdown flush, restart", func(ctx context.Context) error { return in.killMidFlush(ctx, true) }},
		step{at(0.65), "towns file truncated mid-write for 15s", func(ctx context.Context) error { return in.truncateTowns(ctx, 15*time.Second) }},
		step{at(0.75), "towns file rewritten", func(context.Context) error { return in.rewriteTowns(rng) }},
		step{at(0.78), "reload (POST /-/reload, sentry.max_events_per_second changed)", func(ctx context.Context) error { return in.reload(ctx, "post", 64, 30) }},
	)
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].at < steps[j].at })
	return steps
}

// startSimtownInstance starts `tickwatch simtown` with o.towns towns behind
// Cloudflare Access, and the proxy and Sentry receiver of its tickwatch.
func startSimtownInstance(ctx context.Context, o options, bin string) (*instance, error) {
	dir := filepath.Join(o.workDir, "simtown")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	const accessID, accessSecret = "soak-client", "soak-cf-access-secret"
	secretFile := filepath.Join(dir, "access-secret")
	os.WriteFile(secretFile, []byte(accessSecret), 0o600)
	logf("starting simtown with %d towns (about 3 ms each to open)", o.towns)
	p, err := startProc("simtown", dir, filepath.Join(dir, "simtown.log"), bin, "simtown", "--listen=127.0.0.1:0",
		fmt.Sprintf("--towns=%d", o.towns), "--fault-rate=0", "--access.client-id="+accessID, "--access.client-secret-file="+secretFile)
	if err != nil {
		return nil, err
	}
	addr, err := p.WaitLog(regexpMust(`msg="simtown listening" address=(\S+)`), 20*time.Minute)
	if err != nil {
		p.Stop(10 * time.Second)
		return nil, err
	}
	target := "http://" + addr
	headers := map[string]string{"Cf-Access-Client-Id": accessID, "Cf-Access-Client-Secret": accessSecret}
	towns, err := simtownTowns(ctx, target, headers)
	if err != nil {
		p.Stop(10 * time.Second)
		return nil, err
	}
	in, err := newInstance("simtown", dir, bin, target, towns, o.seed)
	if err != nil {
		p.Stop(10 * time.Second)
		return nil, err
	}
	in.target, in.targetHeaders, in.breaksInvariants = p, headers, true
	// Two cores hold simtown's own 10,000 alarms (about one core) and a poll
	// of every town each 30 s (active) or 60 s (idle), not one each 5 s.
	in.poll = pollSettings{interval: "30s", timeout: "10s", concurrency: 64, rps: 1000}
	in.httpClientYAML = "  http_client:\n    http_headers:\n      Cf-Access-Client-Id: {values: [" + accessID + "]}\n" +
		"      Cf-Access-Client-Secret: {files: [" + secretFile + "]}\n"
	in.faultShare, in.breakShare = 0.01, 0.005
	return in, nil
}

// startRealWorkerInstance sets up (once) and starts the real Gastown worker
// on a port of its own, seeds towns with work and invariant violations, and
// the proxy and Sentry receiver of its tickwatch.
func startRealWorkerInstance(ctx context.Context, o options, bin string) (*instance, error) {
	dir := filepath.Join(o.workDir, "real-worker")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	script := func(name string, env []string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(o.gastownScripts, name), args...)
		cmd.Env, cmd.Stderr = append(os.Environ(), env...), os.Stderr
		out, err := cmd.Output()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		return lines[len(lines)-1], err
	}
	logf("setting up the real Gastown worker in %s (about a minute the first time)", o.gastownDir)
	gdir, err := script("setup.sh", nil, o.gastownDir)
	if err != nil {
		return nil, fmt.Errorf("setup.sh: %w", err)
	}
	port := o.gastownPort
	if port == 0 {
		if port, err = proc.FreePort(); err != nil {
			return nil, err
		}
	}
	if _, err := script("start.sh", []string{"FRESH=1"}, gdir, fmt.Sprint(port)); err != nil {
		return nil, fmt.Errorf("start.sh: %w", err)
	}
	stop := func() { script("stop.sh", nil, gdir) }
	var towns []string
	for range o.gastownTowns {
		id, err := script("seed.sh", nil, gdir, fmt.Sprint(port))
		if err != nil {
			stop()
			return nil, fmt.Errorf("seed.sh: %w", err)
		}
		towns = append(towns, id)
	}
	logf("real worker on port %d with towns %v", port, towns)
	in, err := newInstance("real worker", dir, bin, fmt.Sprintf("http://127.0.0.1:%d", port), towns, o.seed+1)
	if err != nil {
		stop()
		return nil, err
	}
	in.stopTarget = stop
	in.poll = pollSettings{interval: "5s", timeout: "4s", concurrency: 8, rps: 50}
	in.faultCount = 1
	return in, nil
}

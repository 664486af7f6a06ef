// Command workerload measures the CPU that tickwatch costs a real Gastown
// worker: the worker's whole process tree (its process group, from /proc),
// over fixed windows, alone and with each tickwatch binary polling its
// seeded towns, one after another in one sitting. It prints the worker CPU
// per town per minute that each binary causes (its window minus the mean of
// the windows alone) and the calls each binary made per town per minute.
// Not part of make test: `make bench-worker` runs it under the measure lock.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tickwatch/tickwatch/bench/internal/proc"
)

type options struct {
	scripts, dir, savepoint string
	port, towns             int
	window, settle          time.Duration
	phases                  string
	bins                    map[string]string // phase name -> tickwatch binary
}

func main() {
	var o options
	var before, after string
	flag.StringVar(&o.scripts, "gastown.scripts", "../shared/gastown", "setup.sh, start.sh, seed.sh and stop.sh of the real worker")
	flag.StringVar(&o.dir, "gastown.dir", "/tmp/tickwatch-workerload", "where the worker is set up (setup.sh reuses a set-up one)")
	flag.StringVar(&o.savepoint, "savepoint", "real", "the worker's variant: real (its dry run answers 500) or patched (it works)")
	flag.IntVar(&o.port, "port", 18797, "the worker's port")
	flag.IntVar(&o.towns, "towns", 8, "towns seeded with seed.sh")
	flag.DurationVar(&o.window, "window", 90*time.Second, "how long each phase is measured")
	flag.DurationVar(&o.settle, "settle", 40*time.Second, "wait after seeding, before the first phase")
	flag.StringVar(&o.phases, "phases", "alone,before,after,alone", "the phases, in order: alone (the worker by itself), before, after")
	flag.StringVar(&before, "before", "", "the tickwatch binary of the before phases (empty: skip them)")
	flag.StringVar(&after, "after", "bin/tickwatch", "the tickwatch binary of the after phases")
	flag.Parse()
	o.bins = map[string]string{"before": before, "after": after}
	log.SetFlags(log.Ltime)
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

type result struct {
	phase            string
	cpu              time.Duration // worker CPU in the window
	window           time.Duration
	statusN, dryRunN float64 // calls tickwatch made in the window
	dryRunErr        float64
}

func run(o options) error {
	dir, err := script(o, nil, "setup.sh", o.dir)
	if err != nil {
		return err
	}
	dir = lastLine(dir)
	env := []string{"SAVEPOINT=" + o.savepoint, "FRESH=1"}
	out, err := script(o, env, "start.sh", dir, strconv.Itoa(o.port))
	if err != nil {
		return err
	}
	pgid, err := strconv.Atoi(lastLine(out))
	if err != nil {
		return fmt.Errorf("start.sh printed %q, not a process group", out)
	}
	defer script(o, nil, "stop.sh", dir)
	url := fmt.Sprintf("http://127.0.0.1:%d", o.port)
	var ids []string
	for range o.towns {
		out, err := script(o, nil, "seed.sh", dir, strconv.Itoa(o.port))
		if err != nil {
			return err
		}
		ids = append(ids, lastLine(out))
	}
	log.Printf("worker %s (%s, process group %d), %d towns seeded; settling %s", url, o.savepoint, pgid, len(ids), o.settle)
	time.Sleep(o.settle)

	var results []result
	for _, phase := range strings.Split(o.phases, ",") {
		var r result
		var err error
		switch phase {
		case "alone":
			r, err = measureAlone(o, pgid)
		case "before", "after":
			if o.bins[phase] == "" {
				log.Printf("phase %s skipped: no binary", phase)
				continue
			}
			r, err = measureWith(o, pgid, phase, url, ids)
		default:
			return fmt.Errorf("unknown phase %q", phase)
		}
		if err != nil {
			return fmt.Errorf("phase %s: %w", phase, err)
		}
		log.Printf("phase %s: worker CPU %s in %s", phase, r.cpu.Round(time.Millisecond), r.window.Round(time.Millisecond))
		results = append(results, r)
	}
	report(os.Stdout, o, results)
	return nil
}

func measureAlone(o options, pgid int) (result, error) {
	cpu, window, err := workerCPU(pgid, o.window)
	return result{phase: "alone", cpu: cpu, window: window}, err
}

// workerCPU is the CPU the worker's process group spends over the window,
// and the window as it was.
func workerCPU(pgid int, window time.Duration) (time.Duration, time.Duration, error) {
	c0, err := groupCPU(pgid)
	if err != nil {
		return 0, 0, err
	}
	t0 := time.Now()
	time.Sleep(window)
	c1, err := groupCPU(pgid)
	return c1 - c0, time.Since(t0), err
}

// measureWith runs a tickwatch binary against the towns; the window starts
// once it is ready (its first complete tick), so its start-up is not in it
// but everything its policy does from then on is.
func measureWith(o options, pgid int, phase, url string, ids []string) (result, error) {
	work, err := os.MkdirTemp("", "workerload-")
	if err != nil {
		return result{}, err
	}
	log.Printf("phase %s: %s, its log and config in %s", phase, o.bins[phase], work)
	cfg := filepath.Join(work, "tickwatch.yml")
	yml := fmt.Sprintf("target:\n  url: %s\n  towns: [%s]\ndedupe:\n  state_dir: %s\n", url, strings.Join(ids, ", "), filepath.Join(work, "state"))
	if err := os.WriteFile(cfg, []byte(yml), 0o644); err != nil {
		return result{}, err
	}
	port, err := proc.FreePort()
	if err != nil {
		return result{}, err
	}
	web := fmt.Sprintf("127.0.0.1:%d", port)
	tw, err := proc.Start("tickwatch "+phase, filepath.Join(work, "tickwatch.log"),
		exec.Command(o.bins[phase], "run", "--config.file", cfg, "--web.listen-address", web, "--log.level", "debug"))
	if err != nil {
		return result{}, err
	}
	defer tw.Stop(10 * time.Second)
	base := "http://" + web
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(tw.Log)
			return result{}, fmt.Errorf("%s not ready in 30 s: %s", o.bins[phase], b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	p0, err := polls(base)
	if err != nil {
		return result{}, err
	}
	cpu, window, err := workerCPU(pgid, o.window)
	if err != nil {
		return result{}, err
	}
	p1, err := polls(base)
	if err != nil {
		return result{}, err
	}
	d := func(k string) float64 { return p1[k] - p0[k] }
	log.Printf("phase %s: dry runs deferred while quiet %.0f, backing off %.0f (absent: a binary without the policy)",
		phase, d("deferred/quiet"), d("deferred/backoff"))
	return result{phase: phase, cpu: cpu, window: window,
		statusN:   d("status/success") + d("status/error") + d("status/timeout"),
		dryRunN:   d("dry_run/success") + d("dry_run/error") + d("dry_run/timeout"),
		dryRunErr: d("dry_run/error") + d("dry_run/timeout")}, nil
}

var pollLine = regexp.MustCompile(`^tickwatch_(polls_total\{call|dry_runs_deferred_total\{reason)="([a-z_]+)"(?:,result="([a-z_]+)")?\} ([0-9.e+]+)$`)

// polls reads tickwatch_polls_total by call/result, and
// tickwatch_dry_runs_deferred_total by deferred/reason, from /metrics.
func polls(base string) (map[string]float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := pollLine.FindStringSubmatch(sc.Text()); m != nil {
			v, _ := strconv.ParseFloat(m[4], 64)
			if m[3] == "" {
				out["deferred/"+m[2]] = v
			} else {
				out[m[2]+"/"+m[3]] = v
			}
		}
	}
	return out, sc.Err()
}

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// groupCPU sums the CPU time (user and system, and that of reaped
// children) of every process in the process group: workerd, wrangler and
// esbuild. A child that exits is counted in its parent's children
// times once reaped, so nothing that ran in the window is lost.
func groupCPU(pgid int) (time.Duration, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var ticks int64
	found := false
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// The command name may hold spaces and parentheses: the fields
		// follow the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 15 {
			continue
		}
		if g, _ := strconv.Atoi(f[2]); g != pgid { // field 5, pgrp
			continue
		}
		found = true
		for _, k := range f[11:15] { // fields 14-17: utime, stime, cutime, cstime
			n, _ := strconv.ParseInt(k, 10, 64)
			ticks += n
		}
	}
	if !found {
		return 0, fmt.Errorf("no process in group %d: the worker stopped", pgid)
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

func report(w io.Writer, o options, rs []result) {
	var alone []time.Duration
	for _, r := range rs {
		if r.phase == "alone" {
			alone = append(alone, time.Duration(float64(r.cpu)*float64(time.Minute)/float64(r.window)))
		}
	}
	var base time.Duration
	for _, a := range alone {
		base += a / time.Duration(len(alone))
	}
	towns := float64(o.towns)
	fmt.Fprintf(w, "\nworker %s, %d seeded towns, windows of %s, %s\n", o.savepoint, o.towns, o.window, time.Now().UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tworker CPU ms/min\tcaused ms/town/min\tstatus calls/town/min\tdry runs/town/min\tdry runs failed\t")
	perMin := map[string][3]float64{}
	for _, r := range rs {
		cpuMin := float64(r.cpu) / float64(time.Millisecond) * float64(time.Minute) / float64(r.window)
		if r.phase == "alone" {
			fmt.Fprintf(tw, "%s\t%.0f\t\t\t\t\t\n", r.phase, cpuMin)
			continue
		}
		mins := r.window.Minutes()
		caused := (cpuMin - float64(base)/float64(time.Millisecond)) / towns
		s, d := r.statusN/towns/mins, r.dryRunN/towns/mins
		perMin[r.phase] = [3]float64{caused, s, d}
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.2f\t%.2f\t%.0f\t\n", r.phase, cpuMin, caused, s, d, r.dryRunErr)
	}
	tw.Flush()
	// Two phases with different mixes of calls give each call's cost.
	b, a := perMin["before"], perMin["after"]
	if det := b[1]*a[2] - a[1]*b[2]; b != ([3]float64{}) && a != ([3]float64{}) && det != 0 {
		cs := (b[0]*a[2] - a[0]*b[2]) / det
		cd := (b[1]*a[0] - a[1]*b[0]) / det
		fmt.Fprintf(w, "solved from the two phases: %.1f ms of worker CPU per status call, %.1f ms per dry run\n", cs, cd)
	}
}

func script(o options, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(context.Background(), filepath.Join(o.scripts, name), args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", name, err, stderr.String())
	}
	return string(out), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

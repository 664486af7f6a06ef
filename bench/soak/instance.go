package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tickwatch/tickwatch/bench/internal/proc"
	"github.com/tickwatch/tickwatch/dedupe"
)

// pollSettings are the poll keys of the config the soak writes.
type pollSettings struct {
	interval, timeout string
	concurrency       int
	rps               float64
}

// instance is one tickwatch under soak: its target behind a fault proxy,
// its Sentry receiver, its config and towns file, and what was measured.
type instance struct {
	name, dir, bin string
	towns          []string
	proxy          *faultProxy
	sentry         *sentryReceiver
	poll           pollSettings
	httpClientYAML string
	configPath     string
	townsPath      string
	origin         string // of tickwatch's state, read at the end

	target           *proc.Proc        // simtown; nil for the real worker
	stopTarget       func()            // the real worker's stop.sh
	targetURL        string            // the target itself, past the proxy
	targetHeaders    map[string]string // for simtown's fault knobs
	breaksInvariants bool              // simtown: rounds break invariants through its knobs
	faultShare       float64           // of the towns, given an HTTP fault each round
	breakShare       float64           // of the towns, given a broken invariant each round
	faultCount       int               // instead of faultShare: this many towns
	faultTurn        int
	broken           []string // towns whose invariant this round broke

	mu          sync.Mutex
	tw          *proc.Proc
	base        string // http://addr of the running tickwatch; "" while it restarts
	run         int    // tickwatch processes started
	readyAt     time.Time
	samples     []resources // of the running process
	firstRun    []resources // of the first process, for the report
	counted     float64     // transitions counted by earlier processes (their last scrape)
	lastCounted float64
	scrapes     []time.Duration
	scrapeErrs  int
	longestTick float64

	checked, wrong, stale int
	wrongExamples         []string
	killedWithPending     []int
	exitErr               error
}

func newInstance(name, dir, bin, target string, towns []string, seed int64) (*instance, error) {
	p, err := startProxy(target)
	if err != nil {
		return nil, err
	}
	s, err := startSentry()
	if err != nil {
		p.close()
		return nil, err
	}
	in := &instance{name: name, dir: dir, bin: bin, towns: towns, proxy: p, sentry: s, targetURL: target,
		configPath: filepath.Join(dir, "tickwatch.yml"), townsPath: filepath.Join(dir, "towns.json")}
	b, _ := json.Marshal(towns)
	if err := writeAtomic(in.townsPath, b); err != nil {
		return nil, err
	}
	return in, nil
}

// writeConfig writes the config the soak runs with; extra is appended raw
// (a bad key, for the rejected reload).
func (in *instance) writeConfig(concurrency int, eventsPerSecond float64, extra string) error {
	pl := in.poll
	if concurrency == 0 {
		concurrency = pl.concurrency
	}
	yml := fmt.Sprintf(`target:
  url: %s
  towns_file: %s
  timeout: %s
%spoll:
  interval: %s
  idle_interval: 60s
  concurrency: %d
  max_requests_per_second: %g
  max_body_bytes: 1048576
dedupe:
  open_after: 2
  resolve_after: 2
  state_dir: state
sentry:
  dsn: %s
  max_events_per_second: %g
  burst: 50
%s`, in.proxy.URL(), in.townsPath, pl.timeout, in.httpClientYAML, pl.interval, concurrency, pl.rps, in.sentry.DSN(), eventsPerSecond, extra)
	return writeAtomic(in.configPath, []byte(yml))
}

// startTickwatch starts `tickwatch run` and waits until it is ready.
func (in *instance) startTickwatch(ctx context.Context) error {
	in.mu.Lock()
	in.run++
	n := in.run
	in.mu.Unlock()
	if n == 1 {
		if err := in.writeConfig(0, 20, ""); err != nil {
			return err
		}
	}
	p, err := startProc("tickwatch", in.dir, filepath.Join(in.dir, fmt.Sprintf("tickwatch-%d.log", n)), in.bin, "run",
		"--config.file="+in.configPath, "--web.listen-address=127.0.0.1:0", "--log.format=logfmt")
	if err != nil {
		return err
	}
	addr, err := p.WaitLog(listeningOn, time.Minute)
	if err != nil {
		return err
	}
	base := "http://" + addr
	start := time.Now()
	for {
		if _, err := get(ctx, base+"/-/ready"); err == nil {
			break
		}
		if p.Exited() || time.Since(start) > 10*time.Minute {
			return fmt.Errorf("%s: tickwatch run %d not ready after %s; see %s", in.name, n, time.Since(start).Round(time.Second), p.Log)
		}
		time.Sleep(500 * time.Millisecond)
	}
	in.mu.Lock()
	in.tw, in.base, in.readyAt, in.samples = p, base, time.Now(), nil
	in.mu.Unlock()
	logf("%s: tickwatch run %d ready %s after start (pid %d, %s)", in.name, n, time.Since(start).Round(time.Millisecond), p.Pid(), base)
	return nil
}

func (in *instance) current() (*proc.Proc, string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.tw, in.base
}

// sample scrapes /metrics every 15 s (as Prometheus would), reads the last
// tick's duration every 10 s and the process's footprint every 30 s.
func (in *instance) sample(ctx context.Context) {
	scrape, tick, footprint := time.NewTicker(15*time.Second), time.NewTicker(10*time.Second), time.NewTicker(30*time.Second)
	defer scrape.Stop()
	defer tick.Stop()
	defer footprint.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-scrape.C:
			in.scrape(ctx)
		case <-tick.C:
			if _, base := in.current(); base != "" {
				if f, err := fleet(ctx, base, false); err == nil {
					in.mu.Lock()
					in.longestTick = max(in.longestTick, f.LastTickSecs)
					in.mu.Unlock()
				}
			}
		case <-footprint.C:
			in.footprint(ctx)
		}
	}
}

// scrape reads /metrics, gzipped as Prometheus asks for it, and times it.
func (in *instance) scrape(ctx context.Context) []byte {
	_, base := in.current()
	if base == "" {
		return nil
	}
	start := time.Now()
	body, err := get(ctx, base+"/metrics")
	took := time.Since(start)
	in.mu.Lock()
	defer in.mu.Unlock()
	if err != nil || base != in.base {
		in.scrapeErrs++
		return nil
	}
	in.scrapes = append(in.scrapes, took)
	if n, ok := metricSum(body, "tickwatch_violation_transitions_total"); ok {
		in.lastCounted = n
	}
	return body
}

func (in *instance) footprint(ctx context.Context) {
	p, base := in.current()
	if base == "" {
		return
	}
	body, err := get(ctx, base+"/metrics")
	if err != nil {
		return
	}
	g, _ := metricSum(body, "go_goroutines")
	heap, _ := metricSum(body, "go_memstats_heap_inuse_bytes")
	rss, fds, err := procResources(p.Pid())
	if err != nil {
		return
	}
	in.mu.Lock()
	if p == in.tw {
		in.samples = append(in.samples, resources{at: time.Now(), rssBytes: rss, heapBytes: heap, goroutines: g, fds: fds})
		if in.run == 1 {
			in.firstRun = in.samples
		}
	}
	in.mu.Unlock()
}

// round checks what tickwatch reports against the faults of the round that
// ends, heals them, and deals out the next round's.
func (in *instance) round(ctx context.Context, rng *rand.Rand) error {
	if err := in.checkReports(ctx); err != nil {
		logf("%s: cannot check the reports: %v", in.name, err)
	}
	in.proxy.healAll()
	if err := in.heal(ctx); err != nil {
		return err
	}
	n := in.faultCount
	if n == 0 {
		n = int(in.faultShare * float64(len(in.towns)))
	}
	order := rng.Perm(len(in.towns))
	for i := 0; i < n; i++ {
		in.proxy.set(httpFaults[(in.faultTurn+i)%len(httpFaults)], in.towns[order[i]])
	}
	in.faultTurn++
	if in.breaksInvariants {
		k := int(in.breakShare * float64(len(in.towns)))
		for i := 0; i < k && n+i < len(order); i++ {
			town := in.towns[order[n+i]]
			inv := 3 + i%5
			if err := in.knob(ctx, http.MethodPut, town, fmt.Sprintf(`{"break_invariant":%d}`, inv)); err != nil {
				return err
			}
			in.broken = append(in.broken, town)
		}
	}
	return nil
}

// heal mends the invariants this instance broke.
func (in *instance) heal(ctx context.Context) error {
	for _, town := range in.broken {
		if err := in.knob(ctx, http.MethodDelete, town, ""); err != nil {
			return err
		}
	}
	in.broken = nil
	return nil
}

// knob sets or clears a simtown town's fault knobs, past the proxy.
func (in *instance) knob(ctx context.Context, method, town, body string) error {
	req, err := http.NewRequestWithContext(ctx, method, in.targetURL+"/debug/towns/"+url.PathEscape(town)+"/fault", strings.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range in.targetHeaders {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s fault of %s: %s", method, town, resp.Status)
	}
	return nil
}

// checkReports compares reconciler_up, as /status.json lists it, with the
// faults: a town polled since its fault (or health) began must be down
// exactly when the fault makes its status call fail.
func (in *instance) checkReports(ctx context.Context) error {
	_, base := in.current()
	if base == "" {
		return errNotReady
	}
	f, err := fleet(ctx, base, true)
	if err != nil {
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, t := range f.Towns {
		fault, since := in.proxy.state(t.Town)
		if !t.LastPoll.After(since) {
			in.stale++
			continue
		}
		in.checked++
		if t.Up == fault.down() {
			in.wrong++
			if len(in.wrongExamples) < 10 {
				in.wrongExamples = append(in.wrongExamples, fmt.Sprintf("%s (fault %q since %s, polled %s): up=%v %s",
					t.Town, fault, since.Format("15:04:05.000"), t.LastPoll.Format("15:04:05.000"), t.Up, t.Error))
			}
		}
	}
	return nil
}

// reload rewrites the config and reloads it by POST /-/reload or SIGHUP.
func (in *instance) reload(ctx context.Context, how string, concurrency int, eventsPerSecond float64) error {
	if err := in.writeConfig(concurrency, eventsPerSecond, ""); err != nil {
		return err
	}
	p, base := in.current()
	if how == "hup" {
		return syscall.Kill(p.Pid(), syscall.SIGHUP)
	}
	resp, err := client.Post(base+"/-/reload", "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reload answered %s", resp.Status)
	}
	return nil
}

// badReload writes a config with an unknown key and expects the reload to
// be refused while the sidecar goes on.
func (in *instance) badReload(ctx context.Context) error {
	if err := in.writeConfig(0, 20, "unknown_section: {oops: 1}\n"); err != nil {
		return err
	}
	_, base := in.current()
	resp, err := client.Post(base+"/-/reload", "", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		return fmt.Errorf("a bad config was answered %s, want 500", resp.Status)
	}
	_, err = get(ctx, base+"/-/ready")
	return err
}

// rewriteTowns replaces the towns file in one step, the same towns in
// another order.
func (in *instance) rewriteTowns(rng *rand.Rand) error {
	towns := append([]string(nil), in.towns...)
	rng.Shuffle(len(towns), func(i, j int) { towns[i], towns[j] = towns[j], towns[i] })
	b, _ := json.MarshalIndent(towns, "", " ")
	return writeAtomic(in.townsPath, b)
}

// truncateTowns rewrites the towns file in place, as a careless editor or
// `cat >` does: truncated, half written, and whole only after hold.
func (in *instance) truncateTowns(ctx context.Context, hold time.Duration) error {
	b, _ := json.Marshal(in.towns)
	f, err := os.OpenFile(in.townsPath, os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(b[:len(b)/2]); err != nil {
		return err
	}
	if err := sleepUntil(ctx, time.Now().Add(hold)); err != nil {
		return err
	}
	_, err = f.Write(b[len(b)/2:])
	return err
}

// killMidFlush waits (up to 20 s) until the Sentry outbox holds
// entries, then SIGKILLs tickwatch, or SIGTERMs it and SIGKILLs it 300 ms
// into its shutdown flush; then starts it again.
func (in *instance) killMidFlush(ctx context.Context, duringShutdown bool) error {
	pending := 0
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(time.Second) {
		if body := in.scrape(ctx); body != nil {
			n, _ := metricSum(body, "tickwatch_sentry_outbox_events")
			if pending = int(n); pending > 0 {
				break
			}
		}
	}
	p, _ := in.current()
	in.mu.Lock()
	in.counted += in.lastCounted
	in.lastCounted = 0
	in.base = ""
	in.killedWithPending = append(in.killedWithPending, pending)
	in.mu.Unlock()
	if duringShutdown {
		syscall.Kill(-p.Pid(), syscall.SIGTERM)
		time.Sleep(300 * time.Millisecond)
	}
	p.Kill()
	logf("%s: killed with %d events in the outbox", in.name, pending)
	return in.startTickwatch(ctx)
}

// quiet heals every town and lets Sentry answer.
func (in *instance) quiet() {
	in.proxy.healAll()
	in.heal(context.Background())
	in.sentry.setMode(sentryOK)
}

// settle waits until the outbox is empty and (simtown) no violation is
// open, or until the deadline.
func (in *instance) settle(ctx context.Context, deadline time.Time) {
	for time.Now().Before(deadline) {
		_, base := in.current()
		if f, err := fleet(ctx, base, false); err == nil && f.Outbox != nil && f.Outbox.Pending == 0 &&
			(!in.breaksInvariants || f.Summary.OpenViolations == 0) {
			logf("%s: settled: outbox empty, %d violations open", in.name, f.Summary.OpenViolations)
			return
		}
		time.Sleep(5 * time.Second)
	}
	logf("%s: not settled by the end of the run", in.name)
}

// finish takes the last measurements, stops tickwatch (SIGTERM: it must
// exit 0) and reports.
func (in *instance) finish(ctx context.Context) string {
	in.checkReports(ctx)
	in.footprint(ctx)
	in.scrape(ctx)
	_, base := in.current()
	open := map[chainKey]bool{}
	if f, err := fleet(ctx, base, true); err == nil {
		for _, t := range f.Towns {
			if t.OpenViolationCount == 0 {
				continue
			}
			vs, err := townViolations(ctx, base, url.PathEscape(t.Town))
			if err != nil {
				logf("%s: violations of %s: %v", in.name, t.Town, err)
			}
			for _, v := range vs {
				open[chainKeyOf(t.Town, v[0], v[1])] = true
			}
		}
	}
	p, _ := in.current()
	in.mu.Lock()
	in.counted += in.lastCounted
	in.mu.Unlock()
	in.exitErr = p.Stop(30 * time.Second)
	in.origin = stateOrigin(filepath.Join(in.dir, "state"))
	return in.report(open)
}

// stateOrigin reads the origin that tickwatch's event ids carry from its
// state directory, once no process holds it; "" when it cannot.
func stateOrigin(dir string) string {
	tr, err := dedupe.OpenTracker(dir, dedupe.Options{}, time.Now, nil)
	if err != nil {
		logf("reading the origin of %s: %v", dir, err)
		return ""
	}
	defer tr.Close()
	return tr.Origin()
}

func (in *instance) close() {
	if p, _ := in.current(); p != nil {
		p.Stop(30 * time.Second)
	}
	in.proxy.close()
	in.sentry.close()
	if in.target != nil {
		in.target.Stop(30 * time.Second)
	}
	if in.stopTarget != nil {
		in.stopTarget()
	}
}

// simtownTowns lists the fleet's towns.
func simtownTowns(ctx context.Context, target string, headers map[string]string) ([]string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target+"/debug/towns", nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var l struct{ Towns []string }
	if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
		return nil, fmt.Errorf("simtown town list: %w", err)
	}
	sort.Strings(l.Towns)
	return l.Towns, nil
}

func regexpMust(s string) *regexp.Regexp { return regexp.MustCompile(s) }

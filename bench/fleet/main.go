// Command fleet is the side-by-side benchmark of make bench-fleet: a fake
// Gastown target with N towns, polled in turn by a bare keep-alive client
// and by the real tickwatch, both every 5 s, in one sitting. It reports the
// CPU each client process spends per 1,000 town polls over a measured window
// after a warm-up, their peak resident set, and for tickwatch the series per
// town and the time and size of a scrape, plain and gzipped.
//
// The target runs in this process; the CPU that counts is the client's,
// read from /proc/PID/stat.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/bench/internal/proc"
)

func main() {
	mode := flag.String("mode", "harness", "harness: run the benchmark; bare: be the bare client (the harness starts it)")
	bin := flag.String("bin", "bin/tickwatch", "the tickwatch binary (make build)")
	townsFlag := flag.String("towns", "1000,10000", "fleet sizes, comma-separated")
	schemesFlag := flag.String("schemes", "http,https", "schemes of the target, comma-separated")
	rounds := flag.Int("rounds", 2, "rounds of the two clients per fleet size and scheme")
	together := flag.Bool("together", false, "run the two clients at once, each against its own target, and measure them over the same window (default: one after the other)")
	warmup := flag.Duration("warmup", 65*time.Second, "time after a client's first complete tick before the window opens (the default lets tickwatch make its first once-a-minute save of the towns' run counters first, which the high-water mark must include)")
	window := flag.Duration("window", 15*time.Second, "measured window of each run")
	interval := flag.Duration("interval", 5*time.Second, "poll and scrape interval")
	concurrency := flag.Int("concurrency", 64, "polls in flight at once, in both clients (tickwatch's poll.concurrency)")
	scrapeFlag := flag.Bool("scrape", true, "scrape tickwatch every interval (off: the poll path's cost alone)")
	withSentry := flag.Bool("sentry", false, "give tickwatch a Sentry DSN (an in-process receiver): every town's violation opens at the start, so the outbox holds about one event per town through the run")
	extra := flag.String("tickwatch.args", "", "more arguments of tickwatch run, space-separated (e.g. --memory.limit=0)")
	extraEnv := flag.String("tickwatch.env", "", "more environment of tickwatch alone, space-separated (e.g. GOGC=50: the bare client keeps the default)")
	bareEnv := flag.String("bare.env", "", "more environment of the bare client alone, space-separated (e.g. GOMAXPROCS=1, with the same in -tickwatch.env)")
	keep := flag.String("dir", "", "where the runs' configs and logs go (default: a temporary directory, removed afterwards)")
	// The bare client's own flags.
	url := flag.String("bare.url", "", "bare mode: the target's URL")
	ca := flag.String("bare.ca", "", "bare mode: CA file of an HTTPS target")
	n := flag.Int("bare.towns", 0, "bare mode: fleet size")
	flag.Parse()

	if *mode == "bare" {
		if err := runBare(*url, *ca, *n, *concurrency, *interval); err != nil {
			fmt.Fprintln(os.Stderr, "bare:", err)
			os.Exit(1)
		}
		return
	}
	h := &harness{bin: *bin, scrape: *scrapeFlag, together: *together, extraArgs: strings.Fields(*extra), extraEnv: strings.Fields(*extraEnv), bareEnv: strings.Fields(*bareEnv), rounds: *rounds, warmup: *warmup, window: *window, interval: *interval, concurrency: *concurrency}
	sizes, err := ints(*townsFlag)
	if err != nil || *rounds < 1 || *window < *interval || *warmup < 0 {
		fmt.Fprintln(os.Stderr, "fleet: want -towns N[,N...], -rounds >= 1, -window >= -interval, -warmup >= 0")
		os.Exit(2)
	}
	if _, err := os.Stat(h.bin); err != nil {
		fmt.Fprintf(os.Stderr, "fleet: %v (run make build)\n", err)
		os.Exit(2)
	}
	if h.self, err = os.Executable(); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
	if *withSentry {
		h.sentry = sentrytest.NewServer()
		defer h.sentry.Close()
	}
	h.dir = *keep
	if h.dir == "" {
		if h.dir, err = os.MkdirTemp("", "tickwatch-fleet-"); err != nil {
			fmt.Fprintln(os.Stderr, "fleet:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(h.dir)
	} else if err := os.MkdirAll(h.dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
	start := time.Now()
	var rows []row
	for _, size := range sizes {
		for _, scheme := range strings.Split(*schemesFlag, ",") {
			r, err := h.compare(size, scheme)
			rows = append(rows, r...)
			if err != nil {
				fmt.Fprintln(os.Stderr, "fleet:", err)
				printTable(os.Stdout, rows)
				os.Exit(1)
			}
		}
	}
	order := "one after the other"
	if h.together {
		order = "together"
	}
	fmt.Printf("\n%s, %d CPUs, %s, interval %s, warm-up %s, window %s, concurrency %d, scrapes %v, Sentry %v, clients %s, tickwatch args %q, env %q, bare client env %q, took %s\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.Version(), h.interval, h.warmup, h.window, h.concurrency, h.scrape, h.sentry != nil, order, h.extraArgs, h.extraEnv, h.bareEnv, time.Since(start).Round(time.Second))
	printTable(os.Stdout, rows)
	if h.rounds > 1 {
		fmt.Println()
		printSummary(os.Stdout, summarize(rows))
	}
	if h.sentry != nil {
		fmt.Printf("\nSentry received %d events in all.\n", len(h.sentry.Events()))
	}
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is no fleet size", f)
		}
		out = append(out, n)
	}
	return out, nil
}

type harness struct {
	bin, self, dir string
	extraArgs      []string
	extraEnv       []string // tickwatch's alone
	bareEnv        []string // the bare client's alone
	scrape         bool
	sentry         *sentrytest.Server // nil: tickwatch has no DSN
	together       bool
	rounds         int
	warmup, window time.Duration
	interval       time.Duration
	concurrency    int
	mu             sync.Mutex
	runs           int // started so far, to name their logs
}

// run is what one client process did in its window.
type run struct {
	cpuPer1k   float64 // CPU ms per 1,000 town polls
	polls      int64   // status calls the target served in the window
	dryPerPoll float64 // dry-run calls per status call
	hwm        float64 // VmHWM, bytes
	rss0, rss1 float64 // VmRSS as the window opens and closes
	bursts     []span  // the client's runs of status calls in the window

	// tickwatch only
	seriesPerTown, series float64
	heapInuse             float64 // bytes, from the last scrape
	outbox                float64 // Sentry events waiting, from the last scrape
	plainMs, gzipMs       float64 // gzipMs: the median of the window's scrapes
	plainBytes, gzipBytes int
	scrapes               int
	scrapeErr             error
	gzipScrape            []float64
}

type row struct {
	towns      int
	scheme     string
	round      int
	bare, ours run
}

// compare runs bare and tickwatch, one after the other against one target
// or together (see runTogether), for the rounds asked.
func (h *harness) compare(towns int, scheme string) ([]row, error) {
	if scheme != "http" && scheme != "https" {
		return nil, fmt.Errorf("scheme %q: want http or https", scheme)
	}
	dir := filepath.Join(h.dir, fmt.Sprintf("%d-%s", towns, scheme))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	t, err := startTarget(scheme == "https", dir)
	if err != nil {
		return nil, err
	}
	defer t.close()
	// Together, each client has a target of its own: each counts the
	// polls of one client.
	bareTarget := t
	if h.together {
		bareDir := filepath.Join(dir, "bare")
		if err := os.MkdirAll(bareDir, 0o755); err != nil {
			return nil, err
		}
		if bareTarget, err = startTarget(scheme == "https", bareDir); err != nil {
			return nil, err
		}
		defer bareTarget.close()
	}
	var rows []row
	for round := 1; round <= h.rounds; round++ {
		r := row{towns: towns, scheme: scheme, round: round}
		if h.together {
			err = h.runTogether(&r, bareTarget, t, dir)
		} else {
			if r.bare, err = h.runBare(bareTarget, towns, dir, nil); err == nil {
				r.ours, err = h.runTickwatch(t, towns, dir, nil)
			}
		}
		if err != nil {
			return rows, err
		}
		fmt.Fprintf(os.Stderr, "%6d %-5s round %d  bare      %7.1f CPU ms/1k polls  RSS %5.1f MiB peak, %.1f -> %.1f MiB over the window\n",
			towns, scheme, round, r.bare.cpuPer1k, r.bare.hwm/(1<<20), r.bare.rss0/(1<<20), r.bare.rss1/(1<<20))
		fmt.Fprintf(os.Stderr, "%6d %-5s round %d  tickwatch %7.1f CPU ms/1k polls  RSS %5.1f MiB peak, %.1f -> %.1f MiB over the window  (%.2fx; %.2f dry runs per status call, %d scrapes in the window; %.0f Sentry events in the outbox)\n",
			towns, scheme, round, r.ours.cpuPer1k, r.ours.hwm/(1<<20), r.ours.rss0/(1<<20), r.ours.rss1/(1<<20), r.ours.cpuPer1k/r.bare.cpuPer1k, r.ours.dryPerPoll, r.ours.scrapes, r.ours.outbox)
		if h.together {
			fmt.Fprintf(os.Stderr, "%6d %-5s round %d  bursts: bare %.2f s, tickwatch %.2f s, %.0f %% of tickwatch's while the bare client's ran\n",
				towns, scheme, round, meanLength(r.bare.bursts), meanLength(r.ours.bursts), 100*overlap(r.ours.bursts, r.bare.bursts))
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// runTogether starts both clients at once and, once both are warm,
// measures them over the same window: whatever else the machine does then
// weighs on both alike.
func (h *harness) runTogether(r *row, bareTarget, ourTarget *target, dir string) error {
	var ready, done sync.WaitGroup
	ready.Add(2)
	gate := func() { ready.Done(); ready.Wait() }
	var bareErr, oursErr error
	done.Add(2)
	go func() {
		defer done.Done()
		r.bare, bareErr = h.runBare(bareTarget, r.towns, dir, gate)
	}()
	go func() {
		defer done.Done()
		r.ours, oursErr = h.runTickwatch(ourTarget, r.towns, dir, gate)
	}()
	done.Wait()
	return errors.Join(bareErr, oursErr)
}

func (h *harness) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SENTRY_DSN=") { // no events leave the benchmark
			env = append(env, kv)
		}
	}
	return env
}

// runBare runs the bare client: started, warm, measured. gate, when set,
// is called before the window opens; a run that fails first calls it too,
// so that the other client is not left waiting.
func (h *harness) runBare(t *target, towns int, dir string, gate func()) (run, error) {
	gate = once(gate)
	defer gate()
	runs := h.run()
	p, err := startProc("bare client", filepath.Join(dir, fmt.Sprintf("bare-%d.log", runs)), append(h.env(), h.bareEnv...), h.self,
		"-mode", "bare", "-bare.url", t.srv.URL, "-bare.ca", t.caFile, "-bare.towns", strconv.Itoa(towns),
		"-concurrency", strconv.Itoa(h.concurrency), "-interval", h.interval.String())
	if err != nil {
		return run{}, err
	}
	defer p.Stop(10 * time.Second)
	// Warm: one full round of polls, then the warm-up.
	first := t.status.Load() + int64(towns)
	for end := time.Now().Add(h.interval + time.Minute); t.status.Load() < first; time.Sleep(20 * time.Millisecond) {
		if p.Exited() || time.Now().After(end) {
			return run{}, fmt.Errorf("the bare client did not poll %d towns (exited: %v); see %s", towns, p.Exited(), p.Log)
		}
	}
	time.Sleep(h.warmup)
	gate()
	m, err := h.measure(p, t, nil)
	return m.run, err
}

// once makes gate safe to call twice, and a nil gate a no-op.
func once(gate func()) func() {
	if gate == nil {
		return func() {}
	}
	return sync.OnceFunc(gate)
}

// run numbers a client run, to name its log and state.
func (h *harness) run() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.runs++
	return h.runs
}

var listeningOn = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// runTickwatch runs tickwatch as runBare runs the bare client.
func (h *harness) runTickwatch(t *target, towns int, dir string, gate func()) (run, error) {
	gate = once(gate)
	defer gate()
	runs := h.run()
	ids := make([]string, towns)
	for i := range ids {
		ids[i] = townID(i)
	}
	list, _ := json.Marshal(map[string][]string{"towns": ids})
	townsFile := filepath.Join(dir, "towns.json")
	if err := os.WriteFile(townsFile, list, 0o644); err != nil {
		return run{}, err
	}
	state := filepath.Join(dir, fmt.Sprintf("state-%d", runs))
	tls := ""
	if t.caFile != "" {
		tls = fmt.Sprintf("  http_client:\n    tls_config:\n      ca_file: %s\n", t.caFile)
	}
	// Room for every town's two calls each interval: the budget must not
	// be what is measured.
	cfg := fmt.Sprintf("target:\n  url: %s\n  towns_file: %s\n%spoll:\n  interval: %s\n  concurrency: %d\n  max_requests_per_second: %d\ndedupe:\n  state_dir: %s\n",
		t.srv.URL, townsFile, tls, h.interval, h.concurrency, max(1000, 4*towns), state)
	if h.sentry != nil {
		cfg += fmt.Sprintf("sentry:\n  dsn: %s\n", h.sentry.DSN())
	}
	cfgFile := filepath.Join(dir, "tickwatch.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		return run{}, err
	}
	args := append([]string{"run", "--config.file=" + cfgFile, "--web.listen-address=127.0.0.1:0"}, h.extraArgs...)
	p, err := startProc("tickwatch", filepath.Join(dir, fmt.Sprintf("tickwatch-%d.log", runs)), append(h.env(), h.extraEnv...), h.bin, args...)
	if err != nil {
		return run{}, err
	}
	defer p.Stop(10 * time.Second)
	addr, err := p.WaitLog(listeningOn, 30*time.Second)
	if err != nil {
		return run{}, err
	}
	base := "http://" + addr
	for end := time.Now().Add(h.interval + time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(base + "/-/ready"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if p.Exited() || time.Now().After(end) {
			return run{}, fmt.Errorf("tickwatch did not become ready (exited: %v); see %s", p.Exited(), p.Log)
		}
	}
	// A scrape every interval from now on, as Prometheus would (gzipped).
	ctx, cancel := context.WithCancel(context.Background())
	scrapes := make(chan scrape, 1024)
	go func() {
		defer close(scrapes)
		if !h.scrape {
			return
		}
		tick := time.NewTicker(h.interval)
		defer tick.Stop()
		for {
			s := scrapeOnce(ctx, base, true)
			if ctx.Err() != nil {
				return
			}
			scrapes <- s
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	time.Sleep(h.warmup)
	gate()
	r, err := h.measure(p, t, func() { cancel() })
	for s := range scrapes {
		if !s.at.After(r.windowStart) {
			continue
		}
		if s.err != nil {
			r.scrapeErr = s.err
			continue
		}
		r.gzipScrape = append(r.gzipScrape, s.ms)
		r.gzipBytes = s.bytes
		r.scrapes++
	}
	if err != nil {
		return r.run, err
	}
	// One plain scrape after the window (its CPU is not counted), for
	// the exposition's size and series.
	plain := scrapeOnce(context.Background(), base, false)
	if plain.err != nil {
		return r.run, plain.err
	}
	r.plainMs, r.plainBytes = plain.ms, plain.bytes
	r.series, r.seriesPerTown = plain.series, plain.townSeries/float64(towns)
	r.heapInuse, r.outbox = plain.heapInuse, plain.outbox
	r.gzipMs = median(r.gzipScrape)
	if r.hwm, err = highWater(p.Pid()); err != nil {
		return r.run, err
	}
	if r.scrapeErr != nil {
		return r.run, fmt.Errorf("scrape: %w", r.scrapeErr)
	}
	return r.run, nil
}

type measured struct {
	run
	windowStart time.Time
}

// measure reads the client's CPU and the target's served polls over the
// window; end, when set, runs as the window closes.
func (h *harness) measure(p *proc.Proc, t *target, end func()) (measured, error) {
	var m measured
	cpu0, err := cpuTime(p.Pid())
	if err != nil {
		return m, err
	}
	polls0, dry0 := t.status.Load(), t.dryRuns.Load()
	m.windowStart = time.Now()
	m.rss0, _ = resident(p.Pid())
	time.Sleep(h.window)
	m.bursts = t.burstsWithin(span{m.windowStart, time.Now()})
	m.rss1, _ = resident(p.Pid())
	cpu1, err := cpuTime(p.Pid())
	polls1, dry1 := t.status.Load(), t.dryRuns.Load()
	if end != nil {
		end()
	}
	if err != nil {
		return m, err
	}
	if p.Exited() {
		return m, fmt.Errorf("%s exited during the window; see %s", p.Name, p.Log)
	}
	m.polls = polls1 - polls0
	if m.polls == 0 {
		return m, fmt.Errorf("%s polled nothing in the window; see %s", p.Name, p.Log)
	}
	m.cpuPer1k = float64((cpu1 - cpu0).Microseconds()) / 1000 / (float64(m.polls) / 1000)
	m.dryPerPoll = float64(dry1-dry0) / float64(m.polls)
	m.hwm, err = highWater(p.Pid())
	return m, err
}

type scrape struct {
	at                 time.Time
	ms                 float64
	bytes              int
	series, townSeries float64
	heapInuse          float64
	outbox             float64
	err                error
}

var scrapeClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{DisableCompression: true}}

// scrapeOnce fetches /metrics as Prometheus does, gzipped or plain, and
// times it until the last byte.
func scrapeOnce(ctx context.Context, base string, gz bool) scrape {
	s := scrape{at: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		s.err = err
		return s
	}
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	start := time.Now()
	resp, err := scrapeClient.Do(req)
	if err != nil {
		s.err = err
		return s
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.ms = float64(time.Since(start).Microseconds()) / 1000
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	if err == nil && gz && resp.Header.Get("Content-Encoding") != "gzip" {
		err = errors.New("GET /metrics: asked for gzip, got " + strconv.Quote(resp.Header.Get("Content-Encoding")))
	}
	if err != nil {
		s.err = err
		return s
	}
	s.bytes = len(body)
	if gz {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			s.err = fmt.Errorf("gunzip /metrics: %w", err)
			return s
		}
	}
	for _, line := range bytes.Split(body, []byte("\n")) {
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if v, ok := bytes.CutPrefix(line, []byte("go_memstats_heap_inuse_bytes ")); ok {
			s.heapInuse, _ = strconv.ParseFloat(string(v), 64)
		}
		if v, ok := bytes.CutPrefix(line, []byte("tickwatch_sentry_outbox_events ")); ok {
			s.outbox, _ = strconv.ParseFloat(string(v), 64)
		}
		s.series++
		if bytes.Contains(line, []byte(`town="`)) {
			s.townSeries++
		}
	}
	return s
}

// median is the middle value, the mean of the two middle ones for an even
// count, 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[n/2]
}

// cell is every round of one fleet size and scheme: one round's ratio
// varies by a tenth or more between rounds on a small machine, so a
// target is judged on the median.
type cell struct {
	towns            int
	scheme           string
	rounds           int
	ratio            float64 // median
	minRatio         float64
	maxRatio         float64
	bareCPU, oursCPU float64 // medians, CPU ms per 1,000 polls
	maxHWM           float64 // tickwatch's highest peak RSS of the rounds, bytes
}

// summarize groups rows by fleet size and scheme, in their order.
func summarize(rows []row) []cell {
	var out []cell
	for i := 0; i < len(rows); {
		j := i
		var ratios, bare, ours []float64
		c := cell{towns: rows[i].towns, scheme: rows[i].scheme}
		for ; j < len(rows) && rows[j].towns == c.towns && rows[j].scheme == c.scheme; j++ {
			r := rows[j]
			if r.bare.cpuPer1k > 0 {
				ratios = append(ratios, r.ours.cpuPer1k/r.bare.cpuPer1k)
			}
			bare, ours = append(bare, r.bare.cpuPer1k), append(ours, r.ours.cpuPer1k)
			c.maxHWM = max(c.maxHWM, r.ours.hwm)
		}
		c.rounds = j - i
		if len(ratios) > 0 {
			c.ratio, c.minRatio, c.maxRatio = median(ratios), slices.Min(ratios), slices.Max(ratios)
		}
		c.bareCPU, c.oursCPU = median(bare), median(ours)
		out = append(out, c)
		i = j
	}
	return out
}

// printSummary writes the cells as a Markdown table.
func printSummary(w io.Writer, cells []cell) {
	fmt.Fprintln(w, "| towns | scheme | rounds | bare CPU ms / 1k polls (median) | tickwatch CPU ms / 1k polls (median) | ratio (median) | ratio (range) | tickwatch RSS MiB (highest) |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---|---:|")
	for _, c := range cells {
		fmt.Fprintf(w, "| %d | %s | %d | %.1f | %.1f | %.2fx | %.2f-%.2fx | %.1f |\n",
			c.towns, c.scheme, c.rounds, c.bareCPU, c.oursCPU, c.ratio, c.minRatio, c.maxRatio, c.maxHWM/(1<<20))
	}
}

// printTable writes the rows as a Markdown table, as the README shows it.
func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| towns | scheme | round | bare CPU ms / 1k polls | tickwatch CPU ms / 1k polls | ratio | bare RSS MiB | tickwatch RSS MiB | tickwatch heap MiB | series / town | scrape ms plain | scrape ms gzip | MB plain | MB gzip |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		ratio := "n/a" // a window too short for the clock ticks of /proc
		if r.bare.cpuPer1k > 0 {
			ratio = fmt.Sprintf("%.2fx", r.ours.cpuPer1k/r.bare.cpuPer1k)
		}
		fmt.Fprintf(w, "| %d | %s | %d | %.1f | %.1f | %s | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %.2f | %.2f |\n",
			r.towns, r.scheme, r.round, r.bare.cpuPer1k, r.ours.cpuPer1k, ratio,
			r.bare.hwm/(1<<20), r.ours.hwm/(1<<20), r.ours.heapInuse/(1<<20), r.ours.seriesPerTown, r.ours.plainMs, r.ours.gzipMs,
			float64(r.ours.plainBytes)/1e6, float64(r.ours.gzipBytes)/1e6)
	}
}

// meanLength is the mean length of bursts, in seconds.
func meanLength(bursts []span) float64 {
	if len(bursts) == 0 {
		return 0
	}
	var sum time.Duration
	for _, b := range bursts {
		sum += b.end.Sub(b.start)
	}
	return sum.Seconds() / float64(len(bursts))
}

// overlap is the share of the time in ours that falls within one of
// theirs: together, the clients contend for the machine only then.
func overlap(ours, theirs []span) float64 {
	var total, shared time.Duration
	for _, o := range ours {
		total += o.end.Sub(o.start)
		for _, t := range theirs {
			end, start := o.end, o.start
			if t.end.Before(end) {
				end = t.end
			}
			if t.start.After(start) {
				start = t.start
			}
			if d := end.Sub(start); d > 0 {
				shared += d
			}
		}
	}
	if total == 0 {
		return 0
	}
	return float64(shared) / float64(total)
}

package exporter

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/metricnames"
)

// Settings are the poller's knobs; Reload swaps them between ticks.
type Settings struct {
	Client       *gastown.Client
	Towns        *TownSource
	Interval     time.Duration // cadence of active towns, and of ticks
	IdleInterval time.Duration // cadence of towns whose alarm is idle
	Timeout      time.Duration // whole poll of one town
	// Spread is the window over which one tick's polls start, each town at
	// its own hash offset, so the target sees a steady trickle instead of a
	// burst at every tick. Zero starts them all at once.
	Spread time.Duration
	// BatchWindow makes the polls due within one window of the tick start
	// together, at the window's end, and lets the request budget grant one
	// window's worth at once: the sidecar wakes once a window instead of
	// once a poll, each wake-up costing more than the poll it starts. Zero
	// starts each poll at its own moment and the budget one poll at a time.
	BatchWindow          time.Duration
	Concurrency          int
	MaxRequestsPerSecond float64
	MaxActionTypes       int
	WithStatus           bool
	// DryRunInterval is the longest a town goes without a dry run while
	// nothing calls for one (see planDryRun); 0 makes one on every poll.
	DryRunInterval time.Duration
	Shard          config.Shard
}

// Poller polls every owned town once per tick and keeps the snapshot.
type Poller struct {
	snap     *Snapshot
	now      func() time.Time
	logger   *slog.Logger
	settings atomic.Pointer[Settings]
	limiter  *rate.Limiter
	ready    atomic.Bool
	listErr  atomic.Pointer[error] // the last tick's failure to read the town list

	// OnObservation receives every poll's outcome (the violations pipeline).
	OnObservation func(*gastown.Observation)
	// KeepStatusBody says, before a town's poll, whether its Observation
	// should carry the raw status answer (for a poll that may open a
	// violation, whose event describes more than the poll decodes).
	KeepStatusBody func(town string) bool
	// WantDryRun says, before a town's poll, whether it needs a dry run
	// although the town is quiet: the violations pipeline asks for one
	// while only the dry run can confirm or clear what it tracks.
	WantDryRun func(town string, prev *TownState) bool
	// OnWatchList receives the owned towns after every town-list read that
	// succeeded, so state kept for towns no longer watched (also across a
	// restart) can be dropped. It is not called when the read failed.
	OnWatchList func(owned map[string]bool)
	// OnTickEnd runs after every tick, once all its polls have ended.
	OnTickEnd func()

	towns                   prometheus.Gauge
	shardInfo, shards       *prometheus.Desc
	polls, dryRunsDeferred  *prometheus.CounterVec
	pollCounts              [2][3]prometheus.Counter      // by call (status, dry run), then success, error, timeout
	deferred                map[string]prometheus.Counter // dryRunsDeferred by reason
	pollsSkipped, ticks     prometheus.Counter
	ticksSkipped, dropped   prometheus.Counter
	pollDuration, tickDur   prometheus.Histogram
	lastTickStart, lastTick atomic.Int64 // unix nanos, for the status page

	// behind holds the towns the last tick had no time for. Only Tick
	// touches it, and ticks never overlap.
	behind map[string]bool
	// cutShort collects, during a tick, the towns whose poll the tick's
	// end cut short (see pollTown); they go first next tick.
	cutMu    sync.Mutex
	cutShort []string
	// backoffs holds the dry runs that keep failing; Reload clears it.
	backoffs backoffs
}

func NewPoller(s Settings, snap *Snapshot, now func() time.Time, logger *slog.Logger) *Poller {
	p := &Poller{
		snap:    snap,
		now:     now,
		logger:  logger,
		limiter: rate.NewLimiter(rate.Limit(s.MaxRequestsPerSecond), burst(s)),
		towns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricnames.Towns, Help: metricnames.Help(metricnames.Towns),
		}),
		shardInfo: prometheus.NewDesc(metricnames.ShardInfo, metricnames.Help(metricnames.ShardInfo), []string{"shard"}, nil),
		shards:    prometheus.NewDesc(metricnames.Shards, metricnames.Help(metricnames.Shards), nil, nil),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricnames.Polls, Help: metricnames.Help(metricnames.Polls),
		}, []string{"call", "result"}),
		dryRunsDeferred: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricnames.DryRunsDeferred, Help: metricnames.Help(metricnames.DryRunsDeferred),
		}, []string{"reason"}),
		pollsSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricnames.PollsSkipped, Help: metricnames.Help(metricnames.PollsSkipped),
		}),
		ticks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricnames.Ticks, Help: metricnames.Help(metricnames.Ticks),
		}),
		ticksSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricnames.TicksSkipped, Help: metricnames.Help(metricnames.TicksSkipped),
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricnames.LabelValuesDropped, Help: metricnames.Help(metricnames.LabelValuesDropped),
		}),
		pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: metricnames.PollDuration, Help: metricnames.Help(metricnames.PollDuration),
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		tickDur: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: metricnames.TickDuration, Help: metricnames.Help(metricnames.TickDuration),
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}),
	}
	// Resolved once: looking a child up by its label values hashes them
	// on every call, twice per poll.
	for i, call := range []string{callStatus, callDryRun} {
		for j, r := range []string{"success", "error", "timeout"} {
			p.pollCounts[i][j] = p.polls.WithLabelValues(call, r)
		}
	}
	p.deferred = map[string]prometheus.Counter{}
	for _, r := range []string{deferQuiet, deferBackoff} {
		p.deferred[r] = p.dryRunsDeferred.WithLabelValues(r)
	}
	p.settings.Store(&s)
	return p
}

func requestsPerPoll(s Settings) int {
	if s.WithStatus {
		return 2
	}
	return 1
}

// burst is what the budget grants at once: one batch window's worth, and
// at least one poll.
func burst(s Settings) int {
	return max(requestsPerPoll(s), int(s.MaxRequestsPerSecond*s.BatchWindow.Seconds()))
}

// Settings are the ones the next tick uses.
func (p *Poller) Settings() *Settings { return p.settings.Load() }

// Reload applies new settings from the next tick on. It ends every dry-run
// back-off: a reload is how an operator says the cause may be fixed.
func (p *Poller) Reload(s Settings) {
	p.limiter.SetLimit(rate.Limit(s.MaxRequestsPerSecond))
	p.limiter.SetBurst(burst(s))
	p.settings.Store(&s)
	p.backoffs.reset()
}

func (p *Poller) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(p, ch) }

func (p *Poller) Collect(ch chan<- prometheus.Metric) {
	// The shard is an info metric, as the Prometheus guidelines have it for
	// a label that would apply to every series of a target: join it on
	// instance where a query needs it.
	sh := p.settings.Load().Shard
	ch <- prometheus.MustNewConstMetric(p.shardInfo, prometheus.GaugeValue, 1, strconv.Itoa(sh.Index))
	ch <- prometheus.MustNewConstMetric(p.shards, prometheus.GaugeValue, float64(sh.Count))
	for _, c := range []prometheus.Collector{p.towns, p.polls, p.dryRunsDeferred, p.pollsSkipped, p.ticks, p.ticksSkipped, p.dropped, p.pollDuration, p.tickDur} {
		c.Collect(ch)
	}
}

// Ready reports whether a first complete tick has happened.
func (p *Poller) Ready() bool { return p.ready.Load() }

// ListError is why the last tick could not read the town list, nil when it
// could: before the first complete tick, it is why there was none.
func (p *Poller) ListError() error {
	if err := p.listErr.Load(); err != nil {
		return *err
	}
	return nil
}

// LastTick returns when the last complete tick started and ended; zero
// times before the first.
func (p *Poller) LastTick() (start, end time.Time) {
	unix := func(ns int64) time.Time {
		if ns == 0 {
			return time.Time{}
		}
		return time.Unix(0, ns)
	}
	return unix(p.lastTickStart.Load()), unix(p.lastTick.Load())
}

// Run ticks every Interval until ctx is done. Ticks never overlap: as a
// time.Ticker delivers a late tick, a tick that overruns its interval is
// followed at once by the next, and only the ticks due before that one are
// skipped. A town that hangs until its poll is cut at the tick's end makes
// every tick end just past its interval: skipping the next would poll every
// other town half as often.
func (p *Poller) Run(ctx context.Context) {
	for {
		start := time.Now()
		p.Tick(ctx)
		interval := p.settings.Load().Interval
		elapsed := time.Since(start)
		wait := interval - elapsed
		if due := int(elapsed / interval); due > 0 {
			wait = 0
			if ctx.Err() == nil {
				p.logger.Debug("tick overran its interval; the next starts now", "elapsed", elapsed, "interval", interval)
			}
			if skipped := due - 1; skipped > 0 {
				p.ticksSkipped.Add(float64(skipped))
				p.logger.Warn("tick overran its interval, skipping", "elapsed", elapsed, "interval", interval, "skipped", skipped)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// TickResult says what one tick did.
type TickResult struct {
	Towns, Polled, Skipped int
	CutShort               int // polled, but stopped by the tick's end before their timeout
}

// Tick polls every owned town that is due, and returns when all polls it
// started have ended: at the latest Interval after it began.
func (p *Poller) Tick(ctx context.Context) TickResult {
	s := p.settings.Load()
	start := p.now()
	realStart := time.Now()
	tickEnd := realStart.Add(s.Interval)

	ids, listErr := s.Towns.Towns(ctx)
	owned := make(map[string]bool, len(ids))
	for _, id := range ids {
		if Owns(id, s.Shard) {
			owned[id] = true
		}
	}
	if listErr != nil {
		// Poll the towns known so far, but drop nobody on a failed read.
		if ctx.Err() == nil {
			p.logger.Error("reading the town list; polling the towns known so far", "err", listErr, "towns", len(owned))
		}
	} else {
		if gone := p.snap.Retain(owned); len(gone) > 0 {
			p.logger.Info("towns left the watch list", "towns", gone)
		}
		p.backoffs.retain(owned)
		if p.OnWatchList != nil {
			p.OnWatchList(owned)
		}
	}
	p.towns.Set(float64(len(owned)))

	// Polls start while a poll could still end within the tick: until its
	// last timeout, or last fifth if that is shorter. Each poll ends by the
	// tick's end at the latest.
	startBy := s.Interval - min(s.Timeout, s.Interval/5)
	due := p.due(owned, s, start, startBy)
	defer func() {
		clear(due) // the states it points to may go with the next poll
		dueLists.put(due[:0])
	}()
	startCtx, cancel := context.WithDeadline(ctx, realStart.Add(startBy))
	defer cancel()
	sem := make(chan struct{}, max(1, s.Concurrency))
	// One deadline for all the tick's polls: a context, and its timer, per
	// poll would be the same for each.
	pollCtx, cancelPolls := context.WithDeadline(ctx, tickEnd)
	defer cancelPolls()
	// The tick's polls run on its own workers, one per slot of sem: a
	// goroutine per poll grew a fresh stack for every poll (2 % of the CPU
	// at 10,000 towns).
	jobs := make(chan dueTown)
	var wg sync.WaitGroup
	// Towns that were down at their last poll hold at most half the slots
	// while others are due too: a hung town holds its slot for its whole
	// timeout, and 20 of 200 at poll.concurrency 8 held every slot for most
	// of each tick, so the rest were polled every third interval. They start
	// from a dispatcher of their own, so that one waiting for its half never
	// holds up the towns behind it.
	var downSem chan struct{}
	if down := countDown(due); down > 0 && down < len(due) && cap(sem) >= 2 {
		downSem = make(chan struct{}, cap(sem)/2)
	}
	for range min(cap(sem), len(due)) {
		go func() {
			for t := range jobs {
				p.pollTown(pollCtx, ctx, s, t.id, t.slot, t.prev, t.dryRun)
				<-sem
				if t.capped {
					<-downSem
				}
				wg.Done()
			}
		}()
	}
	debug := p.logger.Enabled(ctx, slog.LevelDebug) // once a tick; unasked, each poll would build the arguments
	// dispatch starts the due towns that were down, or those that were
	// not (all of them when downSlots is nil), in order, each when its turn
	// comes; it returns how many it started and the towns it had no time
	// for. Of the entries the other dispatcher starts it reads only id and
	// down.
	dispatch := func(down bool, downSlots chan struct{}) (polled int, left []string) {
		mine := func(i int) bool { return downSlots == nil || due[i].down == down }
		for i := range due {
			if !mine(i) {
				continue
			}
			town := due[i]
			requests := requestsPerPoll(*s)
			if !town.dryRun {
				requests--
			}
			err := startCtx.Err()
			if town.capped = down && downSlots != nil; town.capped && err == nil {
				select {
				case downSlots <- struct{}{}:
				case <-startCtx.Done():
					err = startCtx.Err()
				}
			}
			if err == nil {
				if err = p.waitTurn(startCtx, realStart, batched(town.offset, s.BatchWindow, startBy), sem, requests); err != nil && town.capped {
					<-downSlots
				}
			}
			if err != nil {
				for j := i; j < len(due); j++ {
					if mine(j) {
						left = append(left, due[j].id)
					}
				}
				return polled, left
			}
			polled++
			if !town.dryRun {
				p.deferred[town.why].Inc()
			}
			if debug {
				p.logger.Debug("poll", "town", town.id, "dry_run", town.dryRun, "why", town.why)
			}
			wg.Add(1)
			jobs <- town
			due[i].prev = nil // the poll replaces it: not kept to the tick's end
		}
		return polled, nil
	}
	res := TickResult{Towns: len(owned)}
	var left []string
	if downSem == nil {
		res.Polled, left = dispatch(false, nil)
	} else {
		downDone := make(chan struct{})
		var downPolled int
		var downLeft []string
		go func() {
			downPolled, downLeft = dispatch(true, downSem)
			close(downDone)
		}()
		res.Polled, left = dispatch(false, downSem)
		<-downDone
		res.Polled += downPolled
		left = append(left, downLeft...)
	}
	res.Skipped = len(left)
	behind := make(map[string]bool, len(left))
	for _, id := range left {
		behind[id] = true
	}
	close(jobs)
	wg.Wait()
	p.cutMu.Lock()
	res.CutShort = len(p.cutShort)
	for _, id := range p.cutShort {
		behind[id] = true
	}
	p.cutShort = p.cutShort[:0]
	p.cutMu.Unlock()
	p.behind = behind
	if p.OnTickEnd != nil {
		p.OnTickEnd()
	}
	if ctx.Err() != nil {
		return res // shutting down: what was not polled says nothing
	}
	if res.Skipped > 0 {
		p.pollsSkipped.Add(float64(res.Skipped))
		p.logger.Warn("tick ran out of time; the towns not polled, or cut short, go first next tick", "skipped", res.Skipped,
			"cut_short", res.CutShort, "polled", res.Polled,
			"hint", "raise poll.max_requests_per_second or poll.concurrency, or lower target.timeout")
	} else if res.CutShort > 0 {
		// A slow town polled late in a tick: not a shortage of budget.
		p.logger.Debug("polls cut short by the tick's end go first next tick", "cut_short", res.CutShort)
	}
	p.ticks.Inc()
	p.tickDur.Observe(time.Since(realStart).Seconds())
	if listErr != nil {
		p.listErr.Store(&listErr)
	} else {
		p.listErr.Store(nil)
		p.lastTickStart.Store(start.UnixNano())
		p.lastTick.Store(p.now().UnixNano())
		p.ready.Store(true)
	}
	return res
}

// dueLists keeps a tick's list of due towns for the next: at 10,000 towns
// it is 640 KB, made every few seconds (see spare).
var dueLists = newSpare(1, func() []dueTown { return nil })

type dueTown struct {
	id     string
	offset time.Duration
	slot   *slot // nil for a town without state yet
	// prev is the town's state as the tick found it: its poll, the only
	// writer of it, plans and polls from this one read of the snapshot.
	prev *TownState
	// dryRun and why are planDryRun's: decided before the budget is taken,
	// so a poll without a dry run costs one request of it, and for when the
	// poll is due to start (a town polled once an interval is due just as
	// its dry run is). Planned here, where prev was just read: at 10,000
	// towns it was out of the cache by the poll's turn (1 % of the CPU).
	dryRun bool
	why    string
	// down: the town's last poll failed; capped: its poll holds one of the
	// slots the down towns share (see Tick).
	down, capped bool
}

// countDown is how many of the due towns were down at their last poll.
func countDown(due []dueTown) int {
	n := 0
	for i := range due {
		if due[i].down {
			n++
		}
	}
	return n
}

// due lists the towns to poll this tick, each with its offset from the
// tick's start and its dry-run plan: first, at once, those the last tick
// had no time for (so a budget too small for the fleet rotates instead of
// starving the same towns), then the others in offset order. A town's
// offset comes from its alarm when its status showed one (see nextPoll),
// else from its hash; a town whose next poll falls after startBy waits for
// a later tick.
func (p *Poller) due(owned map[string]bool, s *Settings, now time.Time, startBy time.Duration) []dueTown {
	out := slices.Grow(dueLists.get()[:0], len(owned))
	for id := range owned {
		off := offset(id, s.Spread)
		sl := p.snap.slot(id)
		prev := sl.load()
		if at, ok := nextPoll(prev, s); ok {
			if off = max(0, at.Sub(now)); off >= startBy {
				continue
			}
		}
		if p.behind[id] {
			off = -1
		}
		dryRun, why := p.planDryRun(id, prev, s, now.Add(batched(off, s.BatchWindow, startBy)))
		out = append(out, dueTown{id: id, offset: off, slot: sl, prev: prev, dryRun: dryRun, why: why, down: prev != nil && !prev.Up})
	}
	slices.SortFunc(out, func(a, b dueTown) int {
		if c := cmp.Compare(a.offset, b.offset); c != 0 {
			return c
		}
		// The towns left behind, and those due at once, go the longest
		// waiting first: by id, a budget too small for them all polled the
		// same ones every tick and never the rest.
		if c := lastPoll(a.prev).Compare(lastPoll(b.prev)); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	return out
}

// lastPoll is when a town was last polled; the zero time, first in order,
// for a town never polled.
func lastPoll(s *TownState) time.Time {
	if s == nil {
		return time.Time{}
	}
	return s.LastPoll
}

// nextPoll is when a town that answered its status should next be polled:
// just after its armed alarm fires, so each real tick's metrics are read
// once, when fresh. The worker's alarm, not a guess from its interval
// label, sets the pace, within bounds: never sooner than half an Interval
// after the last poll, never later than IdleInterval after it (a heartbeat
// for towns that idle at 5 minutes, or never tick). ok is false for a town
// to poll at its hash offset this tick: new, failing, or watched without
// status calls.
func nextPoll(prev *TownState, s *Settings) (at time.Time, ok bool) {
	if prev == nil || !prev.Up || prev.Status == nil {
		return time.Time{}, false
	}
	st := prev.Status
	at = prev.LastPoll.Add(s.IdleInterval)
	if !st.NextFireAt.IsZero() {
		margin := alarmMargin
		if st.LastTick != nil {
			// The alarm re-arms when its tick ends: allow for a slow one.
			margin += 2 * time.Duration(st.LastTick.WallClockSeconds*float64(time.Second))
		}
		// An alarm a little beyond the heartbeat (an idle town at the
		// 60 s cadence) is still worth waiting for: polling just before it
		// would read the previous tick again.
		if fire := st.NextFireAt.Add(min(margin, s.Interval/2)); fire.Before(at.Add(s.Interval)) {
			at = fire
		}
	}
	if floor := prev.LastPoll.Add(s.Interval / 2); at.Before(floor) {
		at = floor
	}
	return at, true
}

// alarmMargin is how long after a town's alarm is due its poll starts: the
// alarm fires a little late and re-arms only when its tick ends.
const alarmMargin = 250 * time.Millisecond

// batched moves a poll's offset to the end of its batch window, so the
// polls due within one window start together; a window that ends after
// startBy leaves the offset as it is.
func batched(offset, window, startBy time.Duration) time.Duration {
	if offset <= 0 || window <= 0 {
		return offset
	}
	if end := (offset + window - 1) / window * window; end < startBy {
		return end
	}
	return offset
}

// offset is when, within a tick's spread window, the town's poll starts:
// fixed per town, so each town is polled at a steady cadence.
func offset(town string, spread time.Duration) time.Duration {
	if spread <= 0 {
		return 0
	}
	return time.Duration(townHash(town) % uint64(spread))
}

// waitTurn waits for the town's offset, a concurrency slot and the request
// budget, in that order; on error no slot is held.
func (p *Poller) waitTurn(ctx context.Context, start time.Time, offset time.Duration, sem chan struct{}, requests int) error {
	if d := time.Until(start.Add(offset)); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	// A reload during the tick may have lowered the burst below what a poll
	// of the tick's settings asks for; WaitN would refuse such a wait.
	if err := p.limiter.WaitN(ctx, min(requests, p.limiter.Burst())); err != nil {
		<-sem
		return err
	}
	return nil
}

// Values of the call label of tickwatch_polls_total.
const (
	callStatus = "status"
	callDryRun = "dry_run"
)

// poll makes both of a town's calls (the status unless off).
func (p *Poller) poll(pollCtx, ctx context.Context, s *Settings, town string) {
	sl := p.snap.slot(town)
	p.pollTown(pollCtx, ctx, s, town, sl, sl.load(), true)
}

// pollTown makes one town's calls: the status (unless off) and, when
// dryRun, the dry run, and replaces its state prev in its slot sl. A poll
// without a dry run keeps the last one's state (see newTownState).
func (p *Poller) pollTown(pollCtx, ctx context.Context, s *Settings, town string, sl *slot, prev *TownState, dryRun bool) {
	po := gastown.PollOptions{Status: s.WithStatus, DryRun: dryRun}
	po.KeepStatusBody = s.WithStatus && p.KeepStatusBody != nil && p.KeepStatusBody(town)
	began := time.Now()
	o := s.Client.Poll(pollCtx, town, po, p.now)
	if ctx.Err() != nil {
		return // shutting down: an abandoned poll says nothing about the town
	}
	if d, ok := pollCtx.Deadline(); ok && began.Add(s.Timeout).After(d) && (o.StatusCall.TimedOut() || o.DryRunCall.TimedOut()) {
		// The tick's end, not target.timeout, stopped a call: a slow town
		// polled late in a tick would read as down, and as up again when
		// polled early. The town goes first next tick, with all its time;
		// what the poll did not finish says nothing of it.
		p.cutMu.Lock()
		p.cutShort = append(p.cutShort, town)
		p.cutMu.Unlock()
		// Its calls count as what they were: timeouts, of the tick's.
		if !o.StatusCall.Done || o.StatusCall.TimedOut() {
			p.count(&p.pollCounts[0], o.StatusCall)
			p.count(&p.pollCounts[1], o.DryRunCall)
			return
		}
		p.count(&p.pollCounts[1], o.DryRunCall)
		o.DryRunCall, o.DryRun = gastown.Call{}, nil // the status stands, as in a poll without a dry run
	}
	p.pollDuration.Observe(p.now().Sub(o.At).Seconds())
	p.count(&p.pollCounts[0], o.StatusCall)
	p.count(&p.pollCounts[1], o.DryRunCall)
	switch {
	case !o.OK() && (prev == nil || prev.Up):
		p.logger.Warn("town down", "town", town, "err", o.Err())
	case o.OK() && prev != nil && !prev.Up:
		p.logger.Info("town up again", "town", town)
	}
	if s.WithStatus {
		if c := o.DryRunCall; c.Done {
			p.backoffs.note(town, c, o.At, s.Interval)
		}
		// A worker that went away or restarted may come back as another
		// version (one whose dry run works): look again at once.
		restarted := o.Status != nil && o.Status.AlarmStatus.Reconciler == nil && prev != nil && prev.Status != nil && prev.Status.LastTick != nil
		if !o.StatusCall.OK() || restarted {
			p.backoffs.drop(town)
		}
	}
	if c := o.DryRunCall; c.Done && o.OK() {
		wasUp := prev == nil || prev.DryRun == nil || prev.DryRun.Up
		switch {
		case !c.OK() && wasUp:
			p.logger.Warn("dry run failing; the town's other gauges are still served", "town", town, "code", c.Code, "err", c.Err)
		case c.OK() && !wasUp:
			p.logger.Info("dry run answers again", "town", town)
		}
	}
	st, dropped := newTownState(&o, prev, max(1, s.MaxActionTypes))
	if dropped > 0 {
		p.dropped.Add(float64(dropped))
	}
	if prev == nil {
		if at := p.snap.seed(town); st.LastSuccess.IsZero() {
			st.LastSuccess = at // not stored yet: still this poll's to fill
		}
	}
	p.snap.put(town, sl, st)
	if p.OnObservation != nil {
		p.OnObservation(&o)
	}
}

func (p *Poller) count(byResult *[3]prometheus.Counter, c gastown.Call) {
	switch {
	case !c.Done:
	case c.OK():
		byResult[0].Inc()
	case c.TimedOut():
		byResult[2].Inc()
	default:
		byResult[1].Inc()
	}
}

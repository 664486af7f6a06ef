package simtown

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"
)

// Fleet is a set of simulated towns with their alarm loops and debug API.
type Fleet struct {
	opts    Options
	dir     string
	tempDir bool
	towns   []*town
	byID    map[string]*town
	ids     []string
	sched   *scheduler
	handler http.Handler

	diceMu sync.Mutex
	dice   *rand.Rand // decides which calls the error_rate knob fails

	done      chan struct{}
	closeOnce sync.Once
	running   sync.WaitGroup
}

// New opens (or creates) every town's database and schedules their alarms.
// Reopening a Dir keeps the towns' history; their last metrics are null
// until their next tick, as after a Gastown restart.
func New(opts Options) (*Fleet, error) {
	opts.normalize()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("simtown: %w", err)
	}
	if err := opts.Fault.Validate(); err != nil {
		return nil, fmt.Errorf("simtown: fault: %w", err)
	}
	if opts.Workers <= 0 {
		opts.Workers = 2 * runtime.GOMAXPROCS(0)
	}
	f := &Fleet{opts: opts, dir: opts.Dir, byID: map[string]*town{}, sched: newScheduler(),
		dice: rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed)), done: make(chan struct{})}
	if f.dir == "" {
		d, err := os.MkdirTemp("", "simtown-")
		if err != nil {
			return nil, fmt.Errorf("simtown: %w", err)
		}
		f.dir, f.tempDir = d, true
	} else if err := os.MkdirAll(f.dir, 0o755); err != nil {
		return nil, fmt.Errorf("simtown: %w", err)
	}
	now := opts.Now()
	stagger := opts.scaled(activeInterval)
	for i := 1; i <= opts.Towns; i++ {
		id := TownID(i, opts.Towns)
		if opts.TownIDs == IDsUUID {
			id = TownUUID(opts.Seed, i)
		}
		t, err := openTown(id, f.dir, &f.opts, now)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("simtown: %w", err), f.Close())
		}
		f.towns = append(f.towns, t)
		f.byID[id] = t
		f.ids = append(f.ids, id)
		// Spread the first alarms over one interval so the fleet does not
		// tick in lockstep.
		t.next = now.Add(stagger * time.Duration(i-1) / time.Duration(opts.Towns))
		f.sched.push(t, t.next)
		if opts.Fault != (Fault{}) {
			if err := t.setFault(opts.Fault, now); err != nil {
				return nil, errors.Join(fmt.Errorf("simtown: %w", err), f.Close())
			}
		}
	}
	f.handler = f.newHandler()
	return f, nil
}

// TownIDs lists the fleet's town ids in order.
func (f *Fleet) TownIDs() []string { return append([]string(nil), f.ids...) }

// Dir is where the towns' SQLite files live.
func (f *Fleet) Dir() string { return f.dir }

// Handler serves the whole debug API (see the package documentation).
func (f *Fleet) Handler() http.Handler { return f.handler }

// SetFault replaces one town's fault knobs; the zero Fault heals it.
func (f *Fleet) SetFault(town string, fl Fault) error {
	if err := fl.Validate(); err != nil {
		return fmt.Errorf("set fault of town %q: %w", town, err)
	}
	t, ok := f.byID[town]
	if !ok {
		return fmt.Errorf("set fault of town %q: no such town", town)
	}
	return t.setFault(fl, f.opts.Now())
}

// Fault returns one town's fault knobs.
func (f *Fleet) Fault(town string) (Fault, error) {
	t, ok := f.byID[town]
	if !ok {
		return Fault{}, fmt.Errorf("fault of town %q: no such town", town)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fault, nil
}

// Start runs every town's alarm loop until ctx is done or the fleet closes.
// Call it once.
func (f *Fleet) Start(ctx context.Context) {
	f.running.Add(1)
	defer f.running.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-f.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	jobs := make(chan *town)
	var workers sync.WaitGroup
	for range f.opts.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for t := range jobs {
				next, err := t.tick(ctx, f.opts.Now())
				if err != nil && ctx.Err() == nil {
					f.opts.Logger.Warn("alarm tick failed", "town", t.id, "err", err)
				}
				f.sched.push(t, next)
			}
		}()
	}
	defer workers.Wait()
	defer close(jobs)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		t, wait := f.sched.popDue(f.opts.Now())
		if t != nil {
			select {
			case jobs <- t:
				continue
			case <-ctx.Done():
				return
			}
		}
		if wait < 0 {
			wait = time.Hour
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-f.sched.wake:
		case <-ctx.Done():
			return
		}
	}
}

// runDue ticks, one after another, every town whose alarm is due at now.
// Tests drive the fleet with it and an injected clock instead of Start.
func (f *Fleet) runDue(now time.Time) (int, error) {
	n := 0
	for {
		t, _ := f.sched.popDue(now)
		if t == nil {
			return n, nil
		}
		next, err := t.tick(context.Background(), now)
		f.sched.push(t, next)
		if err != nil {
			return n, err
		}
		n++
	}
}

// Close stops the alarm loops, closes every database and removes the
// temporary directory if New made one.
func (f *Fleet) Close() error {
	var err error
	f.closeOnce.Do(func() {
		close(f.done)
		f.running.Wait()
		for _, t := range f.towns {
			t.mu.Lock()
			err = errors.Join(err, t.close())
			t.mu.Unlock()
		}
		if f.tempDir {
			err = errors.Join(err, os.RemoveAll(f.dir))
		}
	})
	return err
}

func (f *Fleet) roll() float64 {
	f.diceMu.Lock()
	defer f.diceMu.Unlock()
	return f.dice.Float64()
}

// setFault swaps the knobs and records at once what the next tick (and any
// dry run before it) should see: the break or its repair, and the filler
// events of queue_depth.
func (t *town) setFault(fl Fault, now time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Before(t.last) {
		now = t.last
	}
	old := t.fault
	t.fault = fl
	var evs []event
	if old.BreakInvariant != 0 && old.BreakInvariant != fl.BreakInvariant && old.BreakInvariant != t.auto.inv {
		evs = append(evs, event{Type: evFaultRepaired, Payload: payload{Invariant: old.BreakInvariant}})
	}
	if fl.BreakInvariant != 0 {
		evs = append(evs, event{Type: evFaultInjected, Payload: payload{Invariant: fl.BreakInvariant, RigID: t.rigs[0]}})
	}
	return t.st.inTx(func() error {
		pending, err := t.st.pendingCount()
		if err != nil {
			return err
		}
		if gap := fl.QueueDepth - pending - len(evs); gap > 0 {
			evs = append(evs, t.filler(gap)...)
		}
		if err := t.record(evs, ts(now)); err != nil {
			return fmt.Errorf("set fault of town %q: %w", t.id, err)
		}
		return nil
	})
}

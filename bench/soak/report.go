package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tickwatch/tickwatch/alerts"
	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
)

// chainKey is one violation of one town: the events of its transitions form
// a chain, sequence 1, 2, 3... (opened, resolved, opened...).
type chainKey struct{ town, identity string }

// chainKeyOf reads an invariant as the status pages and events give it
// ("7", or "unnamed" for the reconciler's remainder).
func chainKeyOf(town, invariant, message string) chainKey {
	inv, err := strconv.Atoi(invariant)
	if err != nil {
		inv = gastown.Unnamed
	}
	return chainKey{town, dedupe.Identity(gastown.Violation{Invariant: inv, Message: message})}
}

// chains is what the Sentry receiver got, checked transition by transition.
type chains struct {
	events      int // accepted requests holding an event
	distinct    int // distinct event ids
	resent      int // an accepted id accepted again (a kill before the outbox recorded it)
	clashes     int // one id for two different transitions
	unmatched   int // ids that are no transition's
	transitions int // produced by the tracker: the highest sequence of each chain, summed
	gaps        int // sequences missing inside a chain: lost transitions
	tails       int // chains whose last event disagrees with tickwatch's final state: lost
	order       int // two openings (or resolutions) in a row
	byKind      map[dedupe.Kind]int
}

// checkChains recovers each event's (town, identity, kind, sequence) from
// its tags and context and its id, which is a hash of exactly those, and
// checks every chain for holes; open says which violations tickwatch holds
// open at the end, origin is its state's (part of every event id).
func checkChains(events []sentrytest.Event, open map[chainKey]bool, origin string) chains {
	c := chains{events: len(events), byKind: map[dedupe.Kind]int{}}
	type seen struct {
		key  chainKey
		kind dedupe.Kind
	}
	ids := map[string]seen{}
	seqs := map[chainKey]map[uint64]dedupe.Kind{}
	for _, e := range events {
		v := e.Contexts["violation"]
		inv, _ := v["invariant"].(float64)
		msg, _ := v["message"].(string)
		town, kind := e.Tags["town"], dedupe.Kind(e.Tags["transition"])
		key := chainKey{town, dedupe.Identity(gastown.Violation{Invariant: int(inv), Message: msg})}
		if prev, ok := ids[e.EventID]; ok {
			if prev != (seen{key, kind}) {
				c.clashes++
			} else {
				c.resent++
			}
			continue
		}
		ids[e.EventID] = seen{key, kind}
		c.byKind[kind]++
		// The origin carries the day of the identity's first transition:
		// the event's day or, for a later transition, one before it.
		origins := []string{origin}
		for d := range 3 {
			origins = append(origins, dedupe.EpochOrigin(origin, e.Timestamp.Add(-time.Duration(d)*24*time.Hour)))
		}
		seq := uint64(0)
	search:
		for s := uint64(1); s <= 100000; s++ {
			for _, o := range origins {
				if alerts.EventID(dedupe.Transition{Town: town, Identity: key.identity, Kind: kind, Seq: s, Origin: o}) == e.EventID {
					seq = s
					break search
				}
			}
		}
		if seq == 0 {
			c.unmatched++
			continue
		}
		if seqs[key] == nil {
			seqs[key] = map[uint64]dedupe.Kind{}
		}
		seqs[key][seq] = kind
	}
	c.distinct = len(ids)
	for key, m := range seqs {
		var top uint64
		for s := range m {
			top = max(top, s)
		}
		c.transitions += int(top)
		c.gaps += int(top) - len(m)
		var last dedupe.Kind
		for s := uint64(1); s <= top; s++ {
			k, ok := m[s]
			if !ok {
				continue
			}
			if last != "" && (k == dedupe.Opened) == (last == dedupe.Opened || last == dedupe.Repeated) {
				c.order++
			}
			last = k
		}
		if (last == dedupe.Resolved) == open[key] {
			c.tails++
		}
	}
	for key := range open {
		if seqs[key] == nil { // open, and Sentry never heard of it
			c.tails++
		}
	}
	return c
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

func drift(a, b float64) string {
	if a == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%+.1f%%", 100*(b-a)/a)
}

// steadyEnds sums up a process's footprint at the start and at the end of
// its run, from two minutes after ready (caches and pools filled): each end
// is the median of its window's samples, since one sample catches whatever
// a scrape, a collection or the polls in flight hold at that moment.
func steadyEnds(samples []resources) (first, last resources, window time.Duration, ok bool) {
	if len(samples) == 0 {
		return first, last, 0, false
	}
	i := sort.Search(len(samples), func(i int) bool { return samples[i].at.Sub(samples[0].at) >= 2*time.Minute })
	steady := samples[i:]
	if len(steady) < 2 {
		return first, last, 0, false
	}
	w := driftWindow(steady)
	from, to := steady[0].at, steady[len(steady)-1].at
	var head, tail []resources
	for _, s := range steady {
		if s.at.Sub(from) <= w {
			head = append(head, s)
		}
		if to.Sub(s.at) <= w {
			tail = append(tail, s)
		}
	}
	return median(head), median(tail), w, true
}

// driftWindow is a third of the samples' span, at most five minutes.
func driftWindow(samples []resources) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	return min(5*time.Minute, samples[len(samples)-1].at.Sub(samples[0].at)/3).Round(time.Second)
}

// median is each field's median over rs (the time is the middle sample's).
func median(rs []resources) resources {
	mid := func(f func(resources) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	return resources{
		at:         rs[len(rs)/2].at,
		rssBytes:   mid(func(r resources) float64 { return r.rssBytes }),
		heapBytes:  mid(func(r resources) float64 { return r.heapBytes }),
		goroutines: mid(func(r resources) float64 { return r.goroutines }),
		fds:        int(mid(func(r resources) float64 { return float64(r.fds) })),
	}
}

// report prints the instance's figures.
func (in *instance) report(open map[chainKey]bool) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	c := checkChains(in.sentry.events(), open, in.origin)
	var b strings.Builder
	fmt.Fprintf(&b, "\n== %s: %d towns, %d tickwatch processes (exit of the last on SIGTERM: %v)\n", in.name, len(in.towns), in.run, errOrOK(in.exitErr))
	fmt.Fprintf(&b, "transitions produced: %d (tickwatch's counters, summed over its processes: %.0f)\n", c.transitions, in.counted)
	fmt.Fprintf(&b, "events received by Sentry: %d distinct ids (%d opened, %d resolved, %d repeated); %d resent after a kill (same id: Sentry keeps one)\n",
		c.distinct, c.byKind[dedupe.Opened], c.byKind[dedupe.Resolved], c.byKind[dedupe.Repeated], c.resent)
	fmt.Fprintf(&b, "lost: %d (%d missing inside a chain, %d chains ending otherwise than tickwatch's final state); duplicate ids: %d; ids of no transition: %d; out of order: %d\n",
		c.gaps+c.tails, c.gaps, c.tails, c.clashes, c.unmatched, c.order)
	fmt.Fprintf(&b, "violations open at the end: %d; Sentry refused %d requests (429/503); killed with %v events in the outbox\n",
		len(open), in.sentry.refused, in.killedWithPending)
	fmt.Fprintf(&b, "towns wrongly reported: %d of %d checks (%d towns not yet polled since their fault changed, skipped)\n", in.wrong, in.checked, in.stale)
	for _, e := range in.wrongExamples {
		fmt.Fprintf(&b, "  wrong: %s\n", e)
	}
	for _, r := range []struct {
		name    string
		samples []resources
	}{{"first process", in.firstRun}, {"last process", in.samples}} {
		if len(r.samples) < 2 {
			continue
		}
		first, last, w, ok := steadyEnds(r.samples)
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "%s, %s apart (medians of the samples in the first and last %s): start %s; end %s; drift RSS %s, heap %s, goroutines %s, fds %s\n",
			r.name, last.at.Sub(first.at).Round(time.Second), w, first, last, drift(first.rssBytes, last.rssBytes),
			drift(first.heapBytes, last.heapBytes), drift(first.goroutines, last.goroutines), drift(float64(first.fds), float64(last.fds)))
	}
	fmt.Fprintf(&b, "/metrics scrape latency over %d scrapes (gzip): p50 %s, p90 %s, p99 %s, max %s; %d failed\n", len(in.scrapes),
		percentile(in.scrapes, 0.5).Round(time.Millisecond), percentile(in.scrapes, 0.9).Round(time.Millisecond),
		percentile(in.scrapes, 0.99).Round(time.Millisecond), percentile(in.scrapes, 1).Round(time.Millisecond), in.scrapeErrs)
	fmt.Fprintf(&b, "longest tick: %.2fs\n", in.longestTick)
	return b.String()
}

func errOrOK(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}

package simtown

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

// town is one simulated Gastown town: its database, its alarm state and the
// last tick's metrics. mu serialises the alarm tick, dry runs, replays and
// status reads on the town's single connection.
type town struct {
	id   string
	opts *Options

	mu      sync.Mutex
	db      *sql.DB
	conn    *sql.Conn
	st      store
	fault   Fault
	metrics *gastown.ReconcilerMetrics // nil until the first tick after (re)start
	active  bool                       // the armed alarm is at the active cadence
	last    time.Time                  // time of the last real tick
	next    time.Time                  // when the alarm fires next

	// Owned by the alarm tick alone (the scheduler never runs two ticks of
	// one town at once), so the workload stays deterministic.
	rng      *rand.Rand
	rigs     []string
	busy     float64         // chance per tick that a new issue arrives
	hung     map[string]bool // working agents that went silent
	auto     autoBreak       // an invariant broken by FaultRate
	eventSeq int
	issueSeq int
	convSeq  int
	prSeq    int
}

type autoBreak struct{ inv, ticksLeft int }

var rigNames = []string{"rig-main", "rig-web", "rig-api", "rig-docs"}

func openTown(id, dir string, opts *Options, now time.Time) (*town, error) {
	db, conn, err := openTownDB(filepath.Join(dir, id+".sqlite"))
	if err != nil {
		return nil, fmt.Errorf("town %q: %w", id, err)
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	t := &town{
		id: id, opts: opts, db: db, conn: conn,
		st:   store{c: conn, ctx: context.Background(), town: id, active: opts.scaled(activeInterval)},
		rng:  rand.New(rand.NewPCG(uint64(opts.Seed), h.Sum64())),
		hung: map[string]bool{},
	}
	t.rigs = rigNames[:1+t.rng.IntN(3)]
	t.busy = 0.05 + 0.2*t.rng.Float64()
	if t.rng.IntN(4) == 0 {
		t.busy = 0.01 // a quiet town that spends most of its time idle
	}
	if err := t.restore(now); err != nil {
		t.close()
		return nil, fmt.Errorf("town %q: %w", id, err)
	}
	return t, nil
}

// restore reads the counters back from a reopened database, or seeds a
// fresh one with the events that bootstrap a town.
func (t *town) restore(now time.Time) error {
	saved, err := t.st.meta(metaCounters)
	if err != nil {
		return err
	}
	if saved != "" {
		var c counters
		if err := json.Unmarshal([]byte(saved), &c); err != nil {
			return fmt.Errorf("read counters %q: %w", saved, err)
		}
		t.eventSeq, t.issueSeq, t.convSeq, t.prSeq = c.Event, c.Issue, c.Convoy, c.PR
	}
	var last sql.NullString
	if err := t.conn.QueryRowContext(t.st.ctx, `SELECT MAX(tick_at) FROM alarm_ticks`).Scan(&last); err != nil {
		return fmt.Errorf("read last tick: %w", err)
	}
	if last.Valid {
		t.last = parseTS(last.String)
	}
	t.active = true
	if t.eventSeq > 0 {
		return nil
	}
	at := ts(now)
	evs := []event{{Type: evAgentRegistered, AgentID: uuidFor(t.id, "mayor"), Payload: payload{Role: "mayor"}}}
	for _, r := range t.rigs {
		evs = append(evs, event{Type: evAgentRegistered, AgentID: uuidFor(t.id, "refinery", r), Payload: payload{Role: "refinery", RigID: r}})
	}
	for i := 1; i <= 2; i++ {
		evs = append(evs, event{Type: evAgentRegistered, AgentID: uuidFor(t.id, "polecat", fmt.Sprint(i)), Payload: payload{Role: "polecat"}})
	}
	evs = append(evs, t.newIssue(), t.newIssue())
	return t.st.inTx(func() error { return t.record(evs, at) })
}

// record stamps and stores events (those Gastown would keep), and saves the
// id counters with them.
func (t *town) record(evs []event, at string) error {
	for _, e := range evs {
		if !recorded(e) {
			continue
		}
		t.eventSeq++
		e.ID = uuidFor(t.id, "event", fmt.Sprint(t.eventSeq))
		e.CreatedAt = at
		if err := t.st.insertEvent(e); err != nil {
			return err
		}
	}
	c, _ := json.Marshal(counters{Event: t.eventSeq, Issue: t.issueSeq, Convoy: t.convSeq, PR: t.prSeq})
	return t.st.setMeta(metaCounters, string(c))
}

// counters are the sequence numbers behind event, issue, convoy and PR ids;
// kept in sim_meta because pruning deletes the events they could be
// recounted from.
type counters struct {
	Event  int `json:"event"`
	Issue  int `json:"issue"`
	Convoy int `json:"convoy"`
	PR     int `json:"pr"`
}

func (t *town) close() error {
	var err error
	if t.conn != nil {
		err = t.conn.Close()
	}
	if t.db != nil {
		if e := t.db.Close(); err == nil {
			err = e
		}
	}
	return err
}

// interval is Gastown's nominal alarm interval for a town with or without
// active work; the alarm runs it divided by Speed.
func (t *town) interval(active bool) time.Duration {
	if active {
		return activeInterval
	}
	return t.opts.IdleInterval
}

// passResult is what one reconciler pass did.
type passResult struct {
	actions []action
	drained int
}

// pass applies drained events oldest first, reconciles and applies the
// reconciler's actions, all at time now.
func (s store) pass(evs []event, now string) (passResult, error) {
	res, err := s.passNoMark(evs, now)
	if err != nil {
		return passResult{}, err
	}
	return res, s.markProcessed(evs, now)
}

// passNoMark is pass for replays, which leave processed_at alone.
func (s store) passNoMark(evs []event, now string) (passResult, error) {
	var acts []action
	for _, e := range evs {
		a, err := s.applyEvent(e, now)
		if err != nil {
			return passResult{}, err
		}
		acts = append(acts, a...)
	}
	r, err := s.reconcile(now)
	if err != nil {
		return passResult{}, err
	}
	if err := s.applyActions(r, now); err != nil {
		return passResult{}, err
	}
	return passResult{actions: append(acts, r...), drained: len(evs)}, nil
}

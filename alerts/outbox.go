package alerts

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/durable"
)

// OutboxFile is the outbox's file inside the state directory.
const OutboxFile = "outbox.db"

var (
	bucketPending = []byte("pending") // key: 8-byte big-endian order → record
	bucketDone    = []byte("done")    // key: event id → doneRecord
	bucketIssues  = []byte("issues")  // key: issue key → issue
)

// Steps: what Sentry is to be told about a record's transition.
const (
	stepEvent   = ""        // its event
	stepResolve = "resolve" // that its issue is resolved, through the web API
)

// record is one transition waiting for Sentry.
type record struct {
	key        uint64
	EventID    string             `json:"event_id"`
	Step       string             `json:"step,omitempty"`
	Transition *dedupe.Transition `json:"transition"` // in memory only once picked (see pick)
	EnqueuedAt time.Time          `json:"enqueued_at"`
	// NotFoundSince is when a resolve's lookup was first answered 404 (the
	// event not yet processed by Sentry); it is retried until
	// LookupPatience has passed.
	NotFoundSince time.Time `json:"not_found_since,omitzero"`

	// kind and town are the transition's, which the queues and the logs
	// read while it is on disk only.
	kind dedupe.Kind
	town string

	notBefore time.Time // a resolve waiting for its next lookup
	notFound  int       // 404 answers since the process started
	lookedUp  bool      // this process looked its issue up
}

// class groups records for the cap and the sender: an event's transition
// kind, or the step.
func (r *record) class() string {
	if r.Step != stepEvent {
		return r.Step
	}
	return string(r.kind)
}

// setAside keeps r's transition on disk only. An outbox of thousands of
// entries (a fleet-wide incident waiting out the rate limit or an outage)
// would otherwise hold all of them: they were a fifth of the heap at 10,000
// towns with every town's violation pending.
func (r *record) setAside() {
	r.kind, r.town = r.Transition.Kind, r.Transition.Town
	r.Transition = nil
}

// pick readies the entry the sender takes next. It reads the entry back
// from the store when its transition is set aside, and keeps the
// transition in memory until the entry leaves (in practice the head of a
// queue). With withTriage it also returns, from the same read, what the
// poll saw of the town: the in-memory queues leave the triage out, since an
// opened event's status rows and recent events are most of its size, and it
// is read for each attempt to send the event. Nil when the entry has none.
func (o *outbox) pick(r *record, withTriage bool) (*gastown.Triage, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pending[r.EventID] != r {
		return nil, errGone
	}
	if r.Transition != nil && !withTriage {
		return nil, nil
	}
	var stored record
	err := o.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketPending).Get(keyBytes(r.key))
		if v == nil {
			return errors.New("not in the store")
		}
		return json.Unmarshal(v, &stored)
	})
	if err == nil && stored.Transition == nil {
		err = errors.New("no transition")
	}
	if err != nil {
		return nil, fmt.Errorf("read event %s back from %s: %w", r.EventID, o.path, err)
	}
	tr := stored.Transition.Triage
	if r.Transition == nil {
		stored.Transition.Triage = nil
		r.Transition = stored.Transition
	}
	return tr, nil
}

// issue is what the outbox knows of one Sentry issue: the events of one
// fingerprint in one project.
type issue struct {
	GroupID   string    `json:"group_id,omitempty"`   // Sentry's id, once looked up
	EventID   string    `json:"event_id,omitempty"`   // an accepted event of the issue, to look it up by
	LastEvent uint64    `json:"last_event,omitempty"` // outbox key of the last event Sentry accepted
	Resolved  bool      `json:"resolved,omitempty"`   // resolved by tickwatch, no event since
	At        time.Time `json:"at"`                   // last change
}

// doneRecord remembers an event id that left the outbox, so that the same
// transition issued again (after a crash between Enqueue and the tracker's
// Save) is not sent twice.
type doneRecord struct {
	At     time.Time `json:"at"`
	Result string    `json:"result"` // sent, dropped (outbox full), rejected (4xx)
}

// Done results.
const (
	resultSent       = "sent"
	resultDropped    = "dropped"
	resultRejected   = "rejected"
	resultSuperseded = "superseded" // a resolve overtaken by a newer event of its issue, or with nothing left to resolve
	resultUnresolved = "unresolved" // a resolve given up: its issue could not be found
)

// dropOrder is the order in which a full outbox gives up records, by class:
// a lost "resolved" costs least, a lost "opened" most.
var dropOrder = []string{string(dedupe.Resolved), stepResolve, string(dedupe.Repeated), string(dedupe.Opened)}

// eventClasses are the classes sent as events; without an auth token the
// resolves are sent as events too (allClasses).
var (
	eventClasses = []string{string(dedupe.Opened), string(dedupe.Repeated), string(dedupe.Resolved)}
	allClasses   = []string{string(dedupe.Opened), string(dedupe.Repeated), string(dedupe.Resolved), stepResolve}
)

// outbox is the durable queue. Its in-memory index mirrors the pending
// bucket: one FIFO of keys per class, so both the sender (oldest event,
// oldest due resolve) and the cap (oldest of a class) take from the front.
type outbox struct {
	db     *bolt.DB
	path   string
	max    int
	logger *slog.Logger

	mu      sync.Mutex
	next    uint64
	queues  map[string][]*record // by class, oldest first
	pending map[string]*record   // by event id
	issues  map[string]*issue    // by issue key
}

func openOutbox(dir string, max int, now func() time.Time, logger *slog.Logger) (*outbox, error) {
	o := &outbox{path: filepath.Join(dir, OutboxFile), max: max, logger: logger}
	db, err := durable.Open(o.path, logger, now, o.load)
	if err != nil {
		return nil, fmt.Errorf("sentry outbox: %w", err)
	}
	o.db = db
	return o, nil
}

func (o *outbox) reset() {
	o.next = 1
	o.queues = map[string][]*record{}
	o.pending = map[string]*record{}
	o.issues = map[string]*issue{}
}

func (o *outbox) load(db *bolt.DB) error {
	o.reset()
	return db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketDone); err != nil {
			return err
		}
		ib, err := tx.CreateBucketIfNotExists(bucketIssues)
		if err != nil {
			return err
		}
		err = ib.ForEach(func(k, v []byte) error {
			var is issue
			if json.Unmarshal(v, &is) == nil { // unreadable: looked up again when needed
				o.issues[string(k)] = &is
				// Keys only grow, also across restarts: a resolve compares
				// its key with its issue's last event.
				o.next = max(o.next, is.LastEvent+1)
			}
			return nil
		})
		if err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists(bucketPending)
		if err != nil {
			return err
		}
		var bad [][]byte
		err = b.ForEach(func(k, v []byte) error {
			var r record
			if len(k) != 8 {
				bad = append(bad, append([]byte(nil), k...))
				return nil
			}
			r.key = binary.BigEndian.Uint64(k)
			if r.key >= o.next {
				o.next = r.key + 1
			}
			if err := json.Unmarshal(v, &r); err != nil || r.EventID == "" || r.Transition == nil || !knownKind(r.Transition.Kind) || !knownStep(&r) {
				o.logger.Error("dropping unreadable outbox entry", "key", r.key, "err", err)
				bad = append(bad, append([]byte(nil), k...))
				return nil
			}
			r.setAside()
			o.push(&r)
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range bad {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

func knownKind(k dedupe.Kind) bool {
	return k == dedupe.Opened || k == dedupe.Resolved || k == dedupe.Repeated
}

func knownStep(r *record) bool {
	return r.Step == stepEvent || r.Step == stepResolve && r.Transition.Kind == dedupe.Resolved
}

func (o *outbox) push(r *record) {
	c := r.class()
	o.queues[c] = append(o.queues[c], r)
	o.pending[r.EventID] = r
}

// popHead removes the head of class c's queue from memory.
func (o *outbox) popHead(c string) {
	q := o.queues[c]
	delete(o.pending, q[0].EventID)
	q[0] = nil
	o.queues[c] = q[1:]
}

// remove takes r out of memory wherever it is in its queue: a resolve
// waiting for its lookup lets younger ones pass.
func (o *outbox) remove(r *record) {
	c := r.class()
	q := o.queues[c]
	if q[0] == r {
		o.popHead(c)
		return
	}
	for i, x := range q {
		if x == r {
			copy(q[i:], q[i+1:])
			q[len(q)-1] = nil
			o.queues[c] = q[:len(q)-1]
			break
		}
	}
	delete(o.pending, r.EventID)
}

func keyBytes(k uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], k)
	return b[:]
}

// entry is a transition to enqueue and the step it takes.
type entry struct {
	t    dedupe.Transition
	step string
}

// add writes the transitions not yet known (pending or done) to the outbox
// in one transaction, then applies the cap. It returns how many were added
// and how many older entries the cap dropped. Nothing in memory changes
// unless the transaction commits.
func (o *outbox) add(es []entry, now time.Time) (added, dropped int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()

	var fresh []*record
	next := o.next
	inBatch := map[string]bool{}
	err = o.db.Update(func(tx *bolt.Tx) error {
		pb, db := tx.Bucket(bucketPending), tx.Bucket(bucketDone)
		for _, e := range es {
			id := EventID(e.t)
			if o.pending[id] != nil || inBatch[id] || db.Get([]byte(id)) != nil {
				continue
			}
			r := &record{key: next, EventID: id, Step: e.step, Transition: &e.t, EnqueuedAt: now, kind: e.t.Kind, town: e.t.Town}
			v, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("encode transition %s: %w", id, err)
			}
			if err := pb.Put(keyBytes(next), v); err != nil {
				return err
			}
			next++
			inBatch[id] = true
			fresh = append(fresh, r)
		}
		// The cap: count what would be pending and drop from queue heads
		// (including the fresh entries) in drop order.
		over := len(o.pending) + len(fresh) - o.max
		if o.max <= 0 || over <= 0 {
			return nil
		}
		victims := o.victims(fresh, over)
		done, _ := json.Marshal(doneRecord{At: now, Result: resultDropped})
		for _, r := range victims {
			if err := pb.Delete(keyBytes(r.key)); err != nil {
				return err
			}
			if err := db.Put([]byte(r.EventID), done); err != nil {
				return err
			}
		}
		dropped = len(victims)
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("write sentry outbox %s: %w", o.path, err)
	}
	o.next = next
	o.release()
	for _, r := range fresh {
		r.setAside()
		o.push(r)
	}
	for range dropped {
		o.dropOne()
	}
	return len(fresh), dropped, nil
}

// victims picks the n entries the cap drops, from existing queues and the
// fresh batch, oldest first within each kind of dropOrder.
func (o *outbox) victims(fresh []*record, n int) []*record {
	var out []*record
	for _, c := range dropOrder {
		cand := append([]*record(nil), o.queues[c]...)
		for _, r := range fresh {
			if r.class() == c {
				cand = append(cand, r)
			}
		}
		for _, r := range cand {
			if len(out) == n {
				return out
			}
			out = append(out, r)
		}
	}
	return out
}

// dropOne removes from memory the entry victims would pick first now that
// the fresh entries are queued; victims and dropOne walk the same order.
func (o *outbox) dropOne() {
	for _, c := range dropOrder {
		if len(o.queues[c]) > 0 {
			o.popHead(c)
			return
		}
	}
}

// eventHead returns the oldest pending entry of the given classes, or nil.
func (o *outbox) eventHead(classes []string) *record {
	o.mu.Lock()
	defer o.mu.Unlock()
	var h *record
	for _, c := range classes {
		if q := o.queues[c]; len(q) > 0 && (h == nil || q[0].key < h.key) {
			h = q[0]
		}
	}
	return h
}

// dueResolve returns the oldest resolve older than key before that may call
// the API at now, or else when the first of them may.
func (o *outbox) dueResolve(now time.Time, before uint64) (r *record, next time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, x := range o.queues[stepResolve] {
		if x.key >= before {
			break
		}
		if !now.Before(x.notBefore) {
			return x, time.Time{}
		}
		if next.IsZero() || x.notBefore.Before(next) {
			next = x.notBefore
		}
	}
	return nil, next
}

var errGone = errors.New("entry no longer pending")

// finish marks entry r done with result and, when is is not nil, records
// the issue's new state in the same transaction.
func (o *outbox) finish(r *record, result string, now time.Time, key string, is *issue) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pending[r.EventID] != r {
		return errGone // dropped by the cap while it was in flight
	}
	done, _ := json.Marshal(doneRecord{At: now, Result: result})
	err := o.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketPending).Delete(keyBytes(r.key)); err != nil {
			return err
		}
		if err := putIssue(tx, key, is); err != nil {
			return err
		}
		return tx.Bucket(bucketDone).Put([]byte(r.EventID), done)
	})
	if err != nil {
		return fmt.Errorf("mark event %s %s in %s: %w", r.EventID, result, o.path, err)
	}
	o.remove(r)
	if is != nil {
		o.issues[key] = is
	}
	return nil
}

func putIssue(tx *bolt.Tx, key string, is *issue) error {
	if is == nil {
		return nil
	}
	v, err := json.Marshal(is)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketIssues).Put([]byte(key), v)
}

// issue returns a copy of what is known of the issue (zero when nothing).
func (o *outbox) issue(key string) issue {
	o.mu.Lock()
	defer o.mu.Unlock()
	if is := o.issues[key]; is != nil {
		return *is
	}
	return issue{}
}

// doneResult is how the entry with this event id left the outbox, or ""
// when the outbox does not remember it.
func (o *outbox) doneResult(id string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var d doneRecord
	_ = o.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketDone).Get([]byte(id)); v != nil {
			_ = json.Unmarshal(v, &d)
		}
		return nil
	})
	return d.Result
}

// setIssue records the issue's new state.
func (o *outbox) setIssue(key string, is issue) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.db.Update(func(tx *bolt.Tx) error { return putIssue(tx, key, &is) }); err != nil {
		return fmt.Errorf("record sentry issue in %s: %w", o.path, err)
	}
	o.issues[key] = &is
	return nil
}

// save rewrites a pending entry (a resolve that learnt when its lookup
// was first answered 404), keeping the triage stored with it.
func (o *outbox) save(r *record) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pending[r.EventID] != r {
		return errGone
	}
	err := o.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPending)
		full, t := *r, *r.Transition // picked: the sender saves only what it took
		t.Triage = storedTriage(b, r.key)
		full.Transition = &t
		v, err := json.Marshal(&full)
		if err != nil {
			return err
		}
		return b.Put(keyBytes(r.key), v)
	})
	if err != nil {
		return fmt.Errorf("update entry %s in %s: %w", r.EventID, o.path, err)
	}
	return nil
}

func storedTriage(b *bolt.Bucket, key uint64) *gastown.Triage {
	v := b.Get(keyBytes(key))
	if v == nil {
		return nil
	}
	var stored struct {
		Transition struct {
			Triage *gastown.Triage `json:"Triage"`
		} `json:"transition"`
	}
	if json.Unmarshal(v, &stored) != nil {
		return nil
	}
	return stored.Transition.Triage
}

func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}

// IssueRetention is how long the outbox remembers an issue it heard nothing
// of: its group id spares a resolve the lookup.
const IssueRetention = 30 * 24 * time.Hour

// pruneDone forgets done event ids older than retain. Within retain only a
// crash re-issues an id, and the done mark catches it. The tracker restarts
// a sequence only after dedupe.DefaultRetain (longer), and by then the old
// ids must be gone here, or the new episode would be taken for duplicates.
// It also forgets issues untouched for IssueRetention.
func (o *outbox) pruneDone(now time.Time, retain time.Duration) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	var stale []string
	err := o.db.Update(func(tx *bolt.Tx) error {
		ib := tx.Bucket(bucketIssues)
		for k, is := range o.issues {
			if now.Sub(is.At) > IssueRetention {
				if err := ib.Delete([]byte(k)); err != nil {
					return err
				}
				stale = append(stale, k)
			}
		}
		b := tx.Bucket(bucketDone)
		var old [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var d doneRecord
			if json.Unmarshal(v, &d) != nil || now.Sub(d.At) > retain {
				old = append(old, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(old)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune sentry outbox %s: %w", o.path, err)
	}
	o.release() // the walk read every done record
	for _, k := range stale {
		delete(o.issues, k)
	}
	return n, nil
}

// release unmaps the file's pages the last transactions read or walked
// (durable.Release): a burst of 10,000 transitions would otherwise keep
// their pages in the resident set after they were sent.
func (o *outbox) release() {
	if err := durable.Release(o.db); err != nil {
		o.logger.Warn("outbox file pages stay resident", "err", err)
	}
}

func (o *outbox) close() error {
	if err := o.db.Close(); err != nil {
		return fmt.Errorf("close sentry outbox: %w", err)
	}
	return nil
}

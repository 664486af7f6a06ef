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
	"github.com/tickwatch/tickwatch/internal/durable"
)

// OutboxFile is the outbox's file inside the state directory.
const OutboxFile = "outbox.db"

var (
	bucketPending = []byte("pending") // key: 8-byte big-endian order → record
	bucketDone    = []byte("done")    // key: event id → doneRecord
)

// record is one transition waiting for Sentry.
type record struct {
	key        uint64
	EventID    string            `json:"event_id"`
	Transition dedupe.Transition `json:"transition"`
	EnqueuedAt time.Time         `json:"enqueued_at"`
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
	resultSent     = "sent"
	resultDropped  = "dropped"
	resultRejected = "rejected"
)

// dropOrder is the order in which a full outbox gives up transitions: a lost
// "resolved" costs least, a lost "opened" most.
var dropOrder = []dedupe.Kind{dedupe.Resolved, dedupe.Repeated, dedupe.Opened}

// outbox is the durable queue. Its in-memory index mirrors the pending
// bucket: one FIFO of keys per kind, so both the sender (global oldest) and
// the cap (oldest of a kind) take from a queue head.
type outbox struct {
	db     *bolt.DB
	path   string
	max    int
	logger *slog.Logger

	mu      sync.Mutex
	next    uint64
	queues  map[dedupe.Kind][]*record
	pending map[string]*record // by event id
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
	o.queues = map[dedupe.Kind][]*record{}
	o.pending = map[string]*record{}
}

func (o *outbox) load(db *bolt.DB) error {
	o.reset()
	return db.Update(func(tx *bolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists(bucketDone); err != nil {
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
			if err := json.Unmarshal(v, &r); err != nil || r.EventID == "" || !knownKind(r.Transition.Kind) {
				o.logger.Error("dropping unreadable outbox entry", "key", r.key, "err", err)
				bad = append(bad, append([]byte(nil), k...))
				return nil
			}
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

func (o *outbox) push(r *record) {
	o.queues[r.Transition.Kind] = append(o.queues[r.Transition.Kind], r)
	o.pending[r.EventID] = r
}

// popHead removes the head of kind k's queue from memory.
func (o *outbox) popHead(k dedupe.Kind) {
	q := o.queues[k]
	delete(o.pending, q[0].EventID)
	q[0] = nil
	o.queues[k] = q[1:]
}

func keyBytes(k uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], k)
	return b[:]
}

// add writes the transitions not yet known (pending or done) to the outbox
// in one transaction, then applies the cap. It returns how many were added
// and how many older entries the cap dropped. Nothing in memory changes
// unless the transaction commits.
func (o *outbox) add(ts []dedupe.Transition, now time.Time) (added, dropped int, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()

	var fresh []*record
	next := o.next
	inBatch := map[string]bool{}
	err = o.db.Update(func(tx *bolt.Tx) error {
		pb, db := tx.Bucket(bucketPending), tx.Bucket(bucketDone)
		for _, t := range ts {
			id := EventID(t)
			if o.pending[id] != nil || inBatch[id] || db.Get([]byte(id)) != nil {
				continue
			}
			r := &record{key: next, EventID: id, Transition: t, EnqueuedAt: now}
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
	for _, r := range fresh {
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
	for _, k := range dropOrder {
		cand := append([]*record(nil), o.queues[k]...)
		for _, r := range fresh {
			if r.Transition.Kind == k {
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
	for _, k := range dropOrder {
		if len(o.queues[k]) > 0 {
			o.popHead(k)
			return
		}
	}
}

// head returns the oldest pending entry, or nil.
func (o *outbox) head() *record {
	o.mu.Lock()
	defer o.mu.Unlock()
	var h *record
	for _, q := range o.queues {
		if len(q) > 0 && (h == nil || q[0].key < h.key) {
			h = q[0]
		}
	}
	return h
}

var errGone = errors.New("entry no longer pending")

// finish marks the head entry r done with result (sent or rejected).
func (o *outbox) finish(r *record, result string, now time.Time) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	q := o.queues[r.Transition.Kind]
	if len(q) == 0 || q[0] != r {
		return errGone // dropped by the cap while it was in flight
	}
	done, _ := json.Marshal(doneRecord{At: now, Result: result})
	err := o.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketPending).Delete(keyBytes(r.key)); err != nil {
			return err
		}
		return tx.Bucket(bucketDone).Put([]byte(r.EventID), done)
	})
	if err != nil {
		return fmt.Errorf("mark event %s %s in %s: %w", r.EventID, result, o.path, err)
	}
	o.popHead(r.Transition.Kind)
	return nil
}

func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}

// pruneDone forgets done event ids older than retain. Within retain only a
// crash re-issues an id, and the done mark catches it. The tracker restarts
// a sequence only after dedupe.DefaultRetain (longer), and by then the old
// ids must be gone here, or the new episode would be taken for duplicates.
func (o *outbox) pruneDone(now time.Time, retain time.Duration) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	err := o.db.Update(func(tx *bolt.Tx) error {
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
	return n, nil
}

func (o *outbox) close() error {
	if err := o.db.Close(); err != nil {
		return fmt.Errorf("close sentry outbox: %w", err)
	}
	return nil
}

package dedupe

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tickwatch/tickwatch/internal/durable"
)

// StateFile is the tracker's file inside the state directory.
const StateFile = "dedupe.db"

var (
	bucketTowns = []byte("towns")
	bucketMeta  = []byte("meta")
	keyOrigin   = []byte("origin")
	// townOriginPrefix keys, in the meta bucket, a town's own origin.
	townOriginPrefix = []byte("origin/")
)

// stateVersion is written with every town record; a record of another
// version is reported and dropped.
const stateVersion = 1

type townRecord struct {
	Version     int        `json:"v"`
	Entries     []*entry   `json:"entries"`
	ForgottenAt *time.Time `json:"forgotten_at,omitempty"`
}

type store struct {
	db   *bolt.DB
	path string
}

// OpenTracker returns a tracker whose state lives in dir/dedupe.db, loaded
// now. An unreadable file is logged and set aside (dedupe.db.corrupt-<unix>)
// and the tracker starts empty; a record that cannot be decoded is logged and
// dropped. Call Save after each tick's transitions are in the outbox, and
// Close at shutdown.
func OpenTracker(dir string, opts Options, now func() time.Time, logger *slog.Logger) (*Tracker, error) {
	t := NewTracker(opts, now)
	if logger != nil {
		t.logger = logger
	}
	path := filepath.Join(dir, StateFile)
	db, err := durable.Open(path, t.logger, t.now, func(db *bolt.DB) error {
		t.towns.Clear()
		clear(t.soon)
		return t.load(db)
	})
	if err != nil {
		return nil, fmt.Errorf("dedupe state: %w", err)
	}
	t.store = &store{db: db, path: path}
	return t, nil
}

func townOriginKey(town string) []byte { return append(slices.Clip(townOriginPrefix), town...) }

func (t *Tracker) load(db *bolt.DB) error {
	return db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if o := meta.Get(keyOrigin); len(o) > 0 {
			t.origin = string(o)
		} else {
			t.origin = rand.Text()
			if err := meta.Put(keyOrigin, []byte(t.origin)); err != nil {
				return err
			}
		}
		c := meta.Cursor()
		for k, v := c.Seek(townOriginPrefix); k != nil && bytes.HasPrefix(k, townOriginPrefix); k, v = c.Next() {
			t.townOrigins[string(k[len(townOriginPrefix):])] = string(v)
		}
		b, err := tx.CreateBucketIfNotExists(bucketTowns)
		if err != nil {
			return err
		}
		now := t.now()
		return b.ForEach(func(k, v []byte) error {
			town := string(k)
			var rec townRecord
			if err := json.Unmarshal(v, &rec); err != nil || rec.Version != stateVersion {
				if err == nil {
					err = fmt.Errorf("version %d, this tickwatch reads %d", rec.Version, stateVersion)
				}
				// The town starts afresh, with an origin of its own (townOrigins).
				o := rand.Text()
				if err := meta.Put(townOriginKey(town), []byte(o)); err != nil {
					return err
				}
				t.townOrigins[town] = o
				t.logger.Error("dropping unreadable dedupe record", "town", town, "err", err)
				t.forgot[town] = struct{}{}
				return nil
			}
			ts := townState{entries: make([]entry, 0, len(rec.Entries))}
			for _, e := range rec.Entries {
				if e == nil || e.Identity == "" {
					continue
				}
				*ts.entry(e.Identity, e.Invariant) = *e
			}
			if rec.ForgottenAt != nil {
				ts.forgottenAt = stampOf(*rec.ForgottenAt)
				t.retired[town] = struct{}{}
			}
			if len(ts.entries) > 0 {
				kept := t.towns.Add(town)
				*kept = ts
				t.noteSoon(town, kept, now)
			}
			return nil
		})
	})
}

// persisted returns the entries worth keeping across a restart: open ones
// and those whose sequence number must not be reused. A pending violation
// that never opened is not kept; after a restart it needs open_after fresh
// observations again.
func (ts *townState) persisted() []*entry {
	out := make([]*entry, 0, len(ts.entries))
	for i := range ts.entries {
		if e := &ts.entries[i]; e.Open || e.Seq > 0 {
			out = append(out, e)
		}
	}
	return out
}

// Save writes every town with a transition since the last Save, and once a
// countersSaveEvery those whose run counters alone changed, in bbolt
// transactions of at most saveChunk towns each, in town order (a
// memory-only tracker only expires forgotten towns). Call it after the
// tick's transitions have been enqueued: if the process dies in between, the
// same transitions are issued again (same sequence numbers, so the same
// event ids) and the outbox drops them as duplicates. Each town's record is
// written whole; a death between two transactions leaves the towns of the
// later ones as a death before Save would.
func (t *Tracker) Save() error { return t.save(false) }

// countersSaveEvery is how often towns whose run counters alone changed
// are written (see townState.counted).
const countersSaveEvery = time.Minute

// saveChunk bounds the towns one transaction writes: bbolt holds every page
// a transaction dirties until it commits, and 10,000 towns opening their
// violations at once (a first start) made one of 12 MB.
const saveChunk = 1000

// saveMappedBudget bounds how much of the state file one transaction brings
// into the resident set. A put reads its town's leaf page and the commit
// reads it again, and the kernel maps the cached pages around each page read
// too. Towns written in order share leaves when they are neighbours (the
// once-a-minute save of run counters), but a tick's batch lies all over the
// file: 500 of 10,000 towns left 8 MB of the file resident until their
// transaction's release. So a transaction ends early once the mapped pages
// grew by half the budget, as its commit reads the same pages again.
const saveMappedBudget = 2 << 20

// testHookCommitted, when set, runs after each transaction of a save, before
// its pages are released.
var testHookCommitted func(db *bolt.DB)

// save writes the dirty towns, and the counted ones when all is set or
// their turn has come.
func (t *Tracker) save(all bool) error {
	t.saveMu.Lock()
	defer t.saveMu.Unlock()

	t.mu.Lock()
	now := t.now()
	t.expireRetired(now)
	if t.store == nil {
		clear(t.dirty)
		clear(t.forgot)
		t.mu.Unlock()
		return nil
	}
	if all || now.Sub(t.countedSaved) >= countersSaveEvery {
		for town, ts := range t.towns.All() {
			if ts.counted {
				t.dirty[town] = struct{}{}
			}
		}
		t.countedSaved = now
	}
	puts := make(map[string][]byte, len(t.dirty))
	var encErr error
	for town := range t.dirty {
		ts := t.towns.Get(town)
		if ts == nil {
			continue
		}
		ts.counted = false
		es := ts.persisted()
		if len(es) == 0 {
			puts[town] = nil
			continue
		}
		rec := townRecord{Version: stateVersion, Entries: es}
		if !ts.forgottenAt.IsZero() {
			at := ts.forgottenAt.Time()
			rec.ForgottenAt = &at
		}
		b, err := json.Marshal(rec)
		if err != nil {
			encErr = fmt.Errorf("encode dedupe state of town %q: %w", town, err)
			continue
		}
		puts[town] = b
	}
	dels := make([]string, 0, len(t.forgot))
	for town := range t.forgot {
		dels = append(dels, town)
	}
	clear(t.dirty)
	clear(t.forgot)
	t.mu.Unlock()

	if len(puts) == 0 && len(dels) == 0 {
		return encErr
	}
	towns := make([]string, 0, len(puts))
	for town := range puts {
		towns = append(towns, town)
	}
	slices.Sort(towns) // bbolt appends keys in order instead of inserting them
	// The first transaction runs also when there are only deletions.
	for start, first := 0, true; first || start < len(towns); first = false {
		end := min(start+saveChunk, len(towns))
		err := t.store.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketTowns)
			if first {
				for _, town := range dels {
					if err := b.Delete([]byte(town)); err != nil {
						return err
					}
				}
			}
			var mapped int64
			watch := false // a few towns cannot map much
			if end-start > 16 {
				var err error
				mapped, err = durable.MappedFiles()
				watch = err == nil
			}
			for i := start; i < end; i++ {
				town := towns[i]
				var err error
				if v := puts[town]; v == nil {
					err = b.Delete([]byte(town))
				} else {
					err = b.Put([]byte(town), v)
				}
				if err != nil {
					return fmt.Errorf("town %q: %w", town, err)
				}
				if watch && (i-start)%16 == 15 {
					if now, err := durable.MappedFiles(); err == nil && now-mapped > saveMappedBudget/2 {
						end = i + 1
						break
					}
				}
			}
			return nil
		})
		if err != nil {
			// Keep the work not done for the next Save.
			t.mu.Lock()
			if first {
				for _, town := range dels {
					t.forgot[town] = struct{}{}
				}
			}
			for _, town := range towns[start:] {
				if _, gone := t.forgot[town]; !gone {
					t.dirty[town] = struct{}{}
				}
			}
			t.mu.Unlock()
			return fmt.Errorf("save dedupe state to %s: %w", t.store.path, err)
		}
		if testHookCommitted != nil {
			testHookCommitted(t.store.db)
		}
		// Each transaction's pages would otherwise stay in the resident set.
		// The state is saved either way.
		if err := durable.Release(t.store.db); err != nil {
			t.logger.Warn("state file pages stay resident", "err", err)
		}
		start = end
	}
	return encErr
}

// CloseUnsaved closes the state file without saving, as a crash leaves it:
// the next start loads the last save.
func (t *Tracker) CloseUnsaved() error {
	if t.store == nil {
		return nil
	}
	if err := t.store.db.Close(); err != nil {
		return fmt.Errorf("close dedupe state: %w", err)
	}
	return nil
}

// Close saves every pending change and closes the state file.
func (t *Tracker) Close() error {
	if t.store == nil {
		return nil
	}
	return errors.Join(t.save(true), t.CloseUnsaved())
}

// Package durable opens the embedded bbolt stores that hold tickwatch's
// state. A store that cannot be read is reported and set aside, never fatal:
// losing dedupe state costs a few repeated events, refusing to start costs
// all monitoring.
package durable

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// LockTimeout bounds the wait for another process holding the same file.
// It is a variable so that tests of a held lock need not wait it out.
var LockTimeout = 2 * time.Second

// Open opens (or creates) the bbolt file at path and runs load over it. If the
// file cannot be opened as a bbolt database, or load fails or panics (bbolt
// panics on some corrupt pages), the file is renamed to
// path.corrupt-<unix seconds>, the problem is logged, and an empty store is
// opened and loaded instead. A lock held by another process, or an error of
// the system (permissions, file descriptors, the disk), is an error.
func Open(path string, logger *slog.Logger, now func() time.Time, load func(*bolt.DB) error) (*bolt.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	db, err := openAndLoad(path, load)
	if err == nil {
		return db, nil
	}
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open state file %s: another process holds it (is another tickwatch using this state directory?): %w", path, err)
	}
	// An error of the system (no file descriptor left, a full or failing
	// disk, no permission) says nothing about the file's content: setting
	// it aside would throw away good state for the next start.
	if errno := syscall.Errno(0); errors.As(err, &errno) {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	aside := fmt.Sprintf("%s.corrupt-%d", path, now().Unix())
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, fmt.Errorf("state file %s is unreadable (%v) and cannot be set aside: %w", path, err, rerr)
	}
	logger.Error("state file unreadable; set aside, starting with empty state", "file", path, "moved_to", aside, "err", err)
	db, err = openAndLoad(path, load)
	if err != nil {
		return nil, fmt.Errorf("open fresh state file %s: %w", path, err)
	}
	return db, nil
}

// initialMmapSize is the address space a store maps from the start: each
// time the file outgrew its map, bbolt remapped it and first copied every
// key and value the open write transaction had touched off the old map (at
// 10,000 towns the first save of their violations allocated 100 MB that
// way). It is address space, not memory: only pages read are resident.
const initialMmapSize = 256 << 20

func openAndLoad(path string, load func(*bolt.DB) error) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("corrupt state file: %v", r)
		}
		if err != nil && db != nil {
			_ = db.Close()
			db = nil
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: LockTimeout, InitialMmapSize: initialMmapSize})
	if err != nil {
		return nil, err
	}
	if load != nil {
		if err = load(db); err == nil {
			_ = Release(db) // loading read every page; failing costs only memory
		}
	}
	return db, err
}

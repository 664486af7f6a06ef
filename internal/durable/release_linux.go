package durable

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
)

// Release unmaps the store's pages the process has read, without touching
// the file or the page cache: they stay cached and are mapped again, without
// a disk read, when next read. bbolt reads the file through a shared,
// read-only map, so a write transaction leaves resident every page it walked:
// at 10,000 towns, rewriting their run counters once a minute kept 13 MiB of
// the state file in the resident set for good.
func Release(db *bolt.DB) error {
	// A read transaction holds the map in place (bbolt remaps only with
	// none open), and sees the file's used size, all within the map.
	return db.View(func(tx *bolt.Tx) error {
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, db.Info().Data, uintptr(tx.Size()), unix.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("release the map of %s: %w", db.Path(), errno)
		}
		return nil
	})
}

// MappedFiles is how many bytes of mapped files are in the process's
// resident set: the stores' maps and the binary's own code, from
// /proc/self/statm. It is cheap enough to read between writes, unlike
// Resident.
func MappedFiles() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, err
	}
	fields := strings.Fields(string(b))
	if len(fields) < 3 {
		return 0, fmt.Errorf("/proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseInt(fields[2], 10, 64) // shared: file and shmem pages
	if err != nil {
		return 0, fmt.Errorf("/proc/self/statm: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}

// Resident is how many bytes of the store's map are in the resident set,
// from /proc/self/smaps.
func Resident(db *bolt.DB) (int64, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	addr, in := uint64(db.Info().Data), false
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && !strings.HasSuffix(fields[0], ":") { // a mapping's line
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && addr >= l && addr < h
			continue
		}
		if in && fields[0] == "Rss:" && len(fields) > 1 {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			return kb << 10, err
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no mapping of %s in /proc/self/smaps", db.Path())
}

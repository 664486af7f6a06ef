package durable

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// mappedRSS is the resident size, in KiB, of the mapping holding addr.
func mappedRSS(t *testing.T, addr uintptr) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := false
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if lo, hi, ok := strings.Cut(strings.Fields(line)[0], "-"); ok && !strings.HasSuffix(strings.Fields(line)[0], ":") {
			l, err1 := strconv.ParseUint(lo, 16, 64)
			h, err2 := strconv.ParseUint(hi, 16, 64)
			in = err1 == nil && err2 == nil && uint64(addr) >= l && uint64(addr) < h
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return kb
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return 0
}

func TestReleaseUnmapsWhatWasRead(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "s.db"), slog.New(slog.DiscardHandler), time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	value := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 1000) }
	const n = 8000 // about 8 MB
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		for i := 0; err == nil && i < n; i++ {
			err = b.Put([]byte(fmt.Sprintf("k%05d", i)), value(i))
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	readAll := func() {
		t.Helper()
		if err := db.View(func(tx *bolt.Tx) error {
			i := 0
			return tx.Bucket([]byte("b")).ForEach(func(k, v []byte) error {
				if !bytes.Equal(v, value(i)) {
					return fmt.Errorf("%s: wrong value after the release", k)
				}
				i++
				return nil
			})
		}); err != nil {
			t.Fatal(err)
		}
	}
	readAll()
	before := mappedRSS(t, db.Info().Data)
	if err := Release(db); err != nil {
		t.Fatal(err)
	}
	after := mappedRSS(t, db.Info().Data)
	if before < 4000 || after > before/8 {
		t.Errorf("resident KiB of the map: %d after reading 8 MB, %d after Release", before, after)
	}
	readAll() // the pages come back from the page cache, intact
	if again := mappedRSS(t, db.Info().Data); again < before/2 {
		t.Errorf("resident KiB %d after reading again: the reads did not go through the map?", again)
	}
}

package durable

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// mappedKiB is the store's resident map, in KiB.
func mappedKiB(t *testing.T, db *bolt.DB) int64 {
	t.Helper()
	n, err := Resident(db)
	if err != nil {
		t.Fatal(err)
	}
	return n >> 10
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
	before := mappedKiB(t, db)
	if err := Release(db); err != nil {
		t.Fatal(err)
	}
	after := mappedKiB(t, db)
	if before < 4000 || after > before/8 {
		t.Errorf("resident KiB of the map: %d after reading 8 MB, %d after Release", before, after)
	}
	readAll() // the pages come back from the page cache, intact
	if again := mappedKiB(t, db); again < before/2 {
		t.Errorf("resident KiB %d after reading again: the reads did not go through the map?", again)
	}
}

//go:build linux

package durable

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestOpenOutOfFileDescriptorsKeepsTheFile: a start that finds no file
// descriptor left fails, and leaves a good state file where it is for the
// next start instead of setting it aside as corrupt.
func TestOpenOutOfFileDescriptorsKeepsTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	db, err := Open(path, logger, time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("kept"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	err = withoutFileDescriptors(t, func() error {
		db, err := Open(path, logger, time.Now, nil)
		if err == nil {
			db.Close()
		}
		return err
	})
	if !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("Open without file descriptors: %v, want EMFILE", err)
	}
	if aside, _ := filepath.Glob(path + ".corrupt-*"); len(aside) > 0 || bytes.Contains(logs.Bytes(), []byte("set aside")) {
		t.Fatalf("a good file was set aside: %v\n%s", aside, logs.String())
	}

	db, err = Open(path, logger, time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got []byte
	db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte("b")); b != nil {
			got = bytes.Clone(b.Get([]byte("k")))
		}
		return nil
	})
	if string(got) != "kept" {
		t.Fatalf("next start read %q, want the stored value", got)
	}
}

// withoutFileDescriptors runs f with every file descriptor the process may
// open in use, and returns its error.
func withoutFileDescriptors(t *testing.T, f func() error) error {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	// A low limit, so that filling it takes few files.
	low := old
	low.Cur = min(old.Cur, 256)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old)
	var held []*os.File
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	for {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, f)
	}
	return f()
}

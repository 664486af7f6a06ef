package dedupe

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/durable"
)

func openT(t *testing.T, dir string, c *clock, logs *bytes.Buffer) *Tracker {
	t.Helper()
	tr, err := OpenTracker(dir, Options{OpenAfter: 1, ResolveAfter: 2}, c.Now, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatalf("OpenTracker: %v", err)
	}
	return tr
}

// freshT opens a tracker on an empty state directory.
func freshT(t *testing.T) (*Tracker, string, *clock, *bytes.Buffer) {
	t.Helper()
	dir, c, logs := t.TempDir(), newClock(), new(bytes.Buffer)
	return openT(t, dir, c, logs), dir, c, logs
}

// crashAndReopen closes tr's file without saving (CloseUnsaved), as a
// crash would leave it, and opens the directory again.
func crashAndReopen(t *testing.T, tr *Tracker, dir string, c *clock, logs *bytes.Buffer) *Tracker {
	t.Helper()
	if err := tr.CloseUnsaved(); err != nil {
		t.Fatal(err)
	}
	return openT(t, dir, c, logs)
}

func TestStateSurvivesRestart(t *testing.T) {
	tr, dir, c, logs := freshT(t)
	tr.Observe("town-a", true, []gastown.Violation{noHook, rig2})
	tr.Observe("town-b", true, []gastown.Violation{rig3})
	c.Add(5 * time.Second)
	tr.Observe("town-b", true, nil) // absent once: still open
	if err := tr.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}
	before := tr.OpenViolations("town-a")
	if err := tr.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	tr = openT(t, dir, c, logs)
	defer tr.Close()
	if got := tr.OpenViolations("town-a"); !reflect.DeepEqual(got, before) {
		t.Fatalf("after restart town-a open = %+v\nwant %+v", got, before)
	}
	if got, want := tr.OpenCounts(), map[string]map[int]int{"town-a": {7: 1, 3: 1}, "town-b": {3: 1}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("OpenCounts after restart = %v, want %v", got, want)
	}
	// town-b's absence run survived: one more absence resolves it, seq 2.
	c.Add(5 * time.Second)
	if got := brief(tr.Observe("town-b", true, nil)); !reflect.DeepEqual(got, []string{"resolved 3 2 " + rig3.Message}) {
		t.Fatalf("town-b after restart: %q", got)
	}
	// A restart while a violation is still present issues nothing.
	if got := tr.Observe("town-a", true, []gastown.Violation{noHook, rig2}); got != nil {
		t.Fatalf("still-open violations re-issued after restart: %v", brief(got))
	}
}

// TestStateWithoutEpochKeepsItsIds: a violation saved before identities
// kept the day of their first transition goes on under the state's origin
// alone, so that an upgrade changes none of its event ids.
func TestStateWithoutEpochKeepsItsIds(t *testing.T) {
	tr, dir, c, logs := freshT(t)
	tr.Observe("town-a", true, []gastown.Violation{noHook})
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	err := tr.store.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTowns)
		old := regexp.MustCompile(`,"epoch":\d+`).ReplaceAll(b.Get([]byte("town-a")), nil)
		return b.Put([]byte("town-a"), old)
	})
	if err != nil {
		t.Fatal(err)
	}
	tr = crashAndReopen(t, tr, dir, c, logs)
	defer tr.Close()
	c.Add(5 * time.Second)
	tr.Observe("town-a", true, nil)
	c.Add(5 * time.Second)
	got := tr.Observe("town-a", true, nil)
	if len(got) != 1 || got[0].Kind != Resolved || got[0].Origin != tr.Origin() {
		t.Fatalf("resolve of a violation saved without its day: %+v, want origin %q", got, tr.Origin())
	}
}

// TestSaveOfManyTownsInChunks: a save of more towns than one transaction
// takes writes them all, and deletes the forgotten towns too.
func TestSaveOfManyTownsInChunks(t *testing.T) {
	tr, dir, c, logs := freshT(t)
	const n = 2*saveChunk + saveChunk/2
	for i := range n {
		tr.Observe(fmt.Sprintf("town-%05d", i), true, []gastown.Violation{noHook})
	}
	tr.Forget("town-00007")
	if err := tr.Save(); err != nil {
		t.Fatalf("Save: %v", err)
	}
	tr = crashAndReopen(t, tr, dir, c, logs)
	defer tr.Close()
	open := tr.OpenCounts()
	if len(open) != n-1 || open["town-00007"] != nil || open[fmt.Sprintf("town-%05d", n-1)][7] != 1 {
		t.Fatalf("after the restart %d towns have open violations (town-00007: %v), want %d without town-00007", len(open), open["town-00007"], n-1)
	}
}

// TestCrashBeforeSave: transitions issued but state not saved are issued
// again after a restart with the same sequence numbers, so the outbox can
// recognise them.
func TestCrashBeforeSave(t *testing.T) {
	tr, dir, c, logs := freshT(t)
	first := tr.Observe("town-a", true, []gastown.Violation{noHook})
	tr = crashAndReopen(t, tr, dir, c, logs) // no Save
	defer tr.Close()
	again := tr.Observe("town-a", true, []gastown.Violation{noHook})
	if len(first) != 1 || len(again) != 1 || first[0].Seq != again[0].Seq || first[0].Identity != again[0].Identity || first[0].Kind != again[0].Kind {
		t.Fatalf("re-issued %v, want the same as %v", again, first)
	}
}

// TestCountersWrittenOncePerInterval: a town that keeps its violation open
// changes only its run counters on each poll; they are written once a
// countersSaveEvery, so a crash in between loses some polls' counts and
// nothing else: the violation is still open, nothing is issued again.
func TestCountersWrittenOncePerInterval(t *testing.T) {
	tr, dir, c, logs := freshT(t)
	observations := func(tr *Tracker) int {
		t.Helper()
		open := tr.OpenViolations("town-a")
		if len(open) != 1 {
			t.Fatalf("open violations %+v, want one", open)
		}
		return open[0].Observations
	}
	crash := func() *Tracker { return crashAndReopen(t, tr, dir, c, logs) }
	tr.Observe("town-a", true, []gastown.Violation{noHook}) // opened: written at once
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c.Add(5 * time.Second)
		tr.Observe("town-a", true, []gastown.Violation{noHook})
		if err := tr.Save(); err != nil {
			t.Fatal(err)
		}
	}
	if got := observations(tr); got != 4 {
		t.Fatalf("observations %d, want 4", got)
	}
	tr = crash()
	if got := observations(tr); got != 1 {
		t.Errorf("after a crash within the interval: %d observations, want the 1 written with the opening", got)
	}
	if again := tr.Observe("town-a", true, []gastown.Violation{noHook}); again != nil {
		t.Fatalf("issued again after the crash: %v", brief(again))
	}
	// The interval passes: the next Save writes the counters.
	c.Add(countersSaveEvery)
	tr.Observe("town-a", true, []gastown.Violation{noHook})
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	tr = crash()
	defer tr.Close()
	if got := observations(tr); got != 3 {
		t.Errorf("after a crash past the interval: %d observations, want 3", got)
	}
}

func TestResolvedSeqSurvivesRestart(t *testing.T) {
	tr, dir, c, logs := freshT(t)
	tr.Observe("town-a", true, []gastown.Violation{noHook})
	tr.Observe("town-a", true, nil)
	tr.Observe("town-a", true, nil) // resolved, seq 2
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	tr = openT(t, dir, c, logs)
	defer tr.Close()
	if got := brief(tr.Observe("town-a", true, []gastown.Violation{noHook})); !reflect.DeepEqual(got, []string{"opened 7 3 " + noHook.Message}) {
		t.Fatalf("reopen after restart = %q, want seq 3", got)
	}
}

// TestExpiredTownLeavesTheFile: a watched town whose resolved identities
// all outlive Retain is deleted from the state file, not left in it to come
// back after a restart with the sequence numbers it had let go.
func TestExpiredTownLeavesTheFile(t *testing.T) {
	tr, dir, c, logs := freshT(t)
	tr.Observe("town-a", true, []gastown.Violation{noHook})
	tr.Observe("town-a", true, nil)
	tr.Observe("town-a", true, nil) // resolved, seq 2
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	c.Add(DefaultRetain + time.Minute)
	tr.Observe("town-a", true, nil) // dormant past Retain: expires
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	tr = crashAndReopen(t, tr, dir, c, logs)
	defer tr.Close()
	err := tr.store.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketTowns).Get([]byte("town-a")); b != nil {
			return fmt.Errorf("record of the expired town still on file: %s", b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := brief(tr.Observe("town-a", true, []gastown.Violation{noHook})); !reflect.DeepEqual(got, []string{"opened 7 1 " + noHook.Message}) {
		t.Fatalf("after expiry and a restart = %q, want seq 1", got)
	}
}

func TestForgetKeepsOnlySequences(t *testing.T) {
	tr, dir, c, logs := freshT(t)
	tr.Observe("town-a", true, []gastown.Violation{noHook})
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	tr.Forget("town-a")
	if !strings.Contains(logs.String(), `msg="town left the watch list; its open violations are dropped without a resolve" town=town-a open_violations=1`) {
		t.Errorf("no Forget log line in %q", logs.String())
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	tr = openT(t, dir, c, logs)
	defer tr.Close()
	if got := tr.OpenCounts(); len(got) != 0 {
		t.Fatalf("forgotten town restored with open violations: %v", got)
	}
	// Its sequence numbers were kept across the restart.
	if got := brief(tr.Observe("town-a", true, []gastown.Violation{noHook})); !reflect.DeepEqual(got, []string{"opened 7 2 " + noHook.Message}) {
		t.Fatalf("forgotten town back after restart: %q", got)
	}
}

// TestReturnWrittenAtOnce: a forgotten town back on the watch list is
// written by the next Save, not a minute later: a crash in between would
// leave it forgotten, its sequence numbers due to expire.
func TestReturnWrittenAtOnce(t *testing.T) {
	tr, dir, c, logs := freshT(t)
	tr.Observe("town-a", true, []gastown.Violation{noHook})
	tr.Forget("town-a")
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	c.Add(5 * time.Second)
	tr.Observe("town-a", true, nil) // back, and clean
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	tr = crashAndReopen(t, tr, dir, c, logs)
	defer tr.Close()
	if got := tr.Towns(); !reflect.DeepEqual(got, []string{"town-a"}) {
		t.Errorf("towns watched after the crash: %v, want town-a", got)
	}
}

func TestCorruptStateSetAside(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"garbage", bytes.Repeat([]byte("not a bolt file "), 1024)},
		{"truncated", []byte{0x00, 0x01}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, StateFile)
			if err := os.WriteFile(path, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			c := newClock()
			var logs bytes.Buffer
			tr := openT(t, dir, c, &logs)
			defer tr.Close()
			aside := path + ".corrupt-" + "1795856400"
			if b, err := os.ReadFile(aside); err != nil || !bytes.Equal(b, tc.content) {
				t.Fatalf("corrupt file not set aside as %s: %v", aside, err)
			}
			if !strings.Contains(logs.String(), "state file unreadable; set aside") {
				t.Errorf("log lacks the set-aside line: %q", logs.String())
			}
			if got := brief(tr.Observe("town-a", true, []gastown.Violation{noHook})); len(got) != 1 {
				t.Fatalf("fresh tracker does not work: %q", got)
			}
			if err := tr.Save(); err != nil {
				t.Fatalf("Save on fresh file: %v", err)
			}
		})
	}
}

func TestBadRecordDropped(t *testing.T) {
	tr, dir, c, logs := freshT(t)
	tr.Observe("town-a", true, []gastown.Violation{noHook})
	tr.Observe("town-b", true, []gastown.Violation{noHook})
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	err := tr.store.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTowns).Put([]byte("town-b"), []byte("{broken"))
	})
	if err != nil {
		t.Fatal(err)
	}
	tr = crashAndReopen(t, tr, dir, c, logs)
	defer tr.Close()
	if got := towns(tr); !reflect.DeepEqual(got, []string{"town-a"}) {
		t.Fatalf("towns = %v, want only town-a", got)
	}
	if !strings.Contains(logs.String(), `msg="dropping unreadable dedupe record" town=town-b`) {
		t.Errorf("no log line for the bad record: %q", logs.String())
	}
}

// TestDroppedRecordGetsItsOwnOrigin: a town whose record was dropped counts
// its sequence numbers from 1 again, under an origin of its own, so that
// its new transitions do not repeat the event ids of those already sent
// (the outbox would discard them as duplicates); the origin is kept
// across restarts, and the other towns keep the state's.
func TestDroppedRecordGetsItsOwnOrigin(t *testing.T) {
	tr, dir, c, logs := freshT(t)
	first := tr.Observe("town-b", true, []gastown.Violation{noHook})
	tr.Observe("town-a", true, []gastown.Violation{noHook})
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	origin := tr.Origin()
	err := tr.store.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTowns).Put([]byte("town-b"), []byte(`{"v":99}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	tr = crashAndReopen(t, tr, dir, c, logs)
	again := tr.Observe("town-b", true, []gastown.Violation{noHook})
	if len(first) != 1 || len(again) != 1 || again[0].Seq != first[0].Seq || again[0].Kind != first[0].Kind {
		t.Fatalf("transitions %v then %v, want the same kind and sequence number", first, again)
	}
	own := again[0].Origin
	if own == EpochOrigin(origin, again[0].At) || own == "" {
		t.Fatalf("origin of the dropped town %q, want its own (the state's is %q)", own, origin)
	}
	if !strings.Contains(logs.String(), "version 99, this tickwatch reads") {
		t.Errorf("the log does not say which version: %q", logs.String())
	}
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	tr = crashAndReopen(t, tr, dir, c, logs)
	defer tr.Close()
	if vs := tr.OpenViolations("town-b"); len(vs) != 1 || vs[0].Origin != own {
		t.Errorf("after a restart: %v, want town-b's violation under its own origin %q", vs, own)
	}
	if vs := tr.OpenViolations("town-a"); len(vs) != 1 || vs[0].Origin != EpochOrigin(origin, vs[0].At) {
		t.Errorf("town-a: %v, want the state's origin %q", vs, origin)
	}
}

func TestLockedStateIsAnError(t *testing.T) {
	defer func(d time.Duration) { durable.LockTimeout = d }(durable.LockTimeout)
	durable.LockTimeout = 50 * time.Millisecond
	tr, dir, c, _ := freshT(t)
	defer tr.Close()
	_, err := OpenTracker(dir, Options{}, c.Now, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "dedupe state: open state file") || !strings.Contains(err.Error(), "another process holds it") || !strings.HasSuffix(err.Error(), "timeout") {
		t.Fatalf("second open of a locked file: err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, StateFile)); err != nil {
		t.Fatalf("locked file was moved: %v", err)
	}
}

func BenchmarkSave10kTowns(b *testing.B) {
	dir := b.TempDir()
	c := newClock()
	tr, err := OpenTracker(dir, Options{OpenAfter: 1, ResolveAfter: 2}, c.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	towns := make([]string, 10000)
	for i := range towns {
		towns[i] = "town-" + strings.Repeat("x", 4) + string(rune('a'+i%26)) + "-" + time.Duration(i).String()
	}
	for b.Loop() {
		c.Add(5 * time.Second)
		for _, town := range towns {
			tr.Observe(town, true, []gastown.Violation{noHook})
		}
		if err := tr.Save(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(towns)), "towns/save")
}

// TestMayNotifyAfterRestartAndReload: a repeat falling due is foreseen by a
// tracker that loaded the violation from its file, and by one whose repeat
// interval a reload shortened.
func TestMayNotifyAfterRestartAndReload(t *testing.T) {
	dir, c, logs := t.TempDir(), newClock(), new(bytes.Buffer)
	opts := Options{OpenAfter: 2, ResolveAfter: 2, RepeatInterval: time.Hour}
	tr, err := OpenTracker(dir, opts, c.Now, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	tr.Observe("town-a", true, []gastown.Violation{noHook})
	if got := brief(tr.Observe("town-a", true, []gastown.Violation{noHook})); len(got) != 1 {
		t.Fatalf("second sighting = %q, want it opened", got)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if tr, err = OpenTracker(dir, opts, c.Now, slog.New(slog.NewTextHandler(logs, nil))); err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	c.Add(30 * time.Minute)
	if tr.MayNotify("town-a", c.Now(), time.Minute) {
		t.Error("a repeat 30 minutes away foreseen within a minute")
	}
	if !tr.MayNotify("town-a", c.Now().Add(29*time.Minute+30*time.Second), time.Minute) {
		t.Error("after the restart, a repeat due within the minute is not foreseen")
	}
	opts.RepeatInterval = 20 * time.Minute
	tr.SetOptions(opts)
	if !tr.MayNotify("town-a", c.Now(), time.Minute) {
		t.Error("after a reload to a 20-minute repeat, the overdue repeat is not foreseen")
	}
	if tr.MayNotify("town-b", c.Now(), time.Minute) {
		t.Error("a town without violations may notify")
	}
}

// TestSaveOfScatteredTownsKeepsTheFileOutOfMemory: a tick's batch of towns
// lies all over the state file. A transaction reads a leaf for each, and its
// commit reads them again; in one transaction, 500 of 10,000 towns left 8 MB
// of the file resident until it was released, on top of the heap.
func TestSaveOfScatteredTownsKeepsTheFileOutOfMemory(t *testing.T) {
	if _, err := durable.MappedFiles(); err != nil {
		t.Skip("the resident set is not measured here:", err)
	}
	tr, dir, c, logs := freshT(t)
	const n, every = 10000, 20
	town := func(i int) string { return fmt.Sprintf("town-%05d", i) }
	for i := range n {
		tr.Observe(town(i), true, []gastown.Violation{noHook})
	}
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	c.Add(5 * time.Second)
	for i := 0; i < n; i += every {
		tr.Observe(town(i), true, []gastown.Violation{noHook, rig2})
	}
	var txs int
	var peak int64
	testHookCommitted = func(db *bolt.DB) {
		r, err := durable.Resident(db)
		if err != nil {
			t.Fatal(err)
		}
		txs++
		peak = max(peak, r)
	}
	defer func() { testHookCommitted = nil }()
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	if peak > saveMappedBudget {
		t.Errorf("%d KiB of the state file resident after a transaction of the save of %d scattered towns (%d transactions), want at most %d", peak>>10, n/every, txs, saveMappedBudget>>10)
	}
	tr = crashAndReopen(t, tr, dir, c, logs)
	defer tr.Close()
	open := tr.OpenCounts()
	for i := range n {
		if want := 1 + btoi(i%every == 0); len(open[town(i)]) != want {
			t.Fatalf("after the restart %s has %d open violations, want %d", town(i), len(open[town(i)]), want)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

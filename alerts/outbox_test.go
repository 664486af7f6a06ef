package alerts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/internal/durable"
)

func TestCorruptOutboxSetAside(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.n.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(h.dir, OutboxFile)
	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 4096)
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	h.open()
	aside := path + ".corrupt-1795856400"
	if b, err := os.ReadFile(aside); err != nil || !bytes.Equal(b, garbage) {
		t.Fatalf("corrupt outbox not set aside as %s: %v", aside, err)
	}
	if !strings.Contains(h.logs.String(), "state file unreadable; set aside, starting with empty state") {
		t.Errorf("no log line: %s", h.logs.String())
	}
	h.enqueue([]dedupe.Transition{transition("a", dedupe.Opened, 1)})
	h.drain()
	if n := len(h.srv.Events()); n != 1 {
		t.Fatalf("fresh outbox sent %d events, want 1", n)
	}
}

func TestUnreadableOutboxEntryDropped(t *testing.T) {
	h := newHarness(t, nil)
	h.enqueue([]dedupe.Transition{transition("a", dedupe.Opened, 1), transition("b", dedupe.Opened, 1)})
	// Damage the first entry on disk behind the notifier's back.
	if err := h.n.box.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPending).Put(keyBytes(1), []byte(`{"event_id":`))
	}); err != nil {
		t.Fatal(err)
	}
	if err := h.n.Close(); err != nil {
		t.Fatal(err)
	}
	h.open()
	if p := h.n.Stats().Pending; p != 1 {
		t.Fatalf("pending %d after reload, want 1", p)
	}
	if !strings.Contains(h.logs.String(), `msg="dropping unreadable outbox entry" key=1`) {
		t.Errorf("no log line for the bad entry: %s", h.logs.String())
	}
	h.drain()
	if evs := h.srv.Events(); len(evs) != 1 || evs[0].Tags["town"] != "b" {
		t.Fatalf("events %v, want town b's only", evs)
	}
	// New entries get keys after the highest one ever seen.
	h.enqueue([]dedupe.Transition{transition("c", dedupe.Opened, 1)})
	if r := h.n.box.eventHead(allClasses); r == nil || r.key != 3 {
		t.Fatalf("new entry key %v, want 3", r)
	}
}

func TestDoneIDsPruned(t *testing.T) {
	h := newHarness(t, nil)
	tr := transition("a", dedupe.Opened, 1)
	h.enqueue([]dedupe.Transition{tr})
	h.drain()
	for _, tc := range []struct {
		advance time.Duration
		pruned  int
	}{{DefaultDoneRetention - time.Second, 0}, {2 * time.Second, 1}} {
		h.clock.Add(tc.advance)
		n, err := h.n.box.pruneDone(h.clock.Now(), DefaultDoneRetention)
		if err != nil || n != tc.pruned {
			t.Fatalf("after %s: pruned %d (%v), want %d", tc.advance, n, err, tc.pruned)
		}
	}
	if DefaultDoneRetention >= dedupe.DefaultRetain {
		t.Fatalf("done ids (%s) must be forgotten before the tracker reuses sequences (%s)", DefaultDoneRetention, dedupe.DefaultRetain)
	}
}

func TestEnqueueFailureKeptAndRetried(t *testing.T) {
	h := newHarness(t, nil)
	// Make the outbox unwritable by closing its file under the notifier.
	h.closeBox()
	err := h.n.Enqueue([]dedupe.Transition{transition("a", dedupe.Opened, 1)})
	if err == nil || !strings.Contains(err.Error(), "enqueue 1 transitions: write sentry outbox") {
		t.Fatalf("Enqueue on a closed outbox: %v", err)
	}
	h.reopenBox(false)
	h.enqueue([]dedupe.Transition{transition("b", dedupe.Opened, 1)})
	if p := h.n.Stats().Pending; p != 2 {
		t.Fatalf("pending %d, want the kept transition and the new one", p)
	}
}

// TestDoneMarkFailureBacksOff: Sentry accepts but the outbox cannot record
// it. The entry stays pending and is sent again after a backoff, not again
// and again within the same round.
func TestDoneMarkFailureBacksOff(t *testing.T) {
	h := newHarness(t, nil)
	h.enqueue([]dedupe.Transition{transition("a", dedupe.Opened, 1)})
	h.closeBox()
	h.reopenBox(true)
	for i, want := range []time.Duration{time.Second, 2 * time.Second} {
		if got := h.n.SendDue(context.Background()); got != want {
			t.Fatalf("round %d: wait %s, want %s", i, got, want)
		}
		if got := h.srv.Requests(); got != i+1 {
			t.Fatalf("round %d: %d requests, want %d", i, got, i+1)
		}
		h.clock.Add(want)
	}
	if got := h.n.Stats(); got != (Stats{Sent: 2, Pending: 1}) {
		t.Fatalf("stats while the outbox is unwritable %+v", got)
	}
	if !strings.Contains(h.logs.String(), `msg="cannot update sentry outbox"`) {
		t.Errorf("no log line for the failed done mark: %s", h.logs.String())
	}
	h.closeBox()
	h.reopenBox(false)
	if got := h.n.SendDue(context.Background()); got != 0 {
		t.Fatalf("wait %s once the outbox is writable, want 0", got)
	}
	if got := h.n.Stats(); got != (Stats{Sent: 3}) {
		t.Errorf("stats after recovery %+v", got)
	}
	if ids := eventIDs(h.srv.Events()); len(ids) != 1 {
		t.Errorf("%d distinct event ids, want the one transition's", len(ids))
	}
}

// TestEnqueueFailureHoldsAtMostMaxPending: while the outbox cannot be
// written, the transitions held in memory are capped like the outbox, and
// what the cap gives up is counted.
func TestEnqueueFailureHoldsAtMostMaxPending(t *testing.T) {
	h := newHarness(t, nil)
	if err := h.n.Close(); err != nil {
		t.Fatal(err)
	}
	h.open(WithMaxPending(2))
	h.closeBox()
	err := h.n.Enqueue([]dedupe.Transition{transition("a", dedupe.Opened, 1), transition("b", dedupe.Opened, 1), transition("c", dedupe.Opened, 1)})
	if err == nil || !strings.HasPrefix(err.Error(), "enqueue 2 transitions: ") {
		t.Fatalf("Enqueue on a closed outbox: %v", err)
	}
	if got := h.n.Stats(); got != (Stats{Dropped: 1, Pending: 2, Unsaved: 2}) {
		t.Fatalf("stats %+v, want the oldest dropped and counted, two held in memory", got)
	}
	h.reopenBox(false)
	h.enqueue(nil)
	h.drain()
	var got []string
	for _, e := range h.srv.Events() {
		got = append(got, e.Tags["town"])
	}
	if want := []string{"b", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("sent towns %v, want %v", got, want)
	}
}

// TestFlushFailsWhileTransitionsAreHeldInMemory: a shutdown's flush does
// not report an empty outbox while transitions that could not be written
// are held in memory (the sidecar then leaves the tracker unsaved), and
// writes and sends them once the outbox takes writes again.
func TestFlushFailsWhileTransitionsAreHeldInMemory(t *testing.T) {
	h := newHarness(t, nil)
	h.closeBox()
	h.reopenBox(true)
	if err := h.n.Enqueue([]dedupe.Transition{transition("a", dedupe.Opened, 1)}); err == nil {
		t.Fatal("Enqueue into a read-only outbox succeeded")
	}
	if s := h.n.Stats(); s.Unsaved != 1 || s.Pending != 1 {
		t.Fatalf("stats %+v, want the transition unsaved and pending", s)
	}
	err := h.n.Flush(50 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "1 transitions held in memory will be issued again at the next start") {
		t.Fatalf("Flush: %v, want an error naming the unsaved transition", err)
	}
	h.closeBox()
	h.reopenBox(false)
	if err := h.n.Flush(5 * time.Second); err != nil {
		t.Fatalf("Flush once the outbox is writable: %v", err)
	}
	if s := h.n.Stats(); s.Unsaved != 0 || s.Pending != 0 || s.Sent != 1 {
		t.Errorf("stats after the flush %+v, want the transition sent", s)
	}
}

// TestTriageStaysOnDisk: the queue in memory holds no triage, also after a
// restart; a rewritten entry keeps it, and the event reads it from the store.
func TestTriageStaysOnDisk(t *testing.T) {
	h := newHarness(t, nil)
	tr := transition("a", dedupe.Opened, 1)
	tr.Triage = &gastown.Triage{Rig: "rig-x", RecentEvents: []gastown.RecentEvent{{Time: t0, Type: "hooked", Message: "polecat-1 hooked"}}}
	h.enqueue([]dedupe.Transition{tr})
	inMemory := func() *record {
		h.n.box.mu.Lock()
		defer h.n.box.mu.Unlock()
		if len(h.n.box.pending) != 1 {
			t.Fatalf("%d entries pending, want 1", len(h.n.box.pending))
		}
		for _, r := range h.n.box.pending {
			if r.Transition != nil {
				t.Errorf("the pending entry holds its transition in memory")
			}
			return r
		}
		return nil
	}
	r := inMemory()
	if _, err := h.n.box.pick(r, false); err != nil {
		t.Fatal(err)
	}
	if r.Transition == nil || r.Transition.Town != "a" || r.Transition.Triage != nil {
		t.Fatalf("picked transition %+v, want town a without its triage", r.Transition)
	}
	if err := h.n.box.save(r); err != nil {
		t.Fatal(err)
	}
	if got, err := h.n.box.pick(r, true); err != nil || got == nil || got.Rig != "rig-x" || len(got.RecentEvents) != 1 {
		t.Fatalf("triage read from the store after a rewrite = %+v", got)
	}
	if err := h.n.Close(); err != nil {
		t.Fatal(err)
	}
	h.open()
	inMemory()
	h.drain()
	evs := h.srv.Events()
	if len(evs) != 1 || evs[0].Tags["rig"] != "rig-x" || !strings.Contains(string(evs[0].Raw), "polecat-1 hooked") {
		t.Fatalf("events %d, the first without the stored triage: %+v", len(evs), evs)
	}
}

// TestUnreadableEntryWaits: an entry the sender cannot read back from the
// store is neither sent bare nor dropped: the sender backs off, and sends it
// whole once the store reads again.
func TestUnreadableEntryWaits(t *testing.T) {
	h := newHarness(t, nil)
	tr := transition("a", dedupe.Opened, 1)
	h.enqueue([]dedupe.Transition{tr})
	h.closeBox()
	for i, want := range []time.Duration{time.Second, 2 * time.Second} {
		if got := h.n.SendDue(context.Background()); got != want {
			t.Fatalf("round %d: wait %s, want %s", i, got, want)
		}
		h.clock.Add(want)
	}
	if got := h.n.Stats(); got != (Stats{Pending: 1}) || h.srv.Requests() != 0 {
		t.Fatalf("stats %+v and %d requests while the store cannot be read, want 1 pending, none sent", got, h.srv.Requests())
	}
	if !strings.Contains(h.logs.String(), `msg="cannot read sentry outbox"`) {
		t.Errorf("no log line for the unreadable entry: %s", h.logs.String())
	}
	h.reopenBox(false)
	if got := h.n.SendDue(context.Background()); got != 0 {
		t.Fatalf("wait %s once the store reads, want 0", got)
	}
	evs := h.srv.Events()
	if len(evs) != 1 || evs[0].Tags["town"] != "a" || !strings.Contains(string(evs[0].Raw), tr.Message) {
		t.Fatalf("events %+v, want town a's, with its message", evs)
	}
}

// TestQueueKeepsTransitionsOnDisk: of a queue of many entries, memory holds
// the transition of the one being sent only, also after a restart, and
// every entry is sent whole.
func TestQueueKeepsTransitionsOnDisk(t *testing.T) {
	h := newHarness(t, nil)
	var ts []dedupe.Transition
	for i := range 50 {
		ts = append(ts, transition(fmt.Sprintf("town-%02d", i), dedupe.Opened, 1))
	}
	h.enqueue(ts)
	held := func() (n int) {
		h.n.box.mu.Lock()
		defer h.n.box.mu.Unlock()
		for _, r := range h.n.box.pending {
			if r.Transition != nil {
				n++
			}
		}
		return n
	}
	if n := held(); n != 0 {
		t.Fatalf("%d of 50 queued entries hold their transition in memory", n)
	}
	h.srv.Script(sentrytest.Reply{Status: 503})
	h.n.SendDue(context.Background()) // picks the head, which Sentry refuses
	if n := held(); n != 1 {
		t.Fatalf("%d entries hold their transition after one attempt, want the head's", n)
	}
	if err := h.n.Close(); err != nil {
		t.Fatal(err)
	}
	h.open()
	if n := held(); n != 0 {
		t.Fatalf("%d entries hold their transition after a restart", n)
	}
	h.drain()
	var towns []string
	for _, e := range h.srv.Events() {
		if !strings.Contains(string(e.Raw), "has no hook") {
			t.Errorf("event %s without the violation's message", e.EventID)
		}
		towns = append(towns, e.Tags["town"])
	}
	if len(towns) != 50 || towns[0] != "town-00" || towns[49] != "town-49" {
		t.Errorf("sent towns %v, want town-00 to town-49 in order", towns)
	}
}

// Reading the queued events' triage maps the outbox file's pages; pruning,
// which walks every done id, and a sending pass give them back to the
// system.
func TestOutboxGivesItsPagesBack(t *testing.T) {
	h := newHarness(t, nil)
	box := h.n.box
	if _, err := durable.Resident(box.db); errors.Is(err, errors.ErrUnsupported) {
		t.Skip(err)
	}
	var ts []dedupe.Transition
	for i := range 1500 { // about 6 MB of triage on disk
		tr := transition(fmt.Sprintf("town-%04d", i), dedupe.Opened, 1)
		tr.Triage = &gastown.Triage{Rig: strings.Repeat("r", 4000)}
		ts = append(ts, tr)
	}
	h.enqueue(ts)
	// readAll reads every pending entry's triage and returns the map's
	// resident bytes then.
	readAll := func() int64 {
		box.mu.Lock()
		pending := slices.Collect(maps.Values(box.pending))
		box.mu.Unlock()
		for _, r := range pending {
			if tr, err := box.pick(r, true); err != nil || tr == nil || len(tr.Rig) != 4000 {
				t.Fatalf("triage of %s not read back", r.EventID)
			}
		}
		return resident(t, box)
	}
	read := readAll()
	if _, err := box.pruneDone(h.clock.Now(), DefaultDoneRetention); err != nil {
		t.Fatal(err)
	}
	if after := resident(t, box); read < 4<<20 || after > read/8 {
		t.Errorf("outbox map resident: %d bytes after reading the triage, %d after pruning", read, after)
	}
	read = readAll()
	h.drain() // sending reads each entry's triage too
	if got := len(h.srv.Events()); got != len(ts) {
		t.Fatalf("%d events sent, want %d", got, len(ts))
	}
	if after := resident(t, box); read < 4<<20 || after > read/8 {
		t.Errorf("outbox map resident: %d bytes after reading the triage, %d after sending", read, after)
	}
}

func resident(t *testing.T, box *outbox) int64 {
	t.Helper()
	n, err := durable.Resident(box.db)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

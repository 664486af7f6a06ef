package alerts

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"

	bolt "go.etcd.io/bbolt"
)

// clock is a manual time source shared by tracker, notifier and limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

var t0 = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

func newClock() *clock { return &clock{t: t0} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func sentryCfg(dsn string) config.Sentry {
	c := config.Default().Sentry
	c.DSN = commoncfg.Secret(dsn)
	return c
}

type harness struct {
	t     *testing.T
	srv   *sentrytest.Server
	clock *clock
	dir   string
	cfg   config.Sentry
	logs  *syncBuffer
	n     *Notifier
}

func newHarness(t *testing.T, mod func(*config.Sentry)) *harness {
	t.Helper()
	srv := sentrytest.NewServer()
	t.Cleanup(srv.Close)
	h := &harness{t: t, srv: srv, clock: newClock(), dir: t.TempDir(), cfg: sentryCfg(srv.DSN()), logs: &syncBuffer{}}
	if mod != nil {
		mod(&h.cfg)
	}
	h.open()
	return h
}

func (h *harness) open(opts ...Option) {
	h.t.Helper()
	n, err := NewNotifier(h.cfg, 3, h.dir, h.clock.Now, slog.New(slog.NewTextHandler(h.logs, nil)), opts...)
	if err != nil {
		h.t.Fatalf("NewNotifier: %v", err)
	}
	h.n = n
	h.t.Cleanup(func() { _ = n.Close() })
}

// drain runs SendDue, advancing the manual clock by each wait, until the
// outbox is empty, and fails if any envelope was malformed. It returns the
// waits it was asked for.
func (h *harness) drain() []time.Duration {
	h.t.Helper()
	var waits []time.Duration
	for i := 0; ; i++ {
		if i > 1_000_000 {
			h.t.Fatalf("outbox never drained: %+v", h.n.Stats())
		}
		w := h.n.SendDue(context.Background())
		if w == 0 {
			if p := h.n.Stats().Pending; p != 0 {
				h.t.Fatalf("SendDue returned 0 with %d pending", p)
			}
			if r := h.srv.Rejected(); len(r) > 0 {
				h.t.Fatalf("the Sentry endpoint refused malformed envelopes: %q", r)
			}
			return waits
		}
		waits = append(waits, w)
		h.clock.Add(w)
	}
}

func (h *harness) enqueue(ts []dedupe.Transition) {
	h.t.Helper()
	if err := h.n.Enqueue(ts); err != nil {
		h.t.Fatalf("Enqueue: %v", err)
	}
}

func eventIDs(evs []sentrytest.Event) map[string]int {
	m := map[string]int{}
	for _, e := range evs {
		m[e.EventID]++
	}
	return m
}

var (
	noHook = gastown.Violation{Invariant: 7, Message: "Working agent 7f3c2a10-5b1e-4c1d-9a61-0e2f4b7c8d90 has no hook"}
	rigMRs = func(n int) gastown.Violation {
		return gastown.Violation{Invariant: 3, Message: "Rig rig-main has " + strconv.Itoa(n) + " in_progress MR beads (should be at most 1)"}
	}
)

// transition makes a transition for tests that need no tracker.
func transition(town string, kind dedupe.Kind, seq uint64) dedupe.Transition {
	v := noHook
	return dedupe.Transition{
		Town: town, Identity: dedupe.Identity(v), Invariant: v.Invariant, Message: v.Message, Subject: dedupe.Subject(v),
		Source: gastown.DerivedFromStatus, Kind: kind, Seq: seq, At: t0, FirstSeen: t0.Add(-10 * time.Second), LastSeen: t0, Observations: 3,
		Origin: dedupe.EpochOrigin("", t0), // as a memory-only tracker's, on t0's day
	}
}

func slogText(w *syncBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// token is the auth token the resolving harness writes to its token file.
const token = "sntrys_test-token"

// newResolvingHarness is a harness whose notifier resolves issues through
// the test server's web API, with a token holding the given scopes.
func newResolvingHarness(t *testing.T, scopes []string, mod func(*config.Sentry)) *harness {
	t.Helper()
	srv := sentrytest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddToken(token, scopes...)
	h := &harness{t: t, srv: srv, clock: newClock(), dir: t.TempDir(), cfg: sentryCfg(srv.DSN()), logs: &syncBuffer{}}
	h.cfg.AuthTokenFile, h.cfg.Organization = writeToken(t, token), srv.Org
	h.cfg.MaxEventsPerSecond, h.cfg.Burst = 1000, 100
	if mod != nil {
		mod(&h.cfg)
	}
	h.open()
	return h
}

var allScopes = []string{"org:read", "event:write"}

func writeToken(t *testing.T, tok string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sentry-token")
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// calls lists the web API requests as "METHOD path status".
func calls(srv *sentrytest.Server) []string {
	var out []string
	for _, c := range srv.APICalls() {
		out = append(out, fmt.Sprintf("%s %s %d", c.Method, c.Path, c.Status))
	}
	return out
}

// closeBox closes the outbox's file under the notifier: nothing can be
// written to it or read from it until reopenBox.
func (h *harness) closeBox() {
	h.t.Helper()
	if err := h.n.box.db.Close(); err != nil {
		h.t.Fatal(err)
	}
}

// reopenBox opens the outbox's file again under the notifier; read-only, it
// is a disk that serves reads and refuses writes.
func (h *harness) reopenBox(readOnly bool) {
	h.t.Helper()
	db, err := bolt.Open(filepath.Join(h.dir, OutboxFile), 0o600, &bolt.Options{ReadOnly: readOnly})
	if err != nil {
		h.t.Fatal(err)
	}
	h.n.box.db = db
}

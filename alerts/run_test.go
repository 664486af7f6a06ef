package alerts

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
)

// waitFor polls cond until it holds or the deadline passes: Run is a real
// goroutine talking to a real HTTP server on wall-clock time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRunConcurrent drives the whole path as the sidecar does: many
// goroutines observe towns and enqueue, a scraper reads counts, and Run
// delivers on wall-clock time until cancelled.
func TestRunConcurrent(t *testing.T) {
	srv := sentrytest.NewServer()
	defer srv.Close()
	srv.Script(sentrytest.Reply{Status: 503}) // one failure: Run must come back after the backoff
	cfg := sentryCfg(srv.DSN())
	cfg.MaxEventsPerSecond, cfg.Burst = 10000, 1000
	n, err := NewNotifier(cfg, 0, t.TempDir(), time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	tr, err := dedupe.OpenTracker(t.TempDir(), dedupe.Options{OpenAfter: 1, ResolveAfter: 1}, time.Now, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()

	const towns = 40
	var wg sync.WaitGroup
	for i := range towns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			town := fmt.Sprintf("town-%02d", i)
			for _, vs := range [][]gastown.Violation{{noHook}, {noHook}, nil} { // opened, -, resolved
				if err := n.Enqueue(tr.Observe(town, true, vs)); err != nil {
					t.Errorf("Enqueue: %v", err)
				}
				_ = tr.OpenCounts()
				_ = n.Stats()
			}
		}()
	}
	wg.Wait()
	if err := tr.Save(); err != nil {
		t.Fatal(err)
	}
	// The server records an event before it answers, and Run books the
	// answer after: wait for the notifier's own count, which is what the
	// assertion reads. Cancelling while the last answer is on its way would
	// rightly leave that entry pending for the next start.
	want := Stats{Sent: 2 * towns, Failed: 1}
	waitFor(t, "80 events booked as sent", func() bool { return n.Stats() == want })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := n.Stats(); got != want {
		t.Errorf("stats %+v", got)
	}
	if got := len(srv.Events()); got != 2*towns {
		t.Errorf("server received %d events, want %d", got, 2*towns)
	}
	if got := len(eventIDs(srv.Events())); got != 2*towns {
		t.Errorf("%d distinct ids, want %d", got, 2*towns)
	}
	if got := tr.TransitionCounts(); got[dedupe.Opened] != towns || got[dedupe.Resolved] != towns {
		t.Errorf("transition counts %v", got)
	}
}

// TestReloadKeepsSentrysPause: a reload with the same DSN does not send
// into the pause a 429 asked for; one with another DSN sends at once.
func TestReloadKeepsSentrysPause(t *testing.T) {
	h := newHarness(t, nil)
	h.srv.Script(sentrytest.Reply{Status: 429, Header: http.Header{"Retry-After": {"30"}}})
	h.enqueue([]dedupe.Transition{transition("a", dedupe.Opened, 1)})
	if w := h.n.SendDue(context.Background()); w != 30*time.Second {
		t.Fatalf("wait after the 429: %s, want 30s", w)
	}
	cfg := h.cfg
	cfg.Environment = "canary"
	if err := h.n.Update(cfg, 3); err != nil {
		t.Fatal(err)
	}
	if w := h.n.SendDue(context.Background()); w != 30*time.Second || h.srv.Requests() != 1 {
		t.Fatalf("after a reload with the same DSN: wait %s and %d requests, want 30s and 1", w, h.srv.Requests())
	}
	other := sentrytest.NewServer()
	defer other.Close()
	cfg.DSN = sentryCfg(other.DSN()).DSN
	if err := h.n.Update(cfg, 3); err != nil {
		t.Fatal(err)
	}
	if w := h.n.SendDue(context.Background()); w != 0 || len(other.Events()) != 1 {
		t.Fatalf("after a reload with another DSN: wait %s and %d events there, want 0 and 1", w, len(other.Events()))
	}
}

// gatedTransport holds the first request until release is closed.
type gatedTransport struct {
	once             sync.Once
	entered, release chan struct{}
}

func (g *gatedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
	return http.DefaultTransport.RoundTrip(r)
}

// TestReloadDoesNotWaitForTheDrain: a reload returns while an event is on
// its way to Sentry (it used to wait until the outbox was empty: with a
// slow Sentry and a backlog, hours), and the events after that one go to
// the reloaded DSN.
func TestReloadDoesNotWaitForTheDrain(t *testing.T) {
	h := newHarness(t, func(c *config.Sentry) { c.MaxEventsPerSecond, c.Burst = 1000, 100 })
	if err := h.n.Close(); err != nil {
		t.Fatal(err)
	}
	gate := &gatedTransport{entered: make(chan struct{}), release: make(chan struct{})}
	h.open(WithHTTPClient(&http.Client{Transport: gate}))
	h.enqueue([]dedupe.Transition{transition("a", dedupe.Opened, 1), transition("b", dedupe.Opened, 1), transition("c", dedupe.Opened, 1)})
	drained := make(chan time.Duration, 1)
	go func() { drained <- h.n.SendDue(context.Background()) }()
	<-gate.entered // town a's event is on its way

	other := sentrytest.NewServer()
	defer other.Close()
	cfg := h.cfg
	cfg.DSN = sentryCfg(other.DSN()).DSN
	updated := make(chan error, 1)
	go func() { updated <- h.n.Update(cfg, 3) }()
	select {
	case err := <-updated:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		close(gate.release) // so that the notifier can close
		t.Fatal("Update waits for the event on its way")
	}
	close(gate.release)
	if w := <-drained; w != 0 {
		t.Fatalf("SendDue returned %s, want 0 with the outbox drained", w)
	}
	towns := func(evs []sentrytest.Event) (out []string) {
		for _, e := range evs {
			out = append(out, e.Tags["town"])
		}
		return out
	}
	if old, nu := towns(h.srv.Events()), towns(other.Events()); !slices.Equal(old, []string{"a"}) || !slices.Equal(nu, []string{"b", "c"}) {
		t.Errorf("events at the old DSN %v and the new one %v, want [a] and [b c]", old, nu)
	}
}

func TestUpdate(t *testing.T) {
	h := newHarness(t, nil)
	other := sentrytest.NewServer()
	defer other.Close()
	cfg := h.cfg
	cfg.DSN = sentryCfg(other.DSN()).DSN
	cfg.Environment, cfg.SendResolved, cfg.GroupBy = "canary", false, []string{"town"}
	cfg.MaxEventsPerSecond, cfg.Burst = 1000, 1000
	if err := h.n.Update(cfg, 9); err != nil {
		t.Fatal(err)
	}
	h.enqueue([]dedupe.Transition{transition("a", dedupe.Opened, 1), transition("a", dedupe.Resolved, 2)})
	if waits := h.drain(); waits != nil {
		t.Errorf("waits %v with the raised limit", waits)
	}
	evs := other.Events()
	if len(h.srv.Events()) != 0 || len(evs) != 1 {
		t.Fatalf("old server %d events, new server %d, want 0 and 1", len(h.srv.Events()), len(evs))
	}
	if ev := evs[0]; ev.Environment != "canary" || ev.Tags["shard"] != "9" || len(ev.Fingerprint) != 2 || ev.Fingerprint[1] != "a" {
		t.Errorf("event after update: env %q shard %q fingerprint %q", ev.Environment, ev.Tags["shard"], ev.Fingerprint)
	}
	if err := h.n.Update(config.Sentry{}, 0); err == nil || err.Error() != "sentry.dsn: switching between log-only mode and Sentry needs a restart" {
		t.Errorf("switch to log-only: %v", err)
	}
}

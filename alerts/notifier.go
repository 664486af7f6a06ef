package alerts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/getsentry/sentry-go"
	"golang.org/x/time/rate"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/dedupe"
	"github.com/tickwatch/tickwatch/gastown"
)

// Defaults of the notifier's bounds.
const (
	DefaultMaxPending    = 100000
	DefaultDoneRetention = 72 * time.Hour // below dedupe.DefaultRetain, see outbox.pruneDone
	DefaultSendTimeout   = 10 * time.Second
)

// Stats are the notifier's counters since the process started.
type Stats struct {
	Sent        uint64 // events Sentry accepted (2xx)
	Failed      uint64 // attempts that failed: network error, 5xx, 401/403, or 4xx rejection
	RateLimited uint64 // attempts answered 429
	Dropped     uint64 // entries given up: outbox full, or rejected by Sentry with a 4xx
	Logged      uint64 // transitions written to the log because no DSN is configured
	Duplicates  uint64 // transitions enqueued again (same event id) and ignored
	Pending     int    // entries in the outbox now, with those held in memory (Unsaved)
	// Unsaved are transitions held in memory because the outbox could not
	// be written; Enqueue retries them. They are lost with the process
	// unless the caller can issue them again (the sidecar's saved violation
	// state does, at the next start).
	Unsaved int

	Lookup, Resolve APIStats // the web API calls that resolve issues
	// Unresolved counts resolves given up: the issue could not be found
	// (LookupPatience of 404s, no event of it accepted) or the API refused
	// the call for good. The issue stays open in Sentry.
	Unresolved uint64
}

// APIStats count the answers to one web API call.
type APIStats struct {
	Success     uint64 // 2xx
	NotFound    uint64 // 404
	Failed      uint64 // network error, 5xx, 401/403, other 4xx
	RateLimited uint64 // 429
}

// Option tunes a Notifier.
type Option func(*Notifier)

// WithHTTPClient sets the client used to reach Sentry (default: a client
// with DefaultSendTimeout).
func WithHTTPClient(c *http.Client) Option { return func(n *Notifier) { n.hc = c } }

// WithMaxPending caps the outbox (default DefaultMaxPending).
func WithMaxPending(max int) Option { return func(n *Notifier) { n.maxPending = max } }

// WithDoneRetention sets how long sent event ids are remembered.
func WithDoneRetention(d time.Duration) Option { return func(n *Notifier) { n.doneRetention = d } }

// WithOpenViolations tells the notifier which violations are open (the
// tracker's, after the tick's observations): a resolved violation resolves
// its Sentry issue only when no other open violation shares its fingerprint.
func WithOpenViolations(open func() []dedupe.Transition) Option {
	return func(n *Notifier) { n.openViolations = open }
}

// LookupPatience bounds how long a resolve retries a lookup that Sentry
// answers 404 (the event accepted but not processed yet) before it gives up.
const LookupPatience = 30 * time.Minute

// Notifier turns violation transitions into Sentry events, and with an
// auth token resolves the issue of a violation that cleared. Enqueue writes
// them to a durable outbox; Run (or Flush, or SendDue) sends them under a
// rate limit, keeping each until Sentry accepts it. With an empty DSN, each
// transition is a log line instead and nothing is stored.
//
// All methods are safe for concurrent use.
type Notifier struct {
	logger         *slog.Logger
	now            func() time.Time
	spec           atomic.Pointer[eventSpec]
	sendResolved   atomic.Bool
	hc             *http.Client
	maxPending     int
	doneRetention  time.Duration
	openViolations func() []dedupe.Transition

	// Sentry mode only.
	client    *sentry.Client
	transport *envelopeTransport
	limiter   *rate.Limiter
	box       *outbox
	wake      chan struct{}
	api       atomic.Pointer[issueAPI] // nil without an auth token

	// reload is a reloaded DSN's client, which the sender takes up between
	// two entries: a reload never waits for a drain of the outbox.
	reload atomic.Pointer[reloadedClient]
	specMu sync.Mutex // serialises changes to spec

	sendMu      sync.Mutex // one delivery at a time; guards the fields below
	pausedUntil time.Time
	failures    int
	project     string // the DSN's host and project: issues are per project
	// The web API has its own pause: a refused token or an API outage must
	// not hold back the events.
	apiPausedUntil time.Time
	apiFailures    int
	authReported   bool // the token's refusal is logged once

	unsavedMu sync.Mutex
	unsaved   []entry // enqueued while the outbox could not be written

	sent, failed, rateLimited, dropped, logged, duplicates, unresolved atomic.Uint64
	lookupStats, resolveStats                                          apiCounters
}

type apiCounters struct{ success, notFound, failed, rateLimited atomic.Uint64 }

func (c *apiCounters) load() APIStats {
	return APIStats{Success: c.success.Load(), NotFound: c.notFound.Load(), Failed: c.failed.Load(), RateLimited: c.rateLimited.Load()}
}

// NewNotifier opens the outbox in stateDir and prepares the Sentry client.
// The DSN is a secret: it is used to build the client and appears in no log
// line or error. An empty DSN selects log-only mode.
func NewNotifier(cfg config.Sentry, shard int, stateDir string, now func() time.Time, logger *slog.Logger, opts ...Option) (*Notifier, error) {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{
		logger:        logger,
		now:           now,
		maxPending:    DefaultMaxPending,
		doneRetention: DefaultDoneRetention,
		wake:          make(chan struct{}, 1),
	}
	n.spec.Store(&eventSpec{environment: cfg.Environment, release: cfg.Release, shard: shard, groupBy: cfg.GroupBy})
	n.sendResolved.Store(cfg.SendResolved)
	for _, o := range opts {
		o(n)
	}
	dsn := string(cfg.DSN)
	if dsn == "" {
		logger.Info("no Sentry DSN configured; violation transitions go to the log only")
		return n, nil
	}
	if n.hc == nil {
		n.hc = &http.Client{Timeout: DefaultSendTimeout}
	}
	var err error
	if n.client, n.transport, err = newClient(dsn, cfg, n.hc, now); err != nil {
		return nil, err
	}
	n.project = project(n.transport.dsn)
	api, err := newIssueAPI(cfg, n.transport.dsn, n.hc, now)
	if err != nil {
		return nil, err
	}
	n.api.Store(api)
	if api == nil {
		logger.Info("no sentry.auth_token_file: Sentry issues will not resolve by themselves; a cleared violation is sent as an info event into its issue")
	} else {
		logger.Info("Sentry issues follow their violations: a cleared violation resolves its issue through the web API", "api", api.base, "organization", api.org)
	}
	n.limiter = newLimiter(cfg.MaxEventsPerSecond, cfg.Burst)
	n.box, err = openOutbox(stateDir, n.maxPending, now, logger)
	if err != nil {
		return nil, err
	}
	if p := n.box.len(); p > 0 {
		logger.Info("sentry outbox has events from a previous run", "pending", p)
	}
	return n, nil
}

// newIssueAPI prepares the web API calls, or returns nil without a token.
func newIssueAPI(cfg config.Sentry, dsn *sentry.Dsn, hc *http.Client, now func() time.Time) (*issueAPI, error) {
	if cfg.AuthTokenFile == "" {
		return nil, nil
	}
	tok, err := config.ReadTokenFile(cfg.AuthTokenFile)
	if err != nil {
		return nil, fmt.Errorf("sentry.auth_token_file: %w", err)
	}
	return &issueAPI{base: apiBase(cfg.APIURL, dsn), org: cfg.Organization, token: tok, hc: hc, now: now, agent: "tickwatch/" + sentry.SDKVersion}, nil
}

// project names the DSN's project without its key: issue keys start with it.
func project(dsn *sentry.Dsn) string {
	u := dsn.GetAPIURL()
	return u.Host + dsn.GetPath() + "/" + dsn.GetProjectID()
}

// newClient builds a sentry client whose transport reports each outcome.
func newClient(dsn string, cfg config.Sentry, hc *http.Client, now func() time.Time) (*sentry.Client, *envelopeTransport, error) {
	parsed, err := sentry.NewDsn(dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("sentry.dsn: %s", safeDSNError(err, dsn))
	}
	tr := &envelopeTransport{dsn: parsed, hc: hc, now: now, client: "tickwatch/" + sentry.SDKVersion}
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:                    dsn,
		Transport:              tr,
		Environment:            cfg.Environment,
		Release:                cfg.Release,
		DisableTelemetryBuffer: true,
		DisableClientReports:   true,
		SampleRate:             1,
		// The runtime/os context is useful; the module list is noise.
		Integrations: func(is []sentry.Integration) []sentry.Integration {
			out := is[:0]
			for _, i := range is {
				if i.Name() != "Modules" {
					out = append(out, i)
				}
			}
			return out
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sentry client: %s", safeDSNError(err, dsn))
	}
	return client, tr, nil
}

func newLimiter(perSecond float64, burst int) *rate.Limiter {
	limit := rate.Limit(perSecond)
	if perSecond <= 0 {
		limit = rate.Inf
	}
	if burst < 1 {
		burst = 1
	}
	return rate.NewLimiter(limit, burst)
}

// safeDSNError describes a DSN problem without the DSN.
func safeDSNError(err error, dsn string) string {
	var pe *sentry.DsnParseError
	msg := err.Error()
	if errors.As(err, &pe) {
		msg = pe.Message
	}
	if strings.HasPrefix(msg, "invalid url") {
		return "invalid URL"
	}
	return strings.ReplaceAll(msg, dsn, "<secret>")
}

// Enqueue makes the transitions durable before it returns (Sentry mode) or
// logs them (log-only mode). Resolved transitions are skipped unless
// send_resolved is set. With an auth token, a resolved transition resolves
// its Sentry issue instead of sending an event, and only when no other open
// violation shares the issue. A transition whose event id is pending or was
// already sent is ignored, so re-issuing a tick's transitions is harmless.
// If the outbox cannot be written, the transitions are kept in memory, retried
// with the next Enqueue, and the error is returned.
func (n *Notifier) Enqueue(ts []dedupe.Transition) error {
	if n.box == nil {
		for _, t := range ts {
			if t.Kind != dedupe.Resolved || n.sendResolved.Load() {
				n.logTransition(t)
			}
		}
		return nil
	}
	keep := make([]entry, 0, len(ts))
	resolveAPI := n.api.Load() != nil
	var heldOpen map[string]bool // fingerprints of the open violations, built when needed
	for _, t := range ts {
		step := stepEvent
		if t.Kind == dedupe.Resolved {
			if !n.sendResolved.Load() {
				continue
			}
			if resolveAPI {
				if heldOpen == nil {
					heldOpen = n.heldOpen()
				}
				if heldOpen[fingerprintKey(t, n.spec.Load().groupBy)] {
					n.logger.Debug("violation cleared; other open violations keep its Sentry issue open", "town", t.Town, "invariant", t.Invariant)
					continue
				}
				step = stepResolve
			}
		}
		keep = append(keep, entry{t, step})
	}
	n.unsavedMu.Lock()
	defer n.unsavedMu.Unlock()
	batch := append(n.unsaved, keep...)
	if len(batch) == 0 {
		return nil
	}
	added, dropped, err := n.box.add(batch, n.now())
	if err != nil {
		if over := len(batch) - n.maxPending; over > 0 && n.maxPending > 0 {
			batch = batch[over:]
			n.dropped.Add(uint64(over))
			n.logger.Warn("sentry outbox not writable and too many transitions held in memory; dropped the oldest", "dropped", over, "max_pending", n.maxPending)
		}
		n.unsaved = batch
		return fmt.Errorf("enqueue %d transitions: %w", len(batch), err)
	}
	n.unsaved = nil
	n.duplicates.Add(uint64(len(batch) - added))
	if dropped > 0 {
		n.dropped.Add(uint64(dropped))
		n.logger.Warn("sentry outbox full; dropped oldest entries (resolved first)", "dropped", dropped, "max_pending", n.maxPending)
	}
	if added > 0 {
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// heldOpen returns the fingerprints of the open violations.
func (n *Notifier) heldOpen() map[string]bool {
	out := map[string]bool{}
	if n.openViolations == nil {
		return out
	}
	groupBy := n.spec.Load().groupBy
	for _, t := range n.openViolations() {
		out[fingerprintKey(t, groupBy)] = true
	}
	return out
}

func fingerprintKey(t dedupe.Transition, groupBy []string) string {
	return strings.Join(Fingerprint(t, groupBy), "\x00")
}

func (n *Notifier) logTransition(t dedupe.Transition) {
	level := slog.LevelWarn
	if t.Kind == dedupe.Resolved {
		level = slog.LevelInfo
	}
	n.logger.Log(context.Background(), level, Message(t),
		"transition", string(t.Kind),
		"town", t.Town,
		"invariant", gastown.InvariantLabel(t.Invariant),
		"subject", t.Subject,
		"source", string(t.Source),
		"seq", t.Seq,
		"event_id", EventID(t),
		"first_seen", t.FirstSeen.UTC(),
		"last_seen", t.LastSeen.UTC(),
		"observations", t.Observations,
	)
	n.logged.Add(1)
}

// Stats returns the counters and the outbox depth.
func (n *Notifier) Stats() Stats {
	s := Stats{
		Sent: n.sent.Load(), Failed: n.failed.Load(), RateLimited: n.rateLimited.Load(),
		Dropped: n.dropped.Load(), Logged: n.logged.Load(), Duplicates: n.duplicates.Load(),
		Lookup: n.lookupStats.load(), Resolve: n.resolveStats.load(),
		Unresolved: n.unresolved.Load(),
	}
	if n.box != nil {
		s.Unsaved = n.unsavedLen()
		s.Pending = n.box.len() + s.Unsaved
	}
	return s
}

func (n *Notifier) unsavedLen() int {
	n.unsavedMu.Lock()
	defer n.unsavedMu.Unlock()
	return len(n.unsaved)
}

// Update applies a reloaded configuration: DSN, environment, release,
// rate limit, burst, send_resolved, group_by, the auth token and its API,
// and the shard index. Pending entries keep their event ids. Switching
// between log-only and Sentry (DSN set or unset) needs a restart; Update
// then changes nothing and says so, as it does for a token file it cannot
// read. A new DSN's client is taken up before the next entry is sent: Update
// does not wait for a send, let alone for a backlog to drain.
func (n *Notifier) Update(cfg config.Sentry, shard int) error {
	dsn := string(cfg.DSN)
	if (dsn == "") != (n.box == nil) {
		return errors.New("sentry.dsn: switching between log-only mode and Sentry needs a restart")
	}
	if n.box != nil {
		client, tr, err := newClient(dsn, cfg, n.hc, n.now)
		if err != nil {
			return err
		}
		api, err := newIssueAPI(cfg, tr.dsn, n.hc, n.now)
		if err != nil {
			client.Close()
			return err
		}
		n.api.Store(api)
		if old := n.reload.Swap(&reloadedClient{client, tr}); old != nil {
			old.client.Close()
		}
		now := n.now()
		limit := rate.Limit(cfg.MaxEventsPerSecond)
		if cfg.MaxEventsPerSecond <= 0 {
			limit = rate.Inf
		}
		n.limiter.SetLimitAt(now, limit)
		n.limiter.SetBurstAt(now, max(cfg.Burst, 1))
	}
	n.specMu.Lock()
	defer n.specMu.Unlock()
	spec := *n.spec.Load()
	spec.environment, spec.release, spec.shard, spec.groupBy = cfg.Environment, cfg.Release, shard, cfg.GroupBy
	n.spec.Store(&spec)
	n.sendResolved.Store(cfg.SendResolved)
	return nil
}

// SetLinks sets the bases of the links each event carries (web.external_url
// and web.grafana_url), at start and on reload.
func (n *Notifier) SetLinks(web config.Web) {
	n.specMu.Lock()
	defer n.specMu.Unlock()
	spec := *n.spec.Load()
	spec.links = web
	n.spec.Store(&spec)
}

// LogOnly reports whether no DSN is configured.
func (n *Notifier) LogOnly() bool { return n.box == nil }

// Close closes the outbox. Stop Run and call Flush first.
func (n *Notifier) Close() error {
	if n.box == nil {
		return nil
	}
	n.sendMu.Lock()
	defer n.sendMu.Unlock()
	n.client.Close()
	if r := n.reload.Swap(nil); r != nil {
		r.client.Close()
	}
	return n.box.close()
}

// reloadedClient is the client of a reloaded configuration.
type reloadedClient struct {
	client    *sentry.Client
	transport *envelopeTransport
}

// takeReload puts a reloaded configuration's client to use; under sendMu.
// The web API's pause ends (its token may have changed); the events' pause,
// one Sentry asked for with a 429 or one failures earned, holds unless the
// DSN changed.
func (n *Notifier) takeReload() {
	r := n.reload.Swap(nil)
	if r == nil {
		return
	}
	if r.transport.dsn.String() != n.transport.dsn.String() {
		n.pausedUntil, n.failures = time.Time{}, 0
	}
	n.client.Close()
	n.client, n.transport, n.project = r.client, r.transport, project(r.transport.dsn)
	n.apiPausedUntil, n.apiFailures, n.authReported = time.Time{}, 0, false
}

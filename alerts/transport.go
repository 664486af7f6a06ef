package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/getsentry/sentry-go"
)

// outcome is what Sentry answered to one envelope.
type outcome struct {
	eventID string
	status  int           // 0: no answer (network error)
	pause   time.Duration // from Retry-After / X-Sentry-Rate-Limits, 0 if none
	err     error
	detail  string // Sentry's reason for a non-2xx answer
}

func (o outcome) accepted() bool { return o.err == nil && o.status >= 200 && o.status < 300 }

// reason says why a delivery failed, for the log.
func (o outcome) reason() string {
	if o.err != nil {
		return o.err.Error()
	}
	return fmt.Sprintf("status %d", o.status)
}

// envelopeTransport is a sentry.Transport that sends each event
// synchronously as an envelope and keeps the answer for the caller.
// sentry-go's own transports queue events and drop them on 429 or when their
// buffer is full without telling anyone; the outbox needs to know, so that
// an entry is done only when Sentry accepted it.
//
// Sends are serialised by the notifier: deliver sets the context and reads
// the outcome around one Client.CaptureEvent call.
type envelopeTransport struct {
	dsn    *sentry.Dsn
	hc     *http.Client
	now    func() time.Time
	client string // sentry_client value

	mu   sync.Mutex
	ctx  context.Context
	last outcome
}

var _ sentry.Transport = (*envelopeTransport)(nil)

func (t *envelopeTransport) Configure(sentry.ClientOptions)        {}
func (t *envelopeTransport) Flush(time.Duration) bool              { return true }
func (t *envelopeTransport) FlushWithContext(context.Context) bool { return true }
func (t *envelopeTransport) Close()                                {}

// SendEvent is called by sentry.Client.CaptureEvent once the client has
// filled in SDK, environment and runtime data.
func (t *envelopeTransport) SendEvent(ev *sentry.Event) {
	t.mu.Lock()
	ctx := t.ctx
	t.mu.Unlock()
	o := t.post(ctx, ev)
	t.mu.Lock()
	t.last = o
	t.mu.Unlock()
}

// begin prepares one delivery; finish returns its outcome. The caller
// serialises deliveries.
func (t *envelopeTransport) begin(ctx context.Context) {
	t.mu.Lock()
	t.ctx, t.last = ctx, outcome{}
	t.mu.Unlock()
}

func (t *envelopeTransport) finish() outcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.last
	t.ctx, t.last = nil, outcome{}
	return o
}

func (t *envelopeTransport) authHeader() string {
	h := "Sentry sentry_version=7, sentry_client=" + t.client + ", sentry_key=" + t.dsn.GetPublicKey()
	if s := t.dsn.GetSecretKey(); s != "" {
		h += ", sentry_secret=" + s
	}
	return h
}

// envelope frames one event: the envelope header (without the DSN, which
// is a secret here), an item header with the exact length, the payload.
func envelope(ev *sentry.Event, sentAt time.Time) ([]byte, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", ev.EventID, err)
	}
	var b bytes.Buffer
	b.Grow(len(body) + 256)
	hdr, _ := json.Marshal(struct {
		EventID sentry.EventID    `json:"event_id"`
		SentAt  time.Time         `json:"sent_at"`
		SDK     map[string]string `json:"sdk"`
	}{ev.EventID, sentAt.UTC(), map[string]string{"name": ev.Sdk.Name, "version": ev.Sdk.Version}})
	b.Write(hdr)
	b.WriteString("\n{\"type\":\"event\",\"length\":")
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteString("}\n")
	b.Write(body)
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func (t *envelopeTransport) post(ctx context.Context, ev *sentry.Event) outcome {
	o := outcome{eventID: string(ev.EventID)}
	if ctx == nil {
		ctx = context.Background()
	}
	body, err := envelope(ev, t.now())
	if err != nil {
		o.err = err
		o.status = http.StatusBadRequest // never acceptable: do not retry
		return o
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.dsn.GetAPIURL().String(), bytes.NewReader(body))
	if err != nil {
		o.err = fmt.Errorf("build request: %w", err)
		return o
	}
	req.Header.Set("Content-Type", "application/x-sentry-envelope")
	req.Header.Set("User-Agent", t.client)
	req.Header.Set("X-Sentry-Auth", t.authHeader())
	resp, err := t.hc.Do(req)
	if err != nil {
		o.err = redactURL(err)
		return o
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	o.status = resp.StatusCode
	o.pause = pauseFrom(resp.Header, resp.StatusCode, t.now())
	if !o.accepted() {
		o.detail = apiDetail(answer) // why Sentry refused: the log says it
	}
	return o
}

// redactURL keeps the cause of a network error without the request URL
// that net/http puts in front of it.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("send to sentry: %s: %w", ue.Op, ue.Err)
	}
	return fmt.Errorf("send to sentry: %w", err)
}

// MaxRateLimitPause caps any pause Sentry asks for: a quota that ends in
// days is asked about again hourly, and a number no clock can hold (1e300,
// NaN) cannot stop the outbox for good or turn into no pause at all.
const MaxRateLimitPause = time.Hour

// DefaultRateLimitPause applies to a 429 that names no duration.
const DefaultRateLimitPause = 60 * time.Second

// pauseFrom reads how long Sentry asks us to wait. X-Sentry-Rate-Limits wins
// over Retry-After (as Sentry's SDKs do); of its quotas only those for all
// categories or for "error" events apply. A 429 with neither header pauses
// for DefaultRateLimitPause.
func pauseFrom(h http.Header, status int, now time.Time) time.Duration {
	if v := h.Get("X-Sentry-Rate-Limits"); v != "" {
		if d, ok := parseRateLimits(v); ok {
			return d
		}
	}
	if v := h.Get("Retry-After"); v != "" && status == http.StatusTooManyRequests {
		if d, ok := parseRetryAfter(v, now); ok {
			return d
		}
	}
	if status == http.StatusTooManyRequests {
		return DefaultRateLimitPause
	}
	return 0
}

// parseRateLimits reads "retry_after:categories:scope[:reason[:namespaces]]"
// quotas separated by commas; categories are separated by ";" and empty
// means every category.
func parseRateLimits(v string) (time.Duration, bool) {
	var longest time.Duration
	found := false
	for _, quota := range strings.Split(v, ",") {
		parts := strings.Split(strings.TrimSpace(quota), ":")
		if len(parts) < 2 {
			continue
		}
		d, ok := seconds(parts[0])
		if !ok {
			continue
		}
		applies := parts[1] == ""
		for _, c := range strings.Split(parts[1], ";") {
			if c == "error" {
				applies = true
			}
		}
		if !applies {
			continue
		}
		found = true
		longest = max(longest, d)
	}
	return longest, found
}

// parseRetryAfter reads delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if d, ok := seconds(v); ok {
		return d, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), MaxRateLimitPause), true
	}
	return 0, false
}

// seconds reads a non-negative number of seconds, capped at
// MaxRateLimitPause. ParseFloat also takes "NaN", "Inf" and 1e300, which a
// Duration cannot hold.
func seconds(v string) (time.Duration, bool) {
	secs, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(secs) || secs < 0 {
		return 0, false
	}
	if secs >= MaxRateLimitPause.Seconds() {
		return MaxRateLimitPause, true
	}
	return time.Duration(secs * float64(time.Second)), true
}

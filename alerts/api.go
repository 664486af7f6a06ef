package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/getsentry/sentry-go"
)

// issueAPI resolves Sentry issues through Sentry's web API with an auth
// token: it looks an issue up by one of its events' ids and sets it
// resolved. The token is a secret: it goes into the Authorization header
// and nowhere else.
type issueAPI struct {
	base  string // scheme://host[:port][/prefix], without a trailing slash
	org   string // the organization slug
	token string
	hc    *http.Client
	now   func() time.Time
	agent string
}

// API calls, as the metrics and logs name them.
const (
	callLookup  = "lookup"
	callResolve = "resolve"
)

// saasIngest matches sentry.io's ingest hosts: o123.ingest.sentry.io and the
// regional o123.ingest.us.sentry.io, whose API is sentry.io and us.sentry.io.
var saasIngest = regexp.MustCompile(`^o\d+\.ingest\.((?:[a-z]{2}\.)?sentry\.io)$`)

// apiBase is where the web API is: sentry.api_url, else the DSN's scheme,
// host, port and path prefix (a self-hosted Sentry serves ingestion and API
// on one host); sentry.io's ingest hosts map to its API hosts.
func apiBase(apiURL string, dsn *sentry.Dsn) string {
	if apiURL != "" {
		return strings.TrimRight(apiURL, "/")
	}
	u := dsn.GetAPIURL()
	if m := saasIngest.FindStringSubmatch(dsn.GetHost()); m != nil {
		return "https://" + m[1]
	}
	return u.Scheme + "://" + u.Host + dsn.GetPath()
}

// lookup answers the id of the issue (group) that holds the event:
// GET /api/0/organizations/{org}/eventids/{event_id}/. Sentry answers 404
// until it has processed the event.
func (a *issueAPI) lookup(ctx context.Context, eventID string) (groupID string, o outcome) {
	var body struct {
		GroupID string `json:"groupId"`
	}
	o = a.call(ctx, http.MethodGet, "/eventids/"+url.PathEscape(eventID)+"/", nil, &body)
	if o.accepted() && body.GroupID == "" {
		o.err = fmt.Errorf("sentry API lookup of event %s: answer without groupId", eventID)
		o.status = http.StatusBadRequest // never acceptable: do not retry
	}
	return body.GroupID, o
}

// resolve sets the issue resolved: PUT /api/0/organizations/{org}/issues/{id}/.
func (a *issueAPI) resolve(ctx context.Context, groupID string) outcome {
	return a.call(ctx, http.MethodPut, "/issues/"+url.PathEscape(groupID)+"/", []byte(`{"status":"resolved"}`), nil)
}

// call makes one request under /api/0/organizations/{org}; a 2xx answer is
// decoded into out when it is not nil.
func (a *issueAPI) call(ctx context.Context, method, path string, body []byte, out any) outcome {
	var o outcome
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+"/api/0/organizations/"+url.PathEscape(a.org)+path, rd)
	if err != nil {
		o.err = fmt.Errorf("build request: %w", err)
		return o
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", a.agent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		o.err = redactURL(err)
		return o
	}
	defer resp.Body.Close()
	o.status = resp.StatusCode
	o.pause = apiPause(resp.Header, resp.StatusCode, a.now())
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	switch {
	case err != nil:
		o.err = fmt.Errorf("read sentry API answer: %w", err)
	case !o.accepted():
		o.detail = apiDetail(data)
	case out != nil:
		if err := json.Unmarshal(data, out); err != nil {
			o.err = fmt.Errorf("decode sentry API answer: %w", err)
			o.status = http.StatusBadRequest
		}
	}
	return o
}

// apiPause reads how long the web API asks us to wait: Retry-After, else
// X-Sentry-Rate-Limit-Reset (the Unix second its window resets), else
// DefaultRateLimitPause for a 429.
func apiPause(h http.Header, status int, now time.Time) time.Duration {
	if status != http.StatusTooManyRequests {
		return 0
	}
	if d, ok := parseRetryAfter(h.Get("Retry-After"), now); ok {
		return d
	}
	if secs, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-Sentry-Rate-Limit-Reset")), 10, 64); err == nil {
		return max(time.Unix(secs, 0).Sub(now), time.Second)
	}
	return DefaultRateLimitPause
}

// apiDetail is the reason in Sentry's error answer ({"detail": "..."}), or
// a bounded piece of a body that is not one.
func apiDetail(data []byte) string {
	var e struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(data, &e) == nil && e.Detail != "" {
		return e.Detail
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

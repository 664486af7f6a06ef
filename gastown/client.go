package gastown

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jsoniter "github.com/json-iterator/go"
	commoncfg "github.com/prometheus/common/config"
)

// ClientOptions configure a Client.
type ClientOptions struct {
	URL          string
	HTTPClient   commoncfg.HTTPClientConfig
	Timeout      time.Duration // per request
	MaxBodyBytes int64
	UserAgent    string
}

// Client calls one Gastown worker's debug API.
type Client struct {
	base      string // URL without trailing slash
	http      *http.Client
	timeout   time.Duration
	maxBody   int64
	userAgent string
}

// NewClient builds a client on prometheus/common's HTTP client config, so
// bearer tokens, basic auth, TLS and proxies work as in every Prometheus tool.
func NewClient(o ClientOptions) (*Client, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		shown := o.URL // never a password in an error
		if u != nil {
			shown = u.Redacted()
		} else if strings.Contains(shown, "@") {
			shown = "(with user info)"
		}
		return nil, fmt.Errorf("target url %q: want scheme://host[:port]", shown)
	}
	// The user agent is set per request rather than with WithUserAgent,
	// whose round tripper clones every request.
	hc, err := commoncfg.NewClientFromConfig(o.HTTPClient, "gastown")
	if err != nil {
		return nil, fmt.Errorf("target http client: %w", err)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 4 << 20
	}
	return &Client{base: strings.TrimRight(o.URL, "/"), http: hc, timeout: o.Timeout, maxBody: o.MaxBodyBytes, userAgent: o.UserAgent}, nil
}

// CloseIdleConnections closes the connections a replaced client keeps open.
func (c *Client) CloseIdleConnections() { c.http.CloseIdleConnections() }

// APIError is a non-2xx answer, with the text of Gastown's error envelope.
type APIError struct {
	Town, Call string
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: HTTP %d: %s", where(e.Call, e.Town), e.StatusCode, e.Message)
}

// where names a call for an error: `dry run of town "a"`, or `town list`.
func where(call, town string) string {
	if town == "" {
		return call
	}
	return fmt.Sprintf("%s of town %q", call, town)
}

// DryRun asks the worker for a read-only reconcile of the town.
func (c *Client) DryRun(ctx context.Context, town string) (*DryRun, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var d DryRun
	if err := c.do(ctx, http.MethodPost, townPath(town, "reconcile-dry-run"), nil, town, "dry run", &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Status fetches the town's alarm status, agents and beads.
func (c *Client) Status(ctx context.Context, town string) (*Status, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var s Status
	if err := c.do(ctx, http.MethodGet, townPath(town, "status"), nil, town, "status", &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Replay re-applies the town's events of a time window.
func (c *Client) Replay(ctx context.Context, town string, req ReplayRequest) (*ReplayResponse, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var r ReplayResponse
	if err := c.do(ctx, http.MethodPost, townPath(town, "replay-events"), body, town, "replay", &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Towns lists the worker's towns (a simtown extension; Gastown has no such call).
func (c *Client) Towns(ctx context.Context) ([]string, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var l TownList
	if err := c.do(ctx, http.MethodGet, "/debug/towns", nil, "", "town list", &l); err != nil {
		return nil, err
	}
	return l.Towns, nil
}

// Poll runs one town's dry run and, with withStatus, its status call, both
// within one timeout. Any failure makes the whole observation failed: half a
// picture would make the mirrored gauges disagree with each other.
//
// Poll decodes only what the sidecar uses: not the action list, not the
// recent events, and of the status rows only what the invariant checks read.
func (c *Client) Poll(ctx context.Context, town string, withStatus bool, now func() time.Time) Observation {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	o := Observation{Town: town, At: now()}
	var d struct {
		Metrics    DryRunMetrics `json:"metrics"`
		Violations []Violation   `json:"violations"`
	}
	o.Err = c.do(ctx, http.MethodPost, townPath(town, "reconcile-dry-run"), nil, town, "dry run", &d)
	o.Duration = now().Sub(o.At)
	if o.Err == nil {
		o.DryRun = &DryRun{Metrics: d.Metrics, Violations: d.Violations}
		o.Violations = d.Violations
	}
	if o.Err == nil && withStatus {
		var st struct {
			AlarmStatus struct {
				Alarm      Alarm              `json:"alarm"`
				Agents     AgentCounts        `json:"agents"`
				Beads      BeadCounts         `json:"beads"`
				Reconciler *ReconcilerMetrics `json:"reconciler"`
			} `json:"alarmStatus"`
			AgentMeta   []agentRow `json:"agentMeta"`
			BeadSummary []beadRow  `json:"beadSummary"`
		}
		if o.Err = c.do(ctx, http.MethodGet, townPath(town, "status"), nil, town, "status", &st); o.Err == nil {
			a := st.AlarmStatus
			o.Status = &Status{AlarmStatus: AlarmStatus{Alarm: a.Alarm, Agents: a.Agents, Beads: a.Beads, Reconciler: a.Reconciler}}
			if o.Violations == nil {
				o.Violations = checkRows(st.AgentMeta, st.BeadSummary)
			}
		}
	}
	if o.Err != nil {
		o.TimedOut = errors.Is(o.Err, context.DeadlineExceeded)
		o.DryRun, o.Status, o.Violations = nil, nil, nil
	}
	return o
}

// fastJSON decodes the answers: json-iterator, as the Prometheus API client
// uses, decodes them three to four times faster than encoding/json, and
// decoding is most of a poll's cost on the sidecar's side. Its fastest
// configuration reads object keys without unescaping them, which Gastown's
// fixed ASCII keys never need.
var fastJSON = jsoniter.ConfigFastest

// bodyBuffers recycles response buffers: a poll reads two bodies per town
// every tick.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func townPath(town, call string) string {
	esc := url.PathEscape(town)
	if town == "." || town == ".." {
		// PathEscape leaves dots alone; a proxy that cleans paths would
		// turn /debug/towns/../status into another endpoint.
		esc = strings.ReplaceAll(town, ".", "%2E")
	}
	return "/debug/towns/" + esc + "/" + call
}

// withTimeout bounds one call of the client's API (a poll is one call).
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, town, call string, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("%s: %w", where(call, town), err)
	}
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", where(call, town), err)
	}
	defer resp.Body.Close()
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer bodyBuffers.Put(buf)
	buf.Reset()
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, c.maxBody+1))
	data := buf.Bytes() // not kept: decoding copies what it keeps
	if err != nil {
		return fmt.Errorf("%s: reading body: %w", where(call, town), err)
	}
	if int64(len(data)) > c.maxBody {
		return fmt.Errorf("%s: body larger than %d bytes", where(call, town), c.maxBody)
	}
	if resp.StatusCode/100 != 2 {
		return &APIError{Town: town, Call: call, StatusCode: resp.StatusCode, Message: errorText(data)}
	}
	if err := fastJSON.Unmarshal(data, out); err != nil {
		// Say what is wrong the way encoding/json says it: clearer at 3 am.
		if stdErr := json.Unmarshal(data, out); stdErr != nil {
			err = stdErr
		}
		return fmt.Errorf("%s: malformed JSON: %w", where(call, town), err)
	}
	return nil
}

// errorText extracts Gastown's error envelope, or a bounded piece of a body
// that is not one (a proxy's HTML page, say).
func errorText(data []byte) string {
	var e ErrorBody
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		return e.Error
	}
	s := strings.TrimSpace(string(data))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

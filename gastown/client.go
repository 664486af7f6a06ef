package gastown

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

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
	base    string // URL without trailing slash
	http    *http.Client
	timeout time.Duration
	maxBody int64
	secrets []string // hidden in error texts the worker sends back
	// header is every request's: built once, and shared, since nothing
	// on the way out writes to a request's header (prometheus/common's
	// round trippers clone a request before they add to it).
	header http.Header
	tls    *tlsFiles // nil: no TLS material from files; else the client to use
	// baseURL is base parsed, nil when it has a query or fragment;
	// baseEscaped is its path as sent.
	baseURL     *url.URL
	baseEscaped string
	// followRedirects is http_client's follow_redirects.
	followRedirects bool
	// pollDeadline is the timeout the last polls share (see pollContext).
	pollDeadline atomic.Pointer[sharedDeadline]
}

// NewClient builds a client on prometheus/common's HTTP client config.
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
	// The user agent is in the shared header rather than set with
	// WithUserAgent, whose round tripper clones every request.
	hc, err := newHTTPClient(o.HTTPClient)
	if err != nil {
		return nil, err
	}
	tf, err := newTLSFiles(o.HTTPClient)
	if err != nil {
		return nil, err
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 4 << 20
	}
	o.MaxBodyBytes = min(o.MaxBodyBytes, math.MaxInt64-1) // a read takes one byte more
	header := http.Header{"Accept": {"application/json"}}
	if o.UserAgent != "" {
		header.Set("User-Agent", o.UserAgent)
	}
	if u.User != nil {
		// What http.Client would add to each request, cloning its header
		// to do so; the user info's credentials come before http_client's.
		pass, _ := u.User.Password()
		header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pass)))
	}
	base := strings.TrimRight(o.URL, "/")
	baseURL, err := url.Parse(base)
	if err != nil || baseURL.RawQuery != "" || baseURL.ForceQuery || baseURL.Fragment != "" || baseURL.Opaque != "" {
		baseURL = nil
	} else {
		baseURL.Host = strings.TrimSuffix(baseURL.Host, ":") // as http.NewRequest does
	}
	c := &Client{base: base, baseURL: baseURL, http: hc, tls: tf, timeout: o.Timeout, maxBody: o.MaxBodyBytes, header: header,
		followRedirects: o.HTTPClient.FollowRedirects,
		secrets:         secretsOf(o.HTTPClient, o.URL)}
	if baseURL != nil {
		c.baseEscaped = baseURL.EscapedPath()
	}
	return c, nil
}

// sameHostRedirects follows at most 10 redirects, all to the worker's own
// scheme and host: prometheus/common adds the credentials and headers of
// http_client to every request it sends, so a redirect elsewhere would hand
// them to that host.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	switch {
	case len(via) >= 10:
		return errors.New("stopped after 10 redirects")
	case req.URL.Scheme != first.Scheme || req.URL.Host != first.Host:
		return fmt.Errorf("redirect to another host (%s://%s) refused: the credentials would follow it", req.URL.Scheme, req.URL.Host)
	}
	return nil
}

// CloseIdleConnections closes the connections a replaced client keeps open.
func (c *Client) CloseIdleConnections() {
	c.http.CloseIdleConnections()
	if c.tls != nil {
		c.tls.state.Load().client.CloseIdleConnections()
	}
}

// APIError is a non-2xx answer, with the text of Gastown's error envelope.
type APIError struct {
	Town, Call string
	StatusCode int
	Message    string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s: HTTP %d: %s", where(e.Call, e.Town), e.StatusCode, e.Message)
	if h := e.Hint(); h != "" {
		msg += " (" + h + ")"
	}
	return msg
}

// Hint says what an answer most likely means, for whoever reads the error
// at 3 a.m.; "" when there is nothing to add.
func (e *APIError) Hint() string {
	switch {
	case e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden:
		return "an auth problem: the worker wants credentials; behind Cloudflare Access, send CF-Access-Client-Id and " +
			"CF-Access-Client-Secret through target.http_client.http_headers"
	case e.StatusCode == http.StatusInternalServerError && (e.Call == "dry run" || e.Call == "replay"):
		return "on a real Gastown worker this call always fails so: it opens a SQL SAVEPOINT, which the Workers runtime refuses; " +
			"if the town's status call fails too, the worker itself is failing; see the runbook, ReconcilerDryRunFailing"
	}
	return ""
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
	u, target := c.townTarget(town, "reconcile-dry-run")
	if _, err := c.do(ctx, http.MethodPost, u, target, nil, town, "dry run", nil, unmarshal(&d)); err != nil {
		return nil, err
	}
	return &d, nil
}

// Status fetches the town's alarm status, agents and beads.
func (c *Client) Status(ctx context.Context, town string) (*Status, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var s Status
	u, target := c.townTarget(town, "status")
	if _, err := c.do(ctx, http.MethodGet, u, target, nil, town, "status", nil, unmarshal(&s)); err != nil {
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
	if _, err := c.do(ctx, http.MethodPost, nil, c.townURL(town, "replay-events"), body, town, "replay", nil, unmarshal(&r)); err != nil {
		return nil, err
	}
	return &r, nil
}

// Towns lists the worker's towns (a simtown extension; Gastown has no such call).
func (c *Client) Towns(ctx context.Context) ([]string, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	var l TownList
	if _, err := c.do(ctx, http.MethodGet, nil, c.base+"/debug/towns", nil, "", "town list", nil, unmarshal(&l)); err != nil {
		return nil, err
	}
	return l.Towns, nil
}

// PollOptions choose the calls of one poll.
type PollOptions struct {
	Status bool // GET status: the heartbeat, the last tick and the rows
	DryRun bool // POST reconcile-dry-run: the queue now and what the reconciler would do
	// KeepStatusBody keeps a copy of the status answer in the Observation,
	// for a poll that may open a violation: its event describes the rows
	// and recent events that Poll itself does not decode.
	KeepStatusBody bool
}

// Poll makes the chosen calls for one town, status first, within one
// timeout. Each call's outcome is kept on its own: a dry run that fails
// (the real worker's always does, its SAVEPOINT refused by workerd) does not
// discard a good status.
//
// Poll decodes only what the sidecar uses: not the action list, not the
// recent events, and of the status rows only what the invariant checks read.
// With KeepStatusBody it also keeps the status answer, for DecodeStatus.
func (c *Client) Poll(ctx context.Context, town string, po PollOptions, now func() time.Time) Observation {
	o := Observation{Town: town, At: now()}
	if d, ok := ctx.Deadline(); c.timeout > 0 && (!ok || time.Until(d) > c.timeout) {
		// A deadline of the caller's that comes first (the end of the
		// tick) bounds the poll without a timer of its own.
		ctx = c.pollContext(ctx, time.Now())
	}
	var st statusPart
	rows := statusRows.Get().(*rowBuffers)
	defer rows.put()
	st.AgentMeta, st.BeadSummary = rows.agents[:0], rows.beads[:0]
	if po.Status {
		var keep *[]byte
		if po.KeepStatusBody {
			keep = &o.StatusBody
		}
		o.StatusCall = c.call(ctx, http.MethodGet, town, "status", "status", keep, func(data []byte) error { return decodeStatusPart(data, &st) }, now)
		if o.StatusCall.OK() {
			a := st.AlarmStatus
			o.Status = &Status{AlarmStatus: AlarmStatus{Alarm: a.Alarm, Agents: a.Agents, Beads: a.Beads, Reconciler: a.Reconciler}}
		} else {
			o.StatusBody = nil
		}
	}
	// A status call that ran out of the poll's time leaves none for the dry
	// run: it is not made, rather than counted as a failure it never was.
	if po.DryRun && !o.StatusCall.TimedOut() {
		var d dryRunPart
		o.DryRunCall = c.call(ctx, http.MethodPost, town, "reconcile-dry-run", "dry run", nil, func(data []byte) error { return decodeDryRunPart(data, &d) }, now)
		if o.DryRunCall.OK() {
			o.DryRun = &DryRun{Metrics: d.Metrics, Violations: d.Violations}
		}
	}
	switch {
	case o.DryRun != nil && o.DryRun.Violations != nil:
		o.Violations, o.Source = o.DryRun.Violations, NamedByDryRun
		for i := range o.Violations {
			o.Violations[i].Source = NamedByDryRun
			if len(c.secrets) > 0 { // they go to Sentry and the status page
				o.Violations[i].Message = redact(o.Violations[i].Message, c.secrets)
			}
		}
	case o.Status != nil:
		o.Violations, o.RemainderUnknown = derive(o.Status.AlarmStatus.Reconciler, st.AgentMeta, st.BeadSummary)
		o.Source = DerivedFromStatus
	}
	rows.agents, rows.beads = larger(rows.agents, st.AgentMeta), larger(rows.beads, st.BeadSummary)
	return o
}

// statusRows recycles the row slices of status answers: a poll reads the
// rows only to run the checks, and keeps none.
var statusRows = sync.Pool{New: func() any { return new(rowBuffers) }}

type rowBuffers struct {
	agents []agentRow
	beads  []beadRow
}

// maxPooledRows bounds what a pooled buffer keeps after a town with an
// unusually long status.
const maxPooledRows = 1024

// put clears the rows, so that the pool holds on to no strings, and pools
// them again.
func (r *rowBuffers) put() {
	if cap(r.agents) > maxPooledRows {
		r.agents = nil
	}
	if cap(r.beads) > maxPooledRows {
		r.beads = nil
	}
	clear(r.agents[:cap(r.agents)])
	clear(r.beads[:cap(r.beads)])
	statusRows.Put(r)
}

// larger is whichever slice has more room.
func larger[T any](a, b []T) []T {
	if cap(b) > cap(a) {
		return b
	}
	return a
}

// call makes one API call of a poll and times it; name is how errors call
// it. With keep, a copy of the answer is kept there: the response buffer
// is recycled once the call returns.
func (c *Client) call(ctx context.Context, method, town, path, name string, keep *[]byte, decode func([]byte) error, now func() time.Time) Call {
	start := now()
	u, target := c.townTarget(town, path)
	code, err := c.do(ctx, method, u, target, nil, town, name, keep, decode)
	return Call{Done: true, Err: err, Code: code, Duration: now().Sub(start)}
}

// unmarshal decodes a whole answer into v, for the calls other than a
// poll's, in encoding/json's words when it fails.
func unmarshal(v any) func([]byte) error {
	return func(data []byte) error {
		err := fastJSON.Unmarshal(data, v)
		if err != nil {
			// Say what is wrong the way encoding/json says it: clearer at 3 am.
			if stdErr := json.Unmarshal(data, v); stdErr != nil {
				err = stdErr
			}
		}
		return err
	}
}

// fastJSON decodes the answers of the calls other than a poll's (a poll's
// are walked in decode.go): json-iterator, as the Prometheus API client
// uses, decodes them three to four times faster than encoding/json. Not its fastest
// configuration: that one reads object keys without unescaping them, so a
// key holding \" ends early and a truncated body can decode as a whole one
// (found by FuzzPollDryRun; the cost is lost in the noise).
var fastJSON = jsoniter.ConfigDefault

// bodyBuffers recycles response buffers: a poll reads two bodies per town
// every tick.
var bodyBuffers = sync.Pool{New: func() any { return new(bodyBuffer) }}

// maxPooledBody is the largest buffer the pool keeps: many times a big
// town's status answer, far below the body limit.
const maxPooledBody = 256 << 10

type bodyBuffer struct {
	bytes.Buffer
	limit io.LimitedReader
}

// townURL is the URL of one of a town's calls, as text.
func (c *Client) townURL(town, call string) string {
	return c.base + "/debug/towns/" + escapeTown(town) + "/" + call
}

// townRequestURL is townURL parsed, made from the parsed base rather than
// from the text: writing the text and parsing it back took 1.1 % of the
// CPU at 10,000 towns in perf, this 0.7 %. nil when the base has no parsed
// form.
func (c *Client) townRequestURL(town, call string) *url.URL {
	if c.baseURL == nil {
		return nil
	}
	u := new(url.URL)
	*u = *c.baseURL
	u.Path, u.RawPath = c.baseURL.Path+"/debug/towns/"+town+"/"+call, ""
	if esc := escapeTown(town); esc != town || strings.Contains(c.baseEscaped, "%") {
		u.RawPath = c.baseEscaped + "/debug/towns/" + esc + "/" + call
	}
	return u
}

// townTarget is the URL of one of a town's calls for do: parsed when the
// base allows, else as text.
func (c *Client) townTarget(town, call string) (*url.URL, string) {
	if u := c.townRequestURL(town, call); u != nil {
		return u, ""
	}
	return nil, c.townURL(town, call)
}

// escapeTown is a town id as one path segment.
func escapeTown(town string) string {
	if town == "." || town == ".." {
		// PathEscape leaves dots alone; a proxy that cleans paths would
		// turn /debug/towns/../status into another endpoint.
		return strings.ReplaceAll(town, ".", "%2E")
	}
	return url.PathEscape(town)
}

// sharedDeadline is a context that ends at the client's timeout after it
// was made, under parent (its Done channel).
type sharedDeadline struct {
	parent <-chan struct{}
	ctx    context.Context
	// cancel is never called: polls may still hold ctx. Its timer, or the
	// parent ending, releases it.
	cancel context.CancelFunc
}

// pollContext bounds a poll by the client's timeout. The polls that start
// within a hundredth of the timeout of each other under one parent (a
// tick's polls start in batches) share one context: a context and timer
// per poll were 2 % of the CPU at 10,000 towns. So a poll may end up to a
// hundredth of the timeout early, never late.
func (c *Client) pollContext(parent context.Context, now time.Time) context.Context {
	if d := c.pollDeadline.Load(); d != nil && d.parent == parent.Done() {
		if at, _ := d.ctx.Deadline(); at.Sub(now) >= c.timeout-c.timeout/100 {
			return d.ctx
		}
	}
	ctx, cancel := context.WithDeadline(parent, now.Add(c.timeout))
	c.pollDeadline.Store(&sharedDeadline{parent: parent.Done(), ctx: ctx, cancel: cancel})
	return ctx
}

// withTimeout bounds one call of the client's API other than a poll.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}

// do makes one request, to u or, when u is nil or there is a body, to
// target, and decodes a 2xx answer with decode, keeping a copy of it in keep
// when that is set. It returns the answer's HTTP status, 0 when none came.
func (c *Client) do(ctx context.Context, method string, u *url.URL, target string, body []byte, town, call string, keep *[]byte, decode func([]byte) error) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	var req *http.Request
	if u != nil && body == nil {
		req = (&http.Request{Method: method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: c.header, Host: u.Host}).WithContext(ctx)
	} else {
		r, err := http.NewRequestWithContext(ctx, method, target, rd)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", where(call, town), err)
		}
		for k, v := range c.header {
			r.Header[k] = v
		}
		if body != nil {
			r.Header.Set("Content-Type", "application/json")
		}
		req = r
	}
	hc := c.http
	if c.tls != nil {
		var err error
		if hc, err = c.tls.client(); err != nil {
			return 0, fmt.Errorf("%s: %w", where(call, town), err)
		}
	}
	resp, err := c.send(hc, req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", where(call, town), err)
	}
	defer resp.Body.Close()
	buf := bodyBuffers.Get().(*bodyBuffer)
	defer func() {
		// A buffer grown by an outsized answer is left to the collector: kept
		// in the pool, it would hold up to the body limit per poll in flight.
		if buf.limit.R = nil; buf.Cap() <= maxPooledBody {
			bodyBuffers.Put(buf)
		}
	}()
	buf.Reset()
	buf.limit = io.LimitedReader{R: resp.Body, N: c.maxBody + 1}
	_, err = buf.ReadFrom(&buf.limit)
	data := buf.Bytes() // not kept: decoding copies what it keeps
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s: reading body: %w", where(call, town), err)
	}
	if int64(len(data)) > c.maxBody {
		return resp.StatusCode, fmt.Errorf("%s: body larger than %d bytes", where(call, town), c.maxBody)
	}
	if !utf8.Valid(data) {
		data = validUTF8(data)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, &APIError{Town: town, Call: call, StatusCode: resp.StatusCode, Message: errorText(data, c.secrets)}
	}
	if keep != nil {
		*keep = append([]byte(nil), data...)
	}
	if err := decode(data); err != nil {
		return resp.StatusCode, fmt.Errorf("%s: malformed JSON: %w", where(call, town), err)
	}
	return resp.StatusCode, nil
}

// send makes a request without a body through the client's round
// trippers (prometheus/common's, as configured) directly: http.Client
// would clone its header and URL on every request to be ready for a
// redirect. A redirect, rare, is sent again through http.Client, which
// applies the redirect policy from the first request on.
func (c *Client) send(hc *http.Client, req *http.Request) (*http.Response, error) {
	if req.Body != nil || hc.Transport == nil || hc.Jar != nil || hc.Timeout != 0 {
		return hc.Do(req)
	}
	resp, err := hc.Transport.RoundTrip(req)
	if err != nil {
		// As http.Client words it: Get "url": what happened.
		return nil, &url.Error{Op: req.Method[:1] + strings.ToLower(req.Method[1:]), URL: withoutPassword(req.URL), Err: err}
	}
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		if c.followRedirects && resp.Header.Get("Location") != "" {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
			resp.Body.Close()
			return hc.Do(req)
		}
	}
	return resp, nil
}

// withoutPassword shows a URL with its password, if any, as ***.
func withoutPassword(u *url.URL) string {
	if _, ok := u.User.Password(); ok {
		return strings.Replace(u.String(), u.User.String()+"@", u.User.Username()+":***@", 1)
	}
	return u.String()
}

// validUTF8 replaces each byte that is not UTF-8 with U+FFFD, as
// encoding/json does inside strings (json-iterator keeps them): the strings
// of an answer become label values, which must be UTF-8 or Prometheus
// rejects the whole scrape.
func validUTF8(data []byte) []byte {
	out := make([]byte, 0, len(data)+16)
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size == 1 {
			out = append(out, "\uFFFD"...)
		} else {
			out = append(out, data[:size]...)
		}
		data = data[size:]
	}
	return out
}

// errorText extracts Gastown's error envelope, or a piece of a body that is
// not one (a proxy's HTML page, say), without the client's secrets and
// bounded in length: it is shown on the status page and logged.
func errorText(data []byte, secrets []string) string {
	var e ErrorBody
	s := strings.TrimSpace(string(data))
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		s = e.Error
	}
	s = redact(s, secrets)
	if len(s) > 200 {
		cut := 200
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

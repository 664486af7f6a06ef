package config

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// GroupByParts are the fingerprint parts sentry.group_by may name.
var GroupByParts = []string{"invariant", "town", "subject"}

// problems collects validation errors. Each names the key paths it is about;
// Parse turns those into a file line.
type problems []*Error

func (p *problems) add(keys []string, format string, args ...any) {
	*p = append(*p, &Error{Keys: keys, Msg: fmt.Sprintf(format, args...)})
}

func keys(k ...string) []string { return k }

// Validate rejects settings that cannot work. It reports every problem, one
// *Error per line (see Problems); errors carry key paths but no file or line
// until Parse adds them.
func (c *Config) Validate() error {
	var p problems
	c.validateTarget(&p)
	c.validatePoll(&p)
	c.validateShard(&p)
	c.validateDedupe(&p)
	c.validateSentry(&p)
	c.validateThresholds(&p)
	c.validateWeb(&p)
	return join(p)
}

func (c *Config) validateTarget(p *problems) {
	t := c.Target
	if t.URL != "" {
		if msg := checkTargetURL(t.URL); msg != "" {
			p.add(keys("target.url"), "%s", msg)
		}
	}
	for i, id := range t.Towns {
		if strings.TrimSpace(id) == "" {
			p.add(keys(fmt.Sprintf("target.towns[%d]", i), "target.towns"), "target.towns[%d] is an empty town id", i)
		}
	}
	if t.Timeout <= 0 {
		p.add(keys("target.timeout"), "target.timeout must be > 0")
	} else if c.Poll.Interval > 0 && t.Timeout >= c.Poll.Interval {
		p.add(keys("target.timeout", "poll.interval"),
			"target.timeout (%s) must be below poll.interval (%s)", t.Timeout, c.Poll.Interval)
	}
	if err := t.HTTPClient.Validate(); err != nil {
		p.add(keys("target.http_client"), "target.http_client: %v", err)
	}
}

// checkTargetURL says what is wrong with a target URL, or "" when it works.
// It never repeats a password written in the URL.
func checkTargetURL(raw string) string {
	shown := redactUserinfo(raw)
	if !strings.Contains(raw, "://") {
		return fmt.Sprintf("target.url %q has no scheme; write http://%s", shown, shown)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("target.url %q is not a valid URL", shown)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("target.url %q has scheme %q; use http or https", shown, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Sprintf("target.url %q has no host", shown)
	}
	if hasQueryOrFragment(u, raw) {
		return fmt.Sprintf("target.url %q must not have a query or fragment; API paths are appended to it", shown)
	}
	return ""
}

// hasQueryOrFragment: raw, parsed as u, has a query or a fragment, even an
// empty one ("http://g/?", "http://g/#"), which would end up inside every
// path appended to it.
func hasQueryOrFragment(u *url.URL, raw string) bool {
	return u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(raw, "#")
}

// redactUserinfo hides "user:password@" in a URL-like string.
func redactUserinfo(raw string) string {
	at := strings.LastIndex(raw, "@")
	if at < 0 {
		return raw
	}
	start := 0
	if i := strings.Index(raw, "://"); i >= 0 && i < at {
		start = i + len("://")
	}
	return raw[:start] + "xxxxx" + raw[at:]
}

func (c *Config) validatePoll(p *problems) {
	q := c.Poll
	if q.Interval <= 0 {
		p.add(keys("poll.interval"), "poll.interval must be > 0")
	}
	if q.IdleInterval <= 0 {
		p.add(keys("poll.idle_interval"), "poll.idle_interval must be > 0")
	}
	if q.Concurrency < 1 {
		p.add(keys("poll.concurrency"), "poll.concurrency must be >= 1")
	}
	if q.MaxRequestsPerSecond <= 0 {
		p.add(keys("poll.max_requests_per_second"), "poll.max_requests_per_second must be > 0")
	}
	if q.MaxBodyBytes <= 0 {
		p.add(keys("poll.max_body_bytes"), "poll.max_body_bytes must be > 0")
	}
	if q.MaxActionTypes < 1 {
		p.add(keys("poll.max_action_types"), "poll.max_action_types must be >= 1")
	}
	if q.DryRunInterval < 0 || time.Duration(q.DryRunInterval) > MaxDryRunWait {
		p.add(keys("poll.dry_run_interval"), "poll.dry_run_interval (%s) must be between 0 (a dry run every poll) and %s",
			q.DryRunInterval, model.Duration(MaxDryRunWait))
	}
}

func (c *Config) validateShard(p *problems) {
	s := c.Shard
	switch {
	case s.Count < 1:
		p.add(keys("shard.count", "shard"), "shard.count must be >= 1")
	case s.Index < 0 || s.Index >= s.Count:
		p.add(keys("shard.index", "shard.count", "shard"),
			"shard.index (%d) is out of range: it must be between 0 and shard.count-1 (%d)", s.Index, s.Count-1)
	}
}

func (c *Config) validateDedupe(p *problems) {
	d := c.Dedupe
	if d.OpenAfter < 1 {
		p.add(keys("dedupe.open_after"), "dedupe.open_after must be >= 1")
	}
	if d.ResolveAfter < 1 {
		p.add(keys("dedupe.resolve_after"), "dedupe.resolve_after must be >= 1")
	}
	if d.RepeatInterval < 0 {
		p.add(keys("dedupe.repeat_interval"), "dedupe.repeat_interval must be >= 0 (0 = never repeat)")
	}
	if strings.TrimSpace(d.StateDir) == "" {
		p.add(keys("dedupe.state_dir"), "dedupe.state_dir must not be empty")
	}
}

func (c *Config) validateSentry(p *problems) {
	s := c.Sentry
	if s.DSN != "" {
		if why := checkDSN(string(s.DSN)); why != "" {
			p.add(keys("sentry.dsn"), "sentry.dsn is not a valid Sentry DSN: %s", why)
		}
	}
	if s.MaxEventsPerSecond <= 0 {
		p.add(keys("sentry.max_events_per_second"),
			"sentry.max_events_per_second must be > 0 (leave sentry.dsn empty to send nothing)")
	}
	if s.Burst < 1 {
		p.add(keys("sentry.burst"), "sentry.burst must be >= 1")
	}
	if len(s.GroupBy) == 0 {
		p.add(keys("sentry.group_by"), "sentry.group_by must name at least one of %s", strings.Join(GroupByParts, ", "))
	}
	switch {
	case s.AuthTokenFile != "" && strings.TrimSpace(s.Organization) == "":
		p.add(keys("sentry.organization", "sentry.auth_token_file"),
			"sentry.organization (the organization slug) is needed with sentry.auth_token_file: the issue calls name it")
	case s.AuthTokenFile == "" && s.Organization != "":
		p.add(keys("sentry.organization"), "sentry.organization is used only with sentry.auth_token_file, which is not set")
	}
	if s.APIURL != "" {
		if msg := checkBaseURL("sentry.api_url", s.APIURL); msg != "" {
			p.add(keys("sentry.api_url"), "%s", msg)
		}
	}
	seen := map[string]bool{}
	for i, part := range s.GroupBy {
		at := keys(fmt.Sprintf("sentry.group_by[%d]", i), "sentry.group_by")
		switch {
		case !isGroupByPart(part):
			p.add(at, "sentry.group_by has unknown entry %q; use %s", part, strings.Join(GroupByParts, ", "))
		case seen[part]:
			p.add(at, "sentry.group_by lists %q twice", part)
		}
		seen[part] = true
	}
}

func isGroupByPart(s string) bool {
	for _, g := range GroupByParts {
		if s == g {
			return true
		}
	}
	return false
}

// checkDSN says what is wrong with a Sentry DSN
// (scheme://public_key@host[:port]/[path/]project_id), or "" when it is
// usable. The answer never contains the DSN: its key is a secret.
func checkDSN(dsn string) string {
	u, err := url.Parse(dsn)
	switch {
	case err != nil:
		return "it is not a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "the scheme must be http or https"
	case u.User == nil || u.User.Username() == "":
		return "it has no public key before the @"
	case u.Hostname() == "":
		return "it has no host"
	case strings.Trim(u.Path, "/") == "" || strings.HasSuffix(u.Path, "/"):
		return "it has no project id at the end of its path"
	}
	return ""
}

func (c *Config) validateThresholds(p *problems) {
	t := c.Thresholds
	for _, tp := range t.problems() {
		p.add(tp.keys, "%s", tp.msg)
	}
	if t.StaleAfter > 0 && c.Poll.IdleInterval > 0 && t.StaleAfter <= c.Poll.IdleInterval {
		p.add(keys("thresholds.stale_after", "poll.idle_interval"),
			"thresholds.stale_after (%s) must be above poll.idle_interval (%s), or idle towns look stale between polls",
			t.StaleAfter, c.Poll.IdleInterval)
	}
}

type thresholdProblem struct {
	keys []string
	msg  string
}

// problems lists what no dashboard or alert rule can be built from. The
// comparisons are written so that NaN fails them too.
func (t Thresholds) problems() []thresholdProblem {
	var out []thresholdProblem
	if !(t.WallClockSeconds > 0) {
		out = append(out, thresholdProblem{keys("thresholds.wall_clock_seconds"), "thresholds.wall_clock_seconds must be > 0"})
	}
	if !(t.QueueDepthWarning >= 0) {
		out = append(out, thresholdProblem{keys("thresholds.queue_depth_warning"), "thresholds.queue_depth_warning must be >= 0"})
	}
	if !(t.QueueDepthCritical > 0) {
		out = append(out, thresholdProblem{keys("thresholds.queue_depth_critical"), "thresholds.queue_depth_critical must be > 0: it pages"})
	}
	if t.QueueDepthWarning > t.QueueDepthCritical {
		out = append(out, thresholdProblem{keys("thresholds.queue_depth_warning", "thresholds.queue_depth_critical"),
			fmt.Sprintf("thresholds.queue_depth_warning (%g) must not be above thresholds.queue_depth_critical (%g)",
				t.QueueDepthWarning, t.QueueDepthCritical)})
	}
	if t.StaleAfter <= 0 {
		out = append(out, thresholdProblem{keys("thresholds.stale_after"), "thresholds.stale_after must be > 0"})
	}
	return out
}

// Check reports thresholds no dashboard or alert rule can be built from, as
// Validate does for a file but without its lines, for the generators that
// take thresholds from code.
func (t Thresholds) Check() error {
	var errs []error
	for _, tp := range t.problems() {
		errs = append(errs, errors.New(tp.msg))
	}
	return errors.Join(errs...)
}

func (c *Config) validateWeb(p *problems) {
	for _, k := range []struct{ key, url string }{
		{"web.external_url", c.Web.ExternalURL},
		{"web.grafana_url", c.Web.GrafanaURL},
	} {
		if k.url == "" {
			continue
		}
		if msg := checkBaseURL(k.key, k.url); msg != "" {
			p.add(keys(k.key), "%s", msg)
		}
	}
}

// checkBaseURL says what is wrong with a base URL that links or API calls
// are built on, or "" when it works. The web.* URLs go into every Sentry
// event, so none may carry credentials.
func checkBaseURL(key, raw string) string {
	shown := redactUserinfo(raw)
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Sprintf("%s %q is not a valid URL", key, shown)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("%s %q must start with http:// or https://", key, shown)
	case u.Host == "":
		return fmt.Sprintf("%s %q has no host", key, shown)
	case u.User != nil:
		return fmt.Sprintf("%s %q must not hold a user or password", key, shown)
	case hasQueryOrFragment(u, raw):
		return fmt.Sprintf("%s %q must not have a query or fragment; paths are appended to it", key, shown)
	}
	return ""
}

// RedactedURL is the target URL fit for logs and summaries: any
// "user:password@" in it is hidden.
func (t Target) RedactedURL() string { return redactUserinfo(t.URL) }

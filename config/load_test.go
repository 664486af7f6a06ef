package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
)

// specExample is the config file of SPEC section 3, verbatim.
const specExample = `target:
  url: http://127.0.0.1:8788          # the Gastown worker
  towns: [town-a, town-b]              # static ids, and/or:
  towns_file: towns.yml                # YAML/JSON list of ids, re-read when it changes
  http_client: {}                      # prometheus/common HTTPClientConfig: bearer_token_file, basic_auth, tls_config, ...
  timeout: 4s
  status: true                         # also GET /status each poll
poll:
  interval: 5s                         # cadence for active towns
  idle_interval: 60s                   # cadence for towns whose status says idle
  concurrency: 64
  max_requests_per_second: 200         # x/time/rate budget towards the target, all towns together
  max_body_bytes: 4194304
  max_action_types: 64                 # per town; the rest are counted under type="other"
shard: {index: 0, count: 1}            # this replica owns towns whose hash mod count == index
dedupe:
  open_after: 2                        # consecutive observations before a violation opens
  resolve_after: 3                     # consecutive absences before it resolves
  repeat_interval: 24h                 # re-notify a violation still open after this long; 0 = never
  state_dir: ./data                    # durable dedupe state and Sentry outbox
sentry:
  dsn: ""                              # empty: transitions go to the log only
  environment: production
  release: ""
  max_events_per_second: 1             # x/time/rate
  burst: 20
  send_resolved: true
  group_by: [invariant]                # fingerprint parts: invariant, town, subject
thresholds:                            # one source for dashboard thresholds and alert rules
  wall_clock_seconds: 0.5
  queue_depth_warning: 25
  queue_depth_critical: 50
  stale_after: 5m
`

// everyKey sets every key to a value other than its default, so a key that
// is read into the wrong field (or not at all) shows.
const everyKey = `target:
  url: https://gastown.example:8443/base
  towns: [alpha, beta]
  towns_file: /etc/tickwatch/towns.json
  http_client:
    follow_redirects: false
  timeout: 1500ms
  status: false
poll:
  interval: 10s
  idle_interval: 2m
  concurrency: 8
  max_requests_per_second: 12.5
  max_body_bytes: 1024
  max_action_types: 3
  dry_run_interval: 30s
  batch_window: 250ms
shard:
  index: 2
  count: 3
dedupe:
  open_after: 4
  resolve_after: 5
  repeat_interval: 0
  state_dir: /var/lib/tickwatch
sentry:
  dsn: https://abc123@sentry.example/42
  environment: staging
  release: v1.2.3
  max_events_per_second: 0.5
  burst: 7
  send_resolved: false
  group_by: [invariant, town, subject]
  auth_token_file: /etc/tickwatch/sentry-token
  organization: acme
  api_url: https://sentry.example/
thresholds:
  wall_clock_seconds: 1.25
  queue_depth_warning: 10
  queue_depth_critical: 10
  stale_after: 1d
web:
  external_url: https://tickwatch.example
  grafana_url: https://grafana.example/grafana
metrics:
  agents_by_status: true
  beads_by_status: true
  side_effects_by_outcome: true
  dry_run_detail: true
  alarm_interval: true
`

func TestParseSpecExample(t *testing.T) {
	t.Setenv(SentryDSNEnv, "")
	got, err := Parse([]byte(specExample), "/etc/tickwatch/tickwatch.yml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default()
	want.Target.URL = "http://127.0.0.1:8788"
	want.Target.Towns = []string{"town-a", "town-b"}
	want.Target.TownsFile = "/etc/tickwatch/towns.yml"
	want.Dedupe.StateDir = "/etc/tickwatch/data"
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("Parse(SPEC example) =\n%+v\nwant\n%+v", *got, want)
	}
}

func TestParseEveryKey(t *testing.T) {
	t.Setenv(SentryDSNEnv, "")
	got, err := Parse([]byte(everyKey), "tickwatch.yml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	httpClient := commoncfg.DefaultHTTPClientConfig
	httpClient.FollowRedirects = false
	want := Config{
		Target: Target{
			URL:        "https://gastown.example:8443/base",
			Towns:      []string{"alpha", "beta"},
			TownsFile:  "/etc/tickwatch/towns.json",
			HTTPClient: httpClient,
			Timeout:    model.Duration(1500 * time.Millisecond),
			Status:     false,
		},
		Poll: Poll{
			Interval:             model.Duration(10 * time.Second),
			IdleInterval:         model.Duration(2 * time.Minute),
			Concurrency:          8,
			MaxRequestsPerSecond: 12.5,
			MaxBodyBytes:         1024,
			MaxActionTypes:       3,
			DryRunInterval:       model.Duration(30 * time.Second),
			BatchWindow:          model.Duration(250 * time.Millisecond),
		},
		Shard:  Shard{Index: 2, Count: 3},
		Dedupe: Dedupe{OpenAfter: 4, ResolveAfter: 5, RepeatInterval: 0, StateDir: "/var/lib/tickwatch"},
		Sentry: Sentry{
			DSN:                "https://abc123@sentry.example/42",
			Environment:        "staging",
			Release:            "v1.2.3",
			MaxEventsPerSecond: 0.5,
			Burst:              7,
			SendResolved:       false,
			GroupBy:            []string{"invariant", "town", "subject"},
			AuthTokenFile:      "/etc/tickwatch/sentry-token",
			Organization:       "acme",
			APIURL:             "https://sentry.example/",
		},
		Thresholds: Thresholds{
			WallClockSeconds:   1.25,
			QueueDepthWarning:  10,
			QueueDepthCritical: 10,
			StaleAfter:         model.Duration(24 * time.Hour),
		},
		Web: Web{ExternalURL: "https://tickwatch.example", GrafanaURL: "https://grafana.example/grafana"},
		Metrics: Metrics{AgentsByStatus: true, BeadsByStatus: true, SideEffectsByOutcome: true,
			DryRunDetail: true, AlarmInterval: true},
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("Parse(every key) =\n%+v\nwant\n%+v", *got, want)
	}
}

func TestParseDefaults(t *testing.T) {
	t.Setenv(SentryDSNEnv, "")
	for name, in := range map[string]string{
		"empty":         "",
		"blank lines":   "\n\n  \n",
		"only comments": "# nothing set yet\n# target: ...\n",
		"empty doc":     "---\n",
	} {
		t.Run(name, func(t *testing.T) {
			got, err := Parse([]byte(in), "tickwatch.yml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if want := Default(); !reflect.DeepEqual(*got, want) {
				t.Errorf("Parse(%q) = %+v, want the defaults %+v", in, *got, want)
			}
		})
	}
}

// A section key with nothing under it keeps that section's defaults, and
// keys a file leaves out keep theirs.
func TestParsePartialKeepsDefaults(t *testing.T) {
	t.Setenv(SentryDSNEnv, "")
	got, err := Parse([]byte("poll:\nsentry:\n  burst: 3\n"), "tickwatch.yml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := Default()
	want.Sentry.Burst = 3
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("got %+v, want %+v", *got, want)
	}
}

func TestLoad(t *testing.T) {
	t.Setenv(SentryDSNEnv, "")
	t.Run("no file", func(t *testing.T) {
		got, err := Load("")
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if want := Default(); !reflect.DeepEqual(*got, want) {
			t.Errorf("Load(\"\") = %+v, want the defaults", *got)
		}
	})
	t.Run("file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "tickwatch.yml")
		if err := os.WriteFile(path, []byte("poll:\n  concurrency: 3\n  intervall: 1s\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		want := path + `:3: unknown key "intervall" in poll; did you mean "interval"?`
		if err == nil || err.Error() != want {
			t.Errorf("Load error = %v, want %q", err, want)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "absent.yml")
		_, err := Load(path)
		want := "read config: open " + path + ": no such file or directory"
		if err == nil || err.Error() != want {
			t.Errorf("Load error = %v, want %q", err, want)
		}
		if len(Problems(err)) != 0 {
			t.Errorf("a missing file is not a located problem, got %v", Problems(err))
		}
	})
}

func TestParseRejects(t *testing.T) {
	t.Setenv(SentryDSNEnv, "")
	for _, tc := range []struct {
		name, in, want string
	}{
		{"unknown key", "poll:\n  interval: 5s\n  intervall: 5s\n", `tickwatch.yml:3: unknown key "intervall" in poll; did you mean "interval"?`},
		{"unknown top-level key", "# comment\ntargets:\n  url: http://x\n", `tickwatch.yml:2: unknown key "targets"; did you mean "target"?`},
		{"unknown nested key", "target:\n  http_client:\n    tls_config:\n      ca_fil: ca.pem\n",
			`tickwatch.yml:4: unknown key "ca_fil" in target.http_client.tls_config; did you mean "ca_file"?`},
		{"unknown metrics group", "metrics:\n  agents_by_status: true\n  agents: true\n", `tickwatch.yml:3: unknown key "agents" in metrics`},
		{"metrics group not a bool", "metrics:\n  dry_run_detail: yes please\n", `tickwatch.yml:2: metrics.dry_run_detail must be true or false, got "yes please"`},
		{"metrics as a list", "metrics: [agents_by_status]\n", "tickwatch.yml:1: metrics must be a mapping of keys, got a list"},
		{"unknown key in flow mapping", "shard: {index: 0, cuont: 2}\n", `tickwatch.yml:1: unknown key "cuont" in shard; did you mean "count"?`},
		{"zero interval", "target:\n  timeout: 1s\npoll:\n  interval: 0\n", "tickwatch.yml:4: poll.interval must be > 0"},
		{"zero idle interval", "poll:\n  idle_interval: 0s\nthresholds:\n  stale_after: 1h\n", "tickwatch.yml:2: poll.idle_interval must be > 0"},
		{"timeout equals interval", "poll:\n  interval: 5s\ntarget:\n  timeout: 5s\n",
			"tickwatch.yml:4: target.timeout (5s) must be below poll.interval (5s)"},
		{"default timeout above interval points at interval", "poll:\n  interval: 3s\n",
			"tickwatch.yml:2: target.timeout (4s) must be below poll.interval (3s)"},
		{"zero timeout", "target:\n  timeout: 0s\n", "tickwatch.yml:2: target.timeout must be > 0"},
		{"shard index too high", "shard: {index: 2, count: 2}\n",
			"tickwatch.yml:1: shard.index (2) is out of range: it must be between 0 and shard.count-1 (1)"},
		{"shard index negative", "shard:\n  count: 4\n  index: -1\n",
			"tickwatch.yml:3: shard.index (-1) is out of range: it must be between 0 and shard.count-1 (3)"},
		{"shard count zero", "shard:\n  count: 0\n", "tickwatch.yml:2: shard.count must be >= 1"},
		{"url without scheme", "target:\n  url: 127.0.0.1:8788\n",
			`tickwatch.yml:2: target.url "127.0.0.1:8788" has no scheme; write http://127.0.0.1:8788`},
		{"url host without scheme", "target:\n  url: localhost:8788\n",
			`tickwatch.yml:2: target.url "localhost:8788" has no scheme; write http://localhost:8788`},
		{"url other scheme", "target:\n  url: ftp://gastown\n", `tickwatch.yml:2: target.url "ftp://gastown" has scheme "ftp"; use http or https`},
		{"url without host", "target:\n  url: http://\n", `tickwatch.yml:2: target.url "http://" has no host`},
		{"url with query", "target:\n  url: http://g/?a=1\n",
			`tickwatch.yml:2: target.url "http://g/?a=1" must not have a query or fragment; API paths are appended to it`},
		{"url with empty query", "target:\n  url: http://g:8788?\n",
			`tickwatch.yml:2: target.url "http://g:8788?" must not have a query or fragment; API paths are appended to it`},
		{"url with empty fragment", "target:\n  url: http://g/#\n",
			`tickwatch.yml:2: target.url "http://g/#" must not have a query or fragment; API paths are appended to it`},
		{"empty town id", "target:\n  towns:\n    - a\n    - \"\"\n", "tickwatch.yml:4: target.towns[1] is an empty town id"},
		{"unknown group_by", "sentry:\n  group_by:\n    - invariant\n    - host\n",
			`tickwatch.yml:4: sentry.group_by has unknown entry "host"; use invariant, town, subject`},
		{"repeated group_by", "sentry:\n  group_by: [town, town]\n", `tickwatch.yml:2: sentry.group_by lists "town" twice`},
		{"empty group_by", "sentry:\n  group_by: []\n", "tickwatch.yml:2: sentry.group_by must name at least one of invariant, town, subject"},
		{"negative request rate", "poll:\n  max_requests_per_second: -1\n", "tickwatch.yml:2: poll.max_requests_per_second must be > 0"},
		{"negative event rate", "sentry:\n  max_events_per_second: -0.5\n",
			"tickwatch.yml:2: sentry.max_events_per_second must be > 0 (leave sentry.dsn empty to send nothing)"},
		{"negative burst", "sentry:\n  burst: -3\n", "tickwatch.yml:2: sentry.burst must be >= 1"},
		{"zero concurrency", "poll:\n  concurrency: 0\n", "tickwatch.yml:2: poll.concurrency must be >= 1"},
		{"zero body cap", "poll:\n  max_body_bytes: 0\n", "tickwatch.yml:2: poll.max_body_bytes must be > 0"},
		{"zero max action types", "poll:\n  max_action_types: 0\n", "tickwatch.yml:2: poll.max_action_types must be >= 1"},
		{"dry run interval above the cap", "poll:\n  dry_run_interval: 15m\n",
			"tickwatch.yml:2: poll.dry_run_interval (15m) must be between 0 (a dry run every poll) and 10m"},
		{"zero open_after", "dedupe:\n  open_after: 0\n", "tickwatch.yml:2: dedupe.open_after must be >= 1"},
		{"zero resolve_after", "dedupe:\n  resolve_after: 0\n", "tickwatch.yml:2: dedupe.resolve_after must be >= 1"},
		{"empty state_dir", "dedupe:\n  state_dir: \"\"\n", "tickwatch.yml:2: dedupe.state_dir must not be empty"},
		{"warning above critical", "thresholds:\n  queue_depth_warning: 60\n  queue_depth_critical: 50\n",
			"tickwatch.yml:2: thresholds.queue_depth_warning (60) must not be above thresholds.queue_depth_critical (50)"},
		{"zero critical", "thresholds:\n  queue_depth_warning: 0\n  queue_depth_critical: 0\n",
			"tickwatch.yml:3: thresholds.queue_depth_critical must be > 0: it pages"},
		{"critical below default warning", "thresholds:\n  queue_depth_critical: 10\n",
			"tickwatch.yml:2: thresholds.queue_depth_warning (25) must not be above thresholds.queue_depth_critical (10)"},
		{"zero wall clock", "thresholds:\n  wall_clock_seconds: 0\n", "tickwatch.yml:2: thresholds.wall_clock_seconds must be > 0"},
		{"stale before idle poll", "thresholds:\n  stale_after: 30s\n",
			"tickwatch.yml:2: thresholds.stale_after (30s) must be above poll.idle_interval (1m), or idle towns look stale between polls"},
		{"bad duration", "poll:\n  interval: 5x\n", `tickwatch.yml:2: poll.interval: "5x" is not a duration (write e.g. 500ms, 5s, 1m, 24h, 1d)`},
		{"negative duration", "dedupe:\n  repeat_interval: -1h\n",
			`tickwatch.yml:2: dedupe.repeat_interval must not be negative, got "-1h"`},
		{"duration as mapping", "poll:\n  interval: {s: 5}\n", "tickwatch.yml:2: poll.interval must be a single value, got a mapping"},
		{"not a number", "poll:\n  concurrency: fast\n", `tickwatch.yml:2: poll.concurrency must be a whole number, got "fast"`},
		{"not a float", "poll:\n  max_requests_per_second: lots\n", `tickwatch.yml:2: poll.max_requests_per_second must be a number, got "lots"`},
		{"not a bool", "target:\n  status: sometimes\n", `tickwatch.yml:2: target.status must be true or false, got "sometimes"`},
		{"negative interval", "poll:\n  interval: -5s\n", `tickwatch.yml:2: poll.interval must not be negative, got "-5s"`},
		{"a bool in quotes", "target:\n  status: \"false\"\n", `tickwatch.yml:2: target.status must be true or false without quotes, got the string "false"`},
		{"towns not a list", "target:\n  towns: town-a\n", "tickwatch.yml:2: target.towns must be a list, got a single value"},
		{"section not a mapping", "target: http://x\n", "tickwatch.yml:1: target must be a mapping of keys, got a single value"},
		{"file not a mapping", "- target\n", "tickwatch.yml:1: the config file must be a mapping of keys, got a list"},
		{"duplicate key", "poll:\n  interval: 5s\n  interval: 6s\n", `tickwatch.yml:3: mapping key "interval" already defined at line 2`},
		{"syntax error", "target:\n  url: [\n", "tickwatch.yml:2: did not find expected node content"},
		{"tab indent", "poll:\n\tinterval: 5s\n", "tickwatch.yml:2: a tab indents this line; YAML allows only spaces"},
		{"http client invalid", "target:\n  http_client:\n    bearer_token: abc\n    bearer_token_file: /t\n",
			"tickwatch.yml:2: target.http_client: at most one of bearer_token & bearer_token_file must be configured"},
		{"http header reserved", "target:\n  http_client:\n    http_headers:\n      X-Team:\n        values: [a]\n      Authorization:\n        values: [b]\n",
			`tickwatch.yml:2: target.http_client: setting header "Authorization" is not allowed`},
		{"http header unknown key", "target:\n  http_client:\n    http_headers:\n      X-Team:\n        valuez: [a]\n",
			`tickwatch.yml:5: unknown key "valuez" in target.http_client.http_headers.X-Team; did you mean "values"?`},
		{"token without organization", "sentry:\n  auth_token_file: token\n",
			"tickwatch.yml:2: sentry.organization (the organization slug) is needed with sentry.auth_token_file: the issue calls name it"},
		{"organization without token", "sentry:\n  organization: acme\n",
			"tickwatch.yml:2: sentry.organization is used only with sentry.auth_token_file, which is not set"},
		{"api_url without scheme", "sentry:\n  api_url: sentry.example\n",
			`tickwatch.yml:2: sentry.api_url "sentry.example" must start with http:// or https://`},
		{"external_url with a password", "web:\n  external_url: https://me:secret@tickwatch.example\n",
			`tickwatch.yml:2: web.external_url "https://xxxxx@tickwatch.example" must not hold a user or password`},
		{"grafana_url with a query", "web:\n  grafana_url: https://grafana.example/?orgId=1\n",
			`tickwatch.yml:2: web.grafana_url "https://grafana.example/?orgId=1" must not have a query or fragment; paths are appended to it`},
		{"grafana_url without host", "web:\n  grafana_url: https://\n", `tickwatch.yml:2: web.grafana_url "https://" has no host`},
		{"dsn without project", "sentry:\n  dsn: https://key@sentry.example/\n",
			"tickwatch.yml:2: sentry.dsn is not a valid Sentry DSN: it has no project id at the end of its path"},
		{"grafana url without scheme", "web:\n  grafana_url: grafana.example\n",
			`tickwatch.yml:2: web.grafana_url "grafana.example" must start with http:// or https://`},
		{"grafana url with credentials", "web:\n  grafana_url: https://admin:pw@grafana.example\n",
			`tickwatch.yml:2: web.grafana_url "https://xxxxx@grafana.example" must not hold a user or password`},
		{"several problems, in file order", "poll:\n  intervall: 5s\n  concurrency: 0\nshard: {index: 1, count: 1}\ntarget:\n  url: gastown:8788\n",
			`tickwatch.yml:2: unknown key "intervall" in poll; did you mean "interval"?` + "\n" +
				`tickwatch.yml:3: poll.concurrency must be >= 1` + "\n" +
				`tickwatch.yml:4: shard.index (1) is out of range: it must be between 0 and shard.count-1 (0)` + "\n" +
				`tickwatch.yml:6: target.url "gastown:8788" has no scheme; write http://gastown:8788`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.in), "tickwatch.yml")
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config with the error: %+v", cfg)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tc.want)
			}
		})
	}
}

func TestSentryDSNFromEnvironment(t *testing.T) {
	const envDSN = "https://envkey@sentry.example/7"
	for _, tc := range []struct {
		name, env, file, want string
	}{
		{"file names none", envDSN, "", envDSN},
		{"file names one", envDSN, "sentry:\n  dsn: https://filekey@sentry.example/8\n", "https://filekey@sentry.example/8"},
		{"file sets it empty", envDSN, "sentry:\n  dsn: \"\"\n", envDSN},
		{"neither", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(SentryDSNEnv, tc.env)
			cfg, err := Parse([]byte(tc.file), "tickwatch.yml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := string(cfg.Sentry.DSN); got != tc.want {
				t.Errorf("sentry.dsn = %q, want %q", got, tc.want)
			}
		})
	}
}

// No error text ever repeats a secret: not the DSN (from file or
// environment), not a password in a URL, not a secret of the wrong type.
func TestErrorsHideSecrets(t *testing.T) {
	const secret = "s3cr3tvalue"
	for _, tc := range []struct {
		name, env, in, want string
	}{
		{"dsn in file", "", "sentry:\n  dsn: https://" + secret + "@/1\n",
			"tickwatch.yml:2: sentry.dsn is not a valid Sentry DSN: it has no host"},
		{"dsn without scheme", "", "sentry:\n  dsn: " + secret + "\n",
			"tickwatch.yml:2: sentry.dsn is not a valid Sentry DSN: the scheme must be http or https"},
		{"unparsable dsn", "", "sentry:\n  dsn: \"http://" + secret + "@[::1\"\n",
			"tickwatch.yml:2: sentry.dsn is not a valid Sentry DSN: it is not a URL"},
		{"dsn in environment", "ftp://" + secret + "@sentry.example/1", "",
			"environment SENTRY_DSN: sentry.dsn is not a valid Sentry DSN: the scheme must be http or https"},
		{"password in target url", "", "target:\n  url: admin:" + secret + "@gastown:8788\n",
			`tickwatch.yml:2: target.url "xxxxx@gastown:8788" has no scheme; write http://xxxxx@gastown:8788`},
		{"password in target url with bad scheme", "", "target:\n  url: ftp://admin:" + secret + "@gastown\n",
			`tickwatch.yml:2: target.url "ftp://xxxxx@gastown" has scheme "ftp"; use http or https`},
		{"password in proxy url", "", "target:\n  http_client:\n    proxy_url: \"http://u:" + secret + "@[::1\"\n",
			`tickwatch.yml:3: target.http_client.proxy_url: parse "http://xxxxx@[::1": missing ']' in host`},
		{"secret of wrong shape", "", "target:\n  http_client:\n    basic_auth:\n      username: u\n      password: [" + secret + "]\n",
			"tickwatch.yml:5: target.http_client.basic_auth.password must be a single value, got a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(SentryDSNEnv, tc.env)
			_, err := Parse([]byte(tc.in), "tickwatch.yml")
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the secret: %s", err)
			}
		})
	}
}

func TestRelativePathsResolveAgainstConfigDir(t *testing.T) {
	t.Setenv(SentryDSNEnv, "")
	in := `target:
  towns_file: lists/towns.yml
  http_client:
    bearer_token_file: secrets/token
    tls_config:
      ca_file: /etc/ssl/ca.pem
      cert_file: tls/client.crt
      key_file: tls/client.key
dedupe:
  state_dir: state
`
	for _, tc := range []struct {
		filename, dir string
	}{
		{"conf/tickwatch.yml", "conf"},
		{"/etc/tickwatch/tickwatch.yml", "/etc/tickwatch"},
		{"tickwatch.yml", ""},
	} {
		t.Run(tc.filename, func(t *testing.T) {
			cfg, err := Parse([]byte(in), tc.filename)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			hc := cfg.Target.HTTPClient
			for _, c := range []struct{ what, got, want string }{
				{"towns_file", cfg.Target.TownsFile, filepath.Join(tc.dir, "lists/towns.yml")},
				{"state_dir", cfg.Dedupe.StateDir, filepath.Join(tc.dir, "state")},
				// HTTPClientConfig moves bearer_token_file into authorization.
				{"bearer_token_file", hc.Authorization.CredentialsFile, filepath.Join(tc.dir, "secrets/token")},
				{"cert_file", hc.TLSConfig.CertFile, filepath.Join(tc.dir, "tls/client.crt")},
				{"key_file", hc.TLSConfig.KeyFile, filepath.Join(tc.dir, "tls/client.key")},
				{"ca_file (absolute)", hc.TLSConfig.CAFile, "/etc/ssl/ca.pem"},
			} {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
		})
	}
	t.Run("defaults stay relative to the working directory", func(t *testing.T) {
		cfg, err := Parse([]byte("poll:\n  concurrency: 2\n"), "/etc/tickwatch/tickwatch.yml")
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if cfg.Dedupe.StateDir != "./data" {
			t.Errorf("state_dir = %q, want the default ./data", cfg.Dedupe.StateDir)
		}
	})
}

func TestValidateWithoutFile(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Default() does not validate: %v", err)
	}
	cfg.Poll.Interval = 0
	cfg.Shard.Count = 0
	err := cfg.Validate()
	want := "poll.interval must be > 0\nshard.count must be >= 1"
	if err == nil || err.Error() != want {
		t.Fatalf("Validate = %v, want %q", err, want)
	}
	got := Problems(err)
	if len(got) != 2 || got[0].Keys[0] != "poll.interval" || got[1].Keys[0] != "shard.count" {
		t.Errorf("Problems = %+v, want poll.interval then shard.count", got)
	}
}

func TestRedactedURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                              "",
		"http://gastown:8788":           "http://gastown:8788",
		"http://u:pw@gastown:8788/base": "http://xxxxx@gastown:8788/base",
		"u:pw@gastown:8788":             "xxxxx@gastown:8788",
	} {
		if got := (Target{URL: in}).RedactedURL(); got != want {
			t.Errorf("RedactedURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNearest: a key within two edits of a name (a swap of neighbours is
// one) and closer than half its length gets a suggestion; others none.
func TestNearest(t *testing.T) {
	names := []string{"count", "index", "interval", "idle_interval"}
	for key, want := range map[string]string{
		"cuont": "count", "intervall": "interval", "idle_intervl": "idle_interval", "inedx": "index",
		"ix": "", "agents": "", "timeout": "",
	} {
		if got := nearest(key, names); got != want {
			t.Errorf("nearest(%q) = %q, want %q", key, got, want)
		}
	}
}

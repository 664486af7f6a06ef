package sidecar

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/internal/gastowntest"
	"github.com/tickwatch/tickwatch/statuspage"
)

// townServer answers the debug API per town id, the id read from the
// escaped path so that ids holding "/" or "<" stay whole.
type townServer struct {
	mu      sync.Mutex
	answers map[string]func(w http.ResponseWriter, r *http.Request, call string)
}

func (s *townServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/debug/towns/"), "/")
	town, _ := url.PathUnescape(parts[0])
	s.mu.Lock()
	answer := s.answers[town]
	s.mu.Unlock()
	if answer == nil || len(parts) != 2 {
		w.WriteHeader(404)
		w.Write([]byte(`{"success":false,"error":"Not found"}`))
		return
	}
	answer(w, r, parts[1])
}

func startSidecar(t *testing.T, yml string, logs io.Writer) (*Sidecar, *httptest.Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tickwatch.yml")
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sc, err := New(cfg, Options{ConfigFile: path, TelemetryPath: "/metrics", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Violations.Tracker.Close(); sc.Violations.Notifier.Close() })
	web := httptest.NewServer(sc.Handler())
	t.Cleanup(web.Close)
	return sc, web, path
}

// TestStatusPageEscapesWhatTheTargetSays: town ids, error texts and
// violation messages are the target's words; on the status page they are
// text, never markup.
func TestStatusPageEscapesWhatTheTargetSays(t *testing.T) {
	const (
		scriptTown = `<script>alert("id")</script>`
		quoteTown  = `q"uote'&<b>`
		errText    = `<img src=x onerror=alert('err')>`
		message    = `Working agent <b onmouseover="steal()">a-1</b> has no hook`
	)
	target := &townServer{answers: map[string]func(http.ResponseWriter, *http.Request, string){
		scriptTown: func(w http.ResponseWriter, _ *http.Request, _ string) {
			w.WriteHeader(500)
			fmt.Fprintf(w, `{"success":false,"error":%q}`, errText)
		},
		quoteTown: func(w http.ResponseWriter, _ *http.Request, call string) {
			if call == "status" {
				w.Write(gastowntest.Sample(t, "status.json"))
				return
			}
			fmt.Fprintf(w, `{"actions":[],"metrics":{"actionsEmitted":0,"actionsByType":{},"pendingEventCount":0,"eventsDrained":0},"violations":[{"invariant":7,"message":%q}]}`, message)
		},
	}}
	srv := httptest.NewServer(target)
	defer srv.Close()
	towns, _ := json.Marshal([]string{scriptTown, quoteTown})
	sc, web, _ := startSidecar(t, "target:\n  url: "+srv.URL+"\n  towns: "+string(towns)+"\n  timeout: 1s\n"+
		"dedupe:\n  open_after: 1\n  state_dir: "+t.TempDir()+"\n", io.Discard)
	sc.Poller.Tick(context.Background())

	var pages string
	for _, path := range []string{"/", statuspage.TownPath(scriptTown), statuspage.TownPath(quoteTown)} {
		code, page := get(t, web.URL+path)
		if code != 200 {
			t.Fatalf("%s: %d", path, code)
		}
		pages += page
	}
	for _, raw := range []string{scriptTown, quoteTown, errText, `<b onmouseover`} {
		if strings.Contains(pages, raw) {
			t.Errorf("the status pages have %q as markup", raw)
		}
	}
	for _, escaped := range []string{
		`&lt;script&gt;alert(&#34;id&#34;)&lt;/script&gt;`,
		`q&#34;uote&#39;&amp;&lt;b&gt;`,
		`&lt;img src=x onerror=alert(&#39;err&#39;)&gt;`,
		`Working agent &lt;b onmouseover=&#34;steal()&#34;&gt;a-1&lt;/b&gt; has no hook`,
	} {
		if !strings.Contains(pages, escaped) {
			t.Errorf("the status pages lack %s", escaped)
		}
	}

	// The JSON keeps the texts as they were.
	var bad, quoted statuspage.Town
	for town, into := range map[string]*statuspage.Town{scriptTown: &bad, quoteTown: &quoted} {
		if _, body := get(t, web.URL+statuspage.TownJSONPath(town)); json.Unmarshal([]byte(body), into) != nil {
			t.Fatalf("%s: %s", statuspage.TownJSONPath(town), body)
		}
	}
	if !strings.Contains(bad.Error, errText) || len(quoted.Violations) != 1 || quoted.Violations[0].Message != message {
		t.Errorf("the JSON lost the texts: %+v %+v", bad.TownRow, quoted.Violations)
	}
}

// TestSecretsStayHidden: the target's credentials (basic-auth password, a
// Cloudflare Access secret, a bearer token, a password in the URL), the
// Sentry DSN's key and the Sentry API token appear in no log line, no error, neither status view,
// no metric and no Sentry event, even when the target echoes the request
// back in its errors and violation messages.
func TestSecretsStayHidden(t *testing.T) {
	const (
		urlPassword = "url-pass-8c1e"
		password    = "basic-pass-5f2a"
		cfSecret    = "cf-access-secret-9d3b"
		token       = "bearer-token-7e4c"
		dsnKey      = "dsnkey0a1b2c3d"
		apiToken    = "sntrys-api-token-6b2d"
	)
	secrets := []string{urlPassword, password, cfSecret, token, dsnKey, apiToken,
		base64.StdEncoding.EncodeToString([]byte("tickwatch:" + password)),
		base64.StdEncoding.EncodeToString([]byte("viewer:" + urlPassword))}
	echo := func(r *http.Request) string {
		return "auth=" + r.Header.Get("Authorization") + " cf=" + r.Header.Get("Cf-Access-Client-Secret")
	}
	var healed atomic.Bool // then the violation clears, and its Sentry issue is resolved
	target := &townServer{answers: map[string]func(http.ResponseWriter, *http.Request, string){
		"echo-401": func(w http.ResponseWriter, r *http.Request, _ string) {
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"success":false,"error":%q}`, "Unauthorized: "+echo(r))
		},
		"echo-violation": func(w http.ResponseWriter, r *http.Request, call string) {
			if call == "status" {
				w.Write(gastowntest.Sample(t, "status.json"))
				return
			}
			violations := fmt.Sprintf(`[{"invariant":7,"message":%q}]`, "Working agent a-1 has no hook ("+echo(r)+")")
			if healed.Load() {
				violations = "[]"
			}
			fmt.Fprintf(w, `{"actions":[],"metrics":{"actionsEmitted":0,"actionsByType":{},"pendingEventCount":0,"eventsDrained":0},"violations":%s}`, violations)
		},
	}}
	srv := httptest.NewServer(target)
	defer srv.Close()
	sentry := sentrytest.NewServer()
	defer sentry.Close()
	sentry.Key = dsnKey
	sentry.Script(sentrytest.Reply{Status: 500}, sentrytest.Down) // failures are logged
	sentry.AddToken(apiToken, "org:read", "event:write")          // cleared violations resolve their issues
	sentry.APIScript(sentrytest.Reply{Status: 500})
	tokenFile := filepath.Join(t.TempDir(), "sentry-token")
	os.WriteFile(tokenFile, []byte(apiToken+"\n"), 0o600)
	targetURL := strings.Replace(srv.URL, "http://", "http://viewer:"+urlPassword+"@", 1)
	stateDir := t.TempDir()
	yml := func(url, auth string) string {
		return "target:\n  url: " + url + "\n  towns: [echo-401, echo-violation]\n  timeout: 1s\n  http_client:\n" + auth +
			"    http_headers:\n      Cf-Access-Client-Id: {values: [client-id]}\n      Cf-Access-Client-Secret: {secrets: [" + cfSecret + "]}\n" +
			"dedupe:\n  open_after: 1\n  resolve_after: 1\n  state_dir: " + stateDir + "\nsentry:\n  dsn: " + sentry.DSN() + "\n  max_events_per_second: 1000\n  organization: tw\n  auth_token_file: " + tokenFile + "\n"
	}
	var logs lockedBuffer
	// The password in the URL first; then basic auth, then a bearer token,
	// each by a reload (net/http prefers the URL's credentials to either).
	sc, web, path := startSidecar(t, yml(targetURL, ""), &logs)
	ctx := context.Background()
	var seen []string // everything a person or Sentry could read
	// look ticks, sends what Sentry takes (through the scripted failures)
	// within bound, and reads every page.
	look := func(bound time.Duration) {
		sc.Poller.Tick(ctx)
		for start := time.Now(); time.Since(start) < bound && sc.Violations.Notifier.Flush(bound) != nil; {
		}
		for _, p := range []string{"/", "/status.json", "/metrics", statuspage.TownPath("echo-401"), statuspage.TownPath("echo-violation"),
			statuspage.TownJSONPath("echo-violation")} {
			_, body := get(t, web.URL+p)
			seen = append(seen, p+": "+body)
		}
	}
	look(10 * time.Second)
	look(10 * time.Second)

	for _, auth := range []string{"    basic_auth: {username: tickwatch, password: " + password + "}\n",
		"    authorization: {type: Bearer, credentials: " + token + "}\n"} {
		os.WriteFile(path, []byte(yml(srv.URL, auth)), 0o600)
		if err := sc.Reload(); err != nil {
			t.Fatal(err)
		}
		look(10 * time.Second)
	}
	healed.Store(true)
	look(2 * time.Second) // the resolve's lookup: one failure, then 404s while Sentry "processes"
	// A reload that fails: its error and log lines too.
	bad := yml(targetURL, "    bearer_token: "+token+"\n    authorization: {credentials: "+token+"}\n")
	os.WriteFile(path, []byte(strings.Replace(bad, "/1\n", "/\n", 1)), 0o600)
	resp, err := http.Post(web.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	reloadErr, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 {
		t.Fatalf("bad reload answered %d", resp.StatusCode)
	}
	seen = append(seen, "reload: "+string(reloadErr), "logs: "+logs.String())
	for _, e := range sentry.Events() {
		seen = append(seen, "sentry event: "+string(e.Raw))
	}

	// The test saw what it should have: echoes, events, failures.
	all := strings.Join(seen, "\n")
	for _, want := range []string{"auth=Basic &lt;secret&gt; cf=&lt;secret&gt;", `auth=Bearer \u003csecret\u003e`, "sentry delivery failed", "reload rejected",
		"sentry.dsn is not a valid Sentry DSN"} {
		if !strings.Contains(all, want) {
			t.Errorf("nothing shows %q; the test did not look where it meant to", want)
		}
	}
	if len(sentry.APICalls()) < 2 {
		t.Errorf("Sentry API calls %+v, want a failed one and more", sentry.APICalls())
	}
	events := sentry.Events()
	if len(events) == 0 || !strings.Contains(events[0].Message, "Working agent a-1 has no hook (auth=Basic <secret> cf=<secret>)") {
		t.Errorf("Sentry events %+v, want the echoing violation with the secrets hidden", events)
	}
	for _, s := range secrets {
		for _, text := range seen {
			if i := strings.Index(text, s); i >= 0 {
				t.Errorf("secret %q shown in %s", s, text[max(0, i-120):min(len(text), i+60)])
			}
		}
	}
}

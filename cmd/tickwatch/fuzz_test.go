package main

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tickwatch/tickwatch/config"
)

// FuzzCheckConfig: check-config passes exactly the files that load (with a
// towns file that reads), says how many distinct towns they name, shows no
// secret, and reports every problem of the others on a line of its own
// that starts with the file it is in.
func FuzzCheckConfig(f *testing.F) {
	f.Setenv(config.SentryDSNEnv, "")
	for _, s := range []struct{ cfg, towns string }{
		{"target:\n  url: http://admin:hunter2@127.0.0.1:8788\n  towns: [town-a, town-b]\n  towns_file: towns.yml\nshard: {index: 1, count: 3}\nsentry:\n  dsn: https://dsnkey@sentry.example/3\n",
			`{"towns": ["town-b", "town-c", "town-d"]}`},
		{"", ""},
		{"poll:\n  intervall: 5s\n  interval: 0\ntarget:\n  url: 127.0.0.1:8788\n", ""},
		{"target:\n  towns_file: towns.yml\n", "- a\n- ''\n"},
		{"target:\n  towns_file: absent.yml\n", ""},
		{"target:\n  url: http://gastown\n  http_client:\n    basic_auth: {username: u, password: pa55word}\n  towns_file: towns.yml\n", "- a\n- b\n"},
	} {
		f.Add([]byte(s.cfg), []byte(s.towns))
	}
	f.Fuzz(func(t *testing.T, cfgData, townsData []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "tickwatch.yml")
		townsPath := filepath.Join(dir, "towns.yml")
		if os.WriteFile(path, cfgData, 0o644) != nil || os.WriteFile(townsPath, townsData, 0o644) != nil {
			t.Fatal("write files")
		}
		var stdout, stderr bytes.Buffer
		err := checkConfig(&stdout, &stderr, path)

		cfg, loadErr := config.Load(path)
		var ids []string
		if loadErr == nil && cfg.Target.TownsFile != "" {
			ids, loadErr = config.ReadTownsFile(cfg.Target.TownsFile)
		}
		if loadErr != nil {
			if err == nil || stdout.Len() > 0 {
				t.Fatalf("check-config passed a config that does not load (%v): %q", loadErr, stdout.String())
			}
			for _, line := range strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
				if line != "" && !strings.HasPrefix(line, path+":") && !strings.HasPrefix(line, townsFileOf(cfgData, dir)+":") {
					t.Fatalf("problem line %q names no file", line)
				}
			}
			return
		}
		if err != nil {
			t.Fatalf("check-config rejected a config that loads: %v\n%s", err, stderr.String())
		}
		distinct := map[string]bool{}
		for _, id := range append(append([]string(nil), cfg.Target.Towns...), ids...) {
			distinct[id] = true
		}
		out := stdout.String()
		if !strings.HasPrefix(out, path+": ok\n") || !strings.Contains(out, fmt.Sprintf(" = %d distinct;", len(distinct))) || stderr.Len() > 0 {
			t.Fatalf("check-config said %q (stderr %q), want ok and %d distinct towns", out, stderr.String(), len(distinct))
		}
		for _, s := range secrets(cfg) {
			if len(s) >= 6 && strings.Contains(out, s) && !strings.Contains(path+cfg.Target.RedactedURL()+cfg.Target.TownsFile, s) {
				t.Fatalf("check-config shows the secret %q: %s", s, out)
			}
		}
	})
}

// townsFileOf is where a towns file named in cfgData would be, for problem lines
// about it: check-config names that file, not the config.
func townsFileOf(cfgData []byte, dir string) string {
	cfg, err := config.Parse(cfgData, filepath.Join(dir, "tickwatch.yml"))
	if err != nil {
		return filepath.Join(dir, "tickwatch.yml")
	}
	return cfg.Target.TownsFile
}

// secrets lists the secret values a config holds inline.
func secrets(cfg *config.Config) []string {
	out := []string{string(cfg.Sentry.DSN)}
	hc := cfg.Target.HTTPClient
	if hc.BasicAuth != nil {
		out = append(out, string(hc.BasicAuth.Password))
	}
	if hc.Authorization != nil {
		out = append(out, string(hc.Authorization.Credentials))
	}
	out = append(out, string(hc.BearerToken))
	if hc.HTTPHeaders != nil {
		for _, h := range hc.HTTPHeaders.Headers {
			for _, s := range h.Secrets {
				out = append(out, string(s))
			}
		}
	}
	if u, err := url.Parse(cfg.Target.URL); err == nil && u.User != nil {
		p, _ := u.User.Password()
		out = append(out, p)
	}
	return out
}

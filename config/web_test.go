package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWebLinks(t *testing.T) {
	from, to := time.UnixMilli(1796360000000), time.UnixMilli(1796363600000)
	for _, tc := range []struct {
		web        Web
		town, dash string
	}{
		{Web{}, "", ""},
		{Web{ExternalURL: "https://tw.example/", GrafanaURL: "https://g.example/grafana/"},
			"https://tw.example/towns/town%2Fa%20b",
			"https://g.example/grafana/d/tickwatch-reconciler?from=1796360000000&to=1796363600000&var-town=town%2Fa+b"},
	} {
		if got := tc.web.TownPageURL("town/a b"); got != tc.town {
			t.Errorf("TownPageURL = %q, want %q", got, tc.town)
		}
		if got := tc.web.DashboardURL("town/a b", from, to); got != tc.dash {
			t.Errorf("DashboardURL = %q, want %q", got, tc.dash)
		}
	}
}

func TestTokenFile(t *testing.T) {
	t.Setenv(SentryDSNEnv, "")
	dir := t.TempDir()
	cfg, err := Parse([]byte("sentry:\n  auth_token_file: secrets/token\n  organization: acme\n"), filepath.Join(dir, "tickwatch.yml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "secrets", "token")
	if cfg.Sentry.AuthTokenFile != path {
		t.Fatalf("auth_token_file resolved to %q, want %q", cfg.Sentry.AuthTokenFile, path)
	}
	if _, err := ReadTokenFile(path); err == nil || !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("  sntrys_abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := ReadTokenFile(path); err != nil || tok != "sntrys_abc" {
		t.Errorf("ReadTokenFile = %q, %v", tok, err)
	}
}

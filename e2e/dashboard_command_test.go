package e2e

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/grafana"
	"github.com/tickwatch/tickwatch/internal/promtest"
)

// runCommand runs the tickwatch binary in dir, bounded by a timeout, and
// returns its stdout, stderr and exit code.
func runCommand(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	return promtest.Run(t, 30*time.Second, dir, promtest.Tickwatch(t), args...)
}

// TestDashboardCommand runs `tickwatch dashboard` the three ways a user does:
// into a directory, to stdout, and as a push that Grafana refuses.
func TestDashboardCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tickwatch.yml")
	if err := os.WriteFile(cfg, []byte("thresholds:\n  wall_clock_seconds: 1.5\n  queue_depth_critical: 70\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	th := config.DefaultThresholds()
	th.WallClockSeconds, th.QueueDepthCritical = 1.5, 70
	want, err := grafana.Files(th, grafana.DefaultFolder, grafana.DefaultDashboardsPath)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("out DIR", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "provisioning")
		if _, stderr, code := runCommand(t, dir, "dashboard", "--config.file="+cfg, "--out="+out); code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		entries, err := os.ReadDir(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != len(want) {
			t.Errorf("wrote %d files, want %d", len(entries), len(want))
		}
		for name, data := range want {
			got, err := os.ReadFile(filepath.Join(out, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("%s differs from grafana.Files", name)
			}
		}
	})

	t.Run("out -", func(t *testing.T) {
		stdout, stderr, code := runCommand(t, dir, "dashboard", "--config.file="+cfg, "--out=-")
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		if stdout != string(want[grafana.DashboardFile]) {
			t.Errorf("stdout is not the dashboard JSON:\n%.300s", stdout)
		}
	})

	t.Run("push refused", func(t *testing.T) {
		const token = "glsa_e2eSecretToken"
		tokenFile := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var calls []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			calls = append(calls, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			switch r.URL.Path {
			case "/api/folders/ops":
				w.Write([]byte(`{"id":7,"uid":"ops","title":"Ops"}`))
			default:
				w.WriteHeader(http.StatusPreconditionFailed)
				w.Write([]byte(`{"message":"The dashboard has been changed by someone else","status":"version-mismatch"}`))
			}
		}))
		defer srv.Close()
		work := t.TempDir()
		stdout, stderr, code := runCommand(t, work, "dashboard", "--config.file="+cfg,
			"--grafana.url="+srv.URL, "--grafana.token-file="+tokenFile, "--grafana.folder=ops")
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s%s", code, stdout, stderr)
		}
		wantErr := `push dashboard "tickwatch-reconciler": save dashboard into folder "ops": grafana POST /api/dashboards/db: 412 Precondition Failed: The dashboard has been changed by someone else (version-mismatch)`
		if !strings.Contains(stderr, wantErr) {
			t.Errorf("stderr lacks %q:\n%s", wantErr, stderr)
		}
		if strings.Contains(stdout+stderr, token) {
			t.Errorf("the token appears in the output:\n%s%s", stdout, stderr)
		}
		mu.Lock()
		defer mu.Unlock()
		wantCalls := []string{"GET /api/folders/ops Bearer " + token, "POST /api/dashboards/db Bearer " + token}
		if strings.Join(calls, "\n") != strings.Join(wantCalls, "\n") {
			t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(calls, "\n"), strings.Join(wantCalls, "\n"))
		}
		// A push without --out writes nothing locally.
		if entries, err := os.ReadDir(work); err != nil || len(entries) != 0 {
			t.Errorf("working dir holds %v (%v), want nothing", entries, err)
		}
	})
}

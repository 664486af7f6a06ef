package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

// worker is the real Gastown worker, run by the scripts that set it up.
type worker struct {
	dir, scripts string
	port         int
	URL          string
}

// env names what the suite needs; make test sets both when the scripts'
// folder exists (see the Makefile).
const (
	envDir     = "TICKWATCH_GASTOWN_DIR"     // a worker directory made by setup.sh
	envScripts = "TICKWATCH_GASTOWN_SCRIPTS" // the folder of setup.sh, start.sh, seed.sh, stop.sh
)

func newWorker(t *testing.T) *worker {
	t.Helper()
	dir, scripts := os.Getenv(envDir), os.Getenv(envScripts)
	if dir == "" || scripts == "" {
		t.Skipf("conformance suite against the real Gastown worker skipped: set %s (a worker directory from setup.sh) and %s (the folder of its scripts), as make test does when ../shared/gastown exists",
			envDir, envScripts)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	w := &worker{dir: dir, scripts: scripts, port: port, URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	t.Cleanup(w.stop)
	return w
}

// script runs one of the worker's scripts, bounded, and returns its stdout.
func (w *worker) script(t *testing.T, timeout time.Duration, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(w.scripts, name), args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s\n%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// start runs the worker: variant "real" (its dry run answers 500) or
// "patched" (SAVEPOINT=patched); fresh drops every town of earlier runs.
func (w *worker) start(t *testing.T, variant string, fresh bool) {
	t.Helper()
	env := []string{"SAVEPOINT=" + variant, "FRESH=0"}
	if fresh {
		env[1] = "FRESH=1"
	}
	w.script(t, 90*time.Second, env, "start.sh", w.dir, fmt.Sprint(w.port))
}

func (w *worker) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	exec.CommandContext(ctx, filepath.Join(w.scripts, "stop.sh"), w.dir).Run()
}

// seed creates a real town with work and returns its id.
func (w *worker) seed(t *testing.T, scenario string) string {
	t.Helper()
	out := w.script(t, 60*time.Second, []string{"SCENARIO=" + scenario}, "seed.sh", w.dir, fmt.Sprint(w.port))
	lines := strings.Split(out, "\n")
	id := lines[len(lines)-1]
	if len(id) != 36 {
		t.Fatalf("seed.sh printed %q, want a town UUID last", out)
	}
	return id
}

var client = &http.Client{Timeout: 10 * time.Second}

func (w *worker) do(method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequest(method, w.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 || out == nil {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, json.Unmarshal(b, out)
}

// status is the worker's own GET status of a town.
func (w *worker) status(town string) (*gastown.Status, error) {
	var s gastown.Status
	code, err := w.do(http.MethodGet, "/debug/towns/"+url.PathEscape(town)+"/status", nil, &s)
	if err == nil && code != 200 {
		err = fmt.Errorf("status of %s: HTTP %d", town, code)
	}
	return &s, err
}

// dryRun is the worker's own dry run of a town.
func (w *worker) dryRun(town string) (*gastown.DryRun, int, error) {
	var d gastown.DryRun
	code, err := w.do(http.MethodPost, "/debug/towns/"+url.PathEscape(town)+"/reconcile-dry-run", nil, &d)
	return &d, code, err
}

// setBeadStatus changes a bead's status through the worker's rig API, as
// an agent would.
func (w *worker) setBeadStatus(t *testing.T, town, rig, bead, status string) {
	t.Helper()
	body := fmt.Sprintf(`{"status":%q,"agent_id":"conformance"}`, status)
	code, err := w.do(http.MethodPatch, "/api/towns/"+town+"/rigs/"+rig+"/beads/"+bead+"/status", []byte(body), nil)
	if err != nil || code/100 != 2 {
		t.Fatalf("set bead %s of town %s to %s: HTTP %d, %v", bead, town, status, code, err)
	}
}

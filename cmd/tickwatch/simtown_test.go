package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/tickwatch/tickwatch/gastown"
	"github.com/tickwatch/tickwatch/simtown"
)

// TestSimtownHelperProcess is not a test: TestSimtownCommand re-runs the test
// binary with it to get a real `tickwatch simtown` process.
func TestSimtownHelperProcess(t *testing.T) {
	args := os.Getenv("TICKWATCH_SIMTOWN_ARGS")
	if args == "" {
		t.Skip("helper process of TestSimtownCommand")
	}
	os.Exit(run(strings.Fields(args)))
}

func TestSimtownCommand(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSimtownHelperProcess$")
	cmd.Env = append(os.Environ(), "TICKWATCH_SIMTOWN_ARGS=simtown --listen 127.0.0.1:0 --towns 3 --speed 100 --fault.break-invariant 7"+
		" --dry-run-violations --town-ids uuid --idle-interval 5m --gastown-version later --access.client-id id-1 --access.client-secret-file "+secret)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	// The log names the address it really listens on, and the data dir.
	lines := bufio.NewScanner(stderr)
	listening := regexp.MustCompile(`msg="simtown listening" address=(127\.0\.0\.1:\d+) towns=3 seed=1 speed=100 data_dir=(\S+)`)
	var addr, dir string
	found := make(chan struct{})
	var logged strings.Builder
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		for lines.Scan() {
			logged.WriteString(lines.Text() + "\n")
			if m := listening.FindStringSubmatch(lines.Text()); m != nil && addr == "" {
				addr, dir = m[1], m[2]
				close(found)
			}
		}
	}()
	select {
	case <-found:
	case <-time.After(20 * time.Second):
		t.Fatalf("no listening line within 20s")
	}

	client := &http.Client{Timeout: 10 * time.Second} // a hung server fails the test, not the suite
	get := func(method, path string, token bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+addr+path, nil)
		if token {
			req.Header.Set("CF-Access-Client-Id", "id-1")
			req.Header.Set("CF-Access-Client-Secret", "s3cret")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(http.MethodGet, "/debug/towns", false); code != 401 || body != `{"success":false,"error":"Unauthorized"}` {
		t.Errorf("GET /debug/towns without the service token: %d %s", code, body)
	}
	ids := []string{simtown.TownUUID(1, 1), simtown.TownUUID(1, 2), simtown.TownUUID(1, 3)}
	if _, body := get(http.MethodGet, "/debug/towns", true); body != `{"towns":["`+strings.Join(ids, `","`)+`"]}` {
		t.Errorf("GET /debug/towns = %s, want %v", body, ids)
	}
	_, body := get(http.MethodPost, "/debug/towns/"+ids[1]+"/reconcile-dry-run", true)
	var d gastown.DryRun
	if err := json.Unmarshal([]byte(body), &d); err != nil || len(d.Violations) != 1 || d.Violations[0].Invariant != 7 {
		t.Errorf("dry run with --fault.break-invariant 7 --dry-run-violations: %s, %v", body, err)
	}
	if _, body := get(http.MethodGet, "/debug/towns/never-created/status", true); !strings.Contains(body, `"intervalMs":300000,"intervalLabel":"idle (5m)"`) ||
		!strings.Contains(body, `"draining":false,"drainStartedAt":null`) {
		t.Errorf("status of a never-created town with --idle-interval 5m --gastown-version later: %s", body)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Errorf("data dir %s: %v", dir, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		<-scanned // the log ends when the process does; Wait after reading it all
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, logged.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("still running 20s after SIGTERM")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary data dir %s left behind: %v", dir, err)
	}
}

func TestSimtownRejectsBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"simtown", "--fault.break-invariant", "9", "--listen", "127.0.0.1:0"}, 1},
		{[]string{"simtown", "--fault-rate", "2", "--listen", "127.0.0.1:0"}, 1},
		{[]string{"simtown", "--towns=-1", "--listen", "127.0.0.1:0"}, 1},
		{[]string{"simtown", "--listen", "256.0.0.1:99999", "--towns", "1"}, 1},
		{[]string{"simtown", "--towns", "many"}, 2},
		{[]string{"simtown", "--savepoint", "sometimes"}, 2},
		{[]string{"simtown", "--town-ids", "guid"}, 2},
		{[]string{"simtown", "--idle-interval", "90s", "--listen", "127.0.0.1:0"}, 1},
		{[]string{"simtown", "--access.client-id", "id", "--listen", "127.0.0.1:0"}, 1}, // no secret
		{[]string{"simtown", "--access.client-id", "id", "--access.client-secret-file", "/nonexistent", "--listen", "127.0.0.1:0"}, 1},
	}
	for _, tt := range tests {
		if got := run(tt.args); got != tt.want {
			t.Errorf("%v: exit %d, want %d", tt.args, got, tt.want)
		}
	}
}

func TestSimtownFlagsMakeOptions(t *testing.T) {
	dir := t.TempDir()
	secret, empty := filepath.Join(dir, "secret"), filepath.Join(dir, "empty")
	os.WriteFile(secret, []byte("  s3cret\n"), 0o600)
	os.WriteFile(empty, []byte("\n"), 0o600)
	tests := []struct {
		args    []string
		want    func(simtown.Options) bool
		wantErr string
	}{
		{[]string{}, func(o simtown.Options) bool {
			return !o.SavepointRefused && !o.DryRunViolations && o.TownIDs == simtown.IDsNumbered && o.Version == simtown.VersionMeasured && o.IdleInterval == time.Minute
		}, ""},
		{[]string{"--savepoint", "refused", "--town-ids", "uuid", "--gastown-version", "later", "--idle-interval", "5m"}, func(o simtown.Options) bool {
			return o.SavepointRefused && o.TownIDs == simtown.IDsUUID && o.Version == simtown.VersionLater && o.IdleInterval == simtown.IdleIntervalLater
		}, ""},
		{[]string{"--access.client-id", "id-1", "--access.client-secret-file", secret}, func(o simtown.Options) bool {
			return o.Access == simtown.Access{ClientID: "id-1", ClientSecret: "s3cret"}
		}, ""},
		{[]string{"--access.client-id", "id-1", "--access.client-secret-file", empty}, nil, "the Access client secret file " + empty + " is empty"},
	}
	for _, tt := range tests {
		app := kingpin.New("t", "")
		f := addSimtownFlags(app.Command("simtown", ""))
		if _, err := app.Parse(append([]string{"simtown"}, tt.args...)); err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		o, err := f.options()
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%v: %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !tt.want(o) {
			t.Errorf("%v: %+v, %v", tt.args, o, err)
		}
	}
}

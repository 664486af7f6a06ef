package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
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
	cmd := exec.Command(os.Args[0], "-test.run=^TestSimtownHelperProcess$")
	cmd.Env = append(os.Environ(), "TICKWATCH_SIMTOWN_ARGS=simtown --listen 127.0.0.1:0 --towns 3 --speed 100 --fault.break-invariant 7")
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
	resp, err := client.Get("http://" + addr + "/debug/towns")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"towns":["town-01","town-02","town-03"]}`; string(body) != want {
		t.Errorf("GET /debug/towns = %s, want %s", body, want)
	}
	resp, err = client.Post("http://"+addr+"/debug/towns/town-02/reconcile-dry-run", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var d gastown.DryRun
	err = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if err != nil || len(d.Violations) != 1 || d.Violations[0].Invariant != 7 {
		t.Errorf("dry run with --fault.break-invariant 7: %+v, %v", d.Violations, err)
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
	}
	for _, tt := range tests {
		if got := run(tt.args); got != tt.want {
			t.Errorf("%v: exit %d, want %d", tt.args, got, tt.want)
		}
	}
}

package proc

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var ready = regexp.MustCompile(`ready (\w+)`)

// TestStopEndsTheGroup: WaitLog finds what the program logged; Stop ends a
// program that heeds SIGTERM at once, and kills one that ignores it after
// the grace, its children with it.
func TestStopEndsTheGroup(t *testing.T) {
	dir := t.TempDir()
	heeds, err := Start("heeds", filepath.Join(dir, "heeds.log"), exec.Command("sh", "-c", "echo ready a; exec sleep 30"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := heeds.WaitLog(ready, 10*time.Second); err != nil || got != "a" {
		t.Fatalf("WaitLog = %q, %v; want a", got, err)
	}
	if err := heeds.Stop(10 * time.Second); err == nil || !strings.Contains(err.Error(), "terminated") || !heeds.Exited() {
		t.Errorf("Stop of a program that heeds SIGTERM: %v (exited %v), want its exit by the signal", err, heeds.Exited())
	}

	// The shell ignores SIGTERM; its child sleep does not, so the group's
	// signal ends the child and the shell waits on: only SIGKILL ends it.
	deaf, err := Start("deaf", filepath.Join(dir, "deaf.log"), exec.Command("sh", "-c", `trap "" TERM; echo ready b; while :; do sleep 1; done`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := deaf.WaitLog(ready, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := deaf.Stop(300 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "did not stop within 300ms of SIGTERM; killed") {
		t.Errorf("Stop of a program that ignores SIGTERM: %v", err)
	}
	if !deaf.Exited() {
		t.Error("still running after Stop")
	}
	if _, err := deaf.WaitLog(regexp.MustCompile(`never (\w+)`), time.Second); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("WaitLog on an ended program: %v, want it to say it exited", err)
	}
}

func TestFreePort(t *testing.T) {
	p, err := FreePort()
	if err != nil || p <= 0 || p > 65535 {
		t.Fatalf("FreePort = %d, %v", p, err)
	}
}

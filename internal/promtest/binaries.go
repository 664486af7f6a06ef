package promtest

import (
	"os"
	"os/exec"
	"testing"
)

// Binary returns the path of an external program a test needs. When it is
// missing the test is skipped on a developer machine, but fails in CI
// (CI=true) or as root, where `make deps` installs it.
func Binary(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" || os.Geteuid() == 0 {
		t.Fatalf("%s is not installed (run `make deps`, which installs Debian's prometheus and prometheus-alertmanager): %v", name, err)
	}
	t.Skipf("%s is not installed; `make deps` installs it (needs root)", name)
	return ""
}

// Program names of Debian's prometheus and prometheus-alertmanager packages.
const (
	PrometheusBin   = "prometheus"
	PromtoolBin     = "promtool"
	AlertmanagerBin = "prometheus-alertmanager"
	AmtoolBin       = "amtool"
)

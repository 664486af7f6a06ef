package deploy_test

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/internal/promtest"
)

// TestImage builds the image with `make image` and checks what it holds
// (a static binary, the CA bundle, the unprivileged user), then runs it the
// way the StatefulSet does, on a read-only root file system with only the
// state directory writable, scrapes /metrics from it, and checks the
// process's user and root mount from the host.
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a container image")
	}
	root, err := promtest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	image := fmt.Sprintf("localhost/tickwatch-test:%d", os.Getpid())
	if out, errOut, code := promtest.Run(t, 10*time.Minute, root, "make", "image", "IMAGE="+image); code != 0 {
		t.Fatalf("make image: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Cleanup(func() { podman(t, "rmi", "--force", image) })

	var cfg []struct {
		Config struct {
			User         string
			Entrypoint   []string
			Cmd          []string
			WorkingDir   string
			ExposedPorts map[string]struct{}
			Volumes      map[string]struct{}
		}
	}
	if err := json.Unmarshal([]byte(podman(t, "image", "inspect", image)), &cfg); err != nil || len(cfg) != 1 {
		t.Fatalf("podman image inspect: %v", err)
	}
	c := cfg[0].Config
	if c.User != fmt.Sprintf("%d:%d", imageUID, imageUID) || !slices.Equal(c.Entrypoint, []string{"/bin/tickwatch"}) ||
		!slices.Equal(c.Cmd, []string{"run"}) || c.WorkingDir != "/var/lib/tickwatch" {
		t.Errorf("image config user %q entrypoint %q cmd %q workdir %q", c.User, c.Entrypoint, c.Cmd, c.WorkingDir)
	}
	if _, ok := c.ExposedPorts["9917/tcp"]; !ok {
		t.Errorf("exposed ports %v, want 9917/tcp", c.ExposedPorts)
	}
	if _, ok := c.Volumes["/var/lib/tickwatch"]; !ok {
		t.Errorf("volumes %v, want the state directory", c.Volumes)
	}

	t.Run("filesystem", func(t *testing.T) { checkImageFiles(t, image) })
	t.Run("run", func(t *testing.T) { runImage(t, image) })
}

// checkImageFiles mounts the image and looks at its files: nothing but
// the binary, the CA bundle and the user and group files, and a binary
// that needs no dynamic loader (scratch has none).
func checkImageFiles(t *testing.T, image string) {
	dir := strings.TrimSpace(podman(t, "image", "mount", image))
	defer podman(t, "image", "unmount", image)
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, strings.TrimPrefix(p, dir))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	want := []string{"/bin/tickwatch", "/etc/group", "/etc/passwd", "/etc/ssl/certs/ca-certificates.crt"}
	if !slices.Equal(files, want) {
		t.Errorf("image files %v, want %v", files, want)
	}
	bin, err := elf.Open(filepath.Join(dir, "bin/tickwatch"))
	if err != nil {
		t.Fatal(err)
	}
	defer bin.Close()
	for _, p := range bin.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("/bin/tickwatch is dynamically linked: scratch has no loader (build it with CGO_ENABLED=0)")
		}
	}
	passwd, err := os.ReadFile(filepath.Join(dir, "etc/passwd"))
	if err != nil || !strings.Contains(string(passwd), fmt.Sprintf("nobody:x:%d:%d:", imageUID, imageUID)) {
		t.Errorf("/etc/passwd %q (%v) lacks the image's user", passwd, err)
	}
	if ca, err := os.ReadFile(filepath.Join(dir, "etc/ssl/certs/ca-certificates.crt")); err != nil || !strings.Contains(string(ca), "BEGIN CERTIFICATE") {
		t.Errorf("CA bundle: %v", err)
	}
}

// runImage runs the image with no config, so it watches its embedded
// fleet, as the StatefulSet runs it: root file system read-only, a volume
// owned by the image's user for the state directory (what fsGroup does for
// the StatefulSet's volume), and /tmp for the embedded fleet's databases.
// runc, because crun refuses this machine's cgroup v1/v2 hybrid; explicit
// ulimits, because the sandbox lets no process raise its hard limits and
// podman's defaults are above them.
func runImage(t *testing.T, image string) {
	addr := freeAddr(t)
	name := fmt.Sprintf("tickwatch-test-%d", os.Getpid())
	state := t.TempDir()
	if err := os.Chown(state, imageUID, imageUID); err != nil {
		t.Fatal(err)
	}
	podman(t, "--runtime", "runc", "run", "--detach", "--name", name,
		"--read-only", "--tmpfs", "/tmp", "--volume", state+":/var/lib/tickwatch",
		"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096",
		"--publish", addr+":9917", image, "run", "--simtown.towns=5")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("container log:\n%s", podman(t, "logs", name))
		}
		podman(t, "rm", "--force", name)
	})

	var body string
	promtest.Eventually(t, time.Minute, "the container to serve its towns on /metrics", func() error {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		body = string(b)
		if n := strings.Count(body, "\nreconciler_up{"); n != 5 {
			return fmt.Errorf("%d reconciler_up series, want 5", n)
		}
		return nil
	})
	if !strings.Contains(body, "\ntickwatch_shard_info{shard=\"0\"} 1\n") {
		t.Errorf("/metrics lacks tickwatch_shard_info")
	}

	// The process as the host sees it: its user, and its root mount.
	pid := strings.TrimSpace(podman(t, "inspect", "--format", "{{.State.Pid}}", name))
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "Uid:") && strings.Fields(l)[1] != fmt.Sprint(imageUID) {
			t.Errorf("container process %s, want uid %d", l, imageUID)
		}
	}
	if opts := mountOptions(t, "/proc/"+pid+"/mountinfo", "/"); !slices.Contains(opts, "ro") {
		t.Errorf("root file system mounted %v, want ro", opts)
	}
	if opts := mountOptions(t, "/proc/"+pid+"/mountinfo", "/var/lib/tickwatch"); !slices.Contains(opts, "rw") {
		t.Errorf("state directory mounted %v, want rw", opts)
	}

	// SIGTERM: the sidecar flushes, saves its state on the volume and exits 0.
	podman(t, "stop", "--time", "20", name)
	if code := strings.TrimSpace(podman(t, "inspect", "--format", "{{.State.ExitCode}}", name)); code != "0" {
		t.Errorf("exit code after SIGTERM %s, want 0", code)
	}
	if _, err := os.Stat(filepath.Join(state, "data", "dedupe.db")); err != nil {
		t.Errorf("no dedupe state on the volume: %v", err)
	}
}

// mountOptions are the per-mount options of the mount at point in a
// /proc/PID/mountinfo file.
func mountOptions(t *testing.T, mountinfo, point string) []string {
	t.Helper()
	f, err := os.Open(mountinfo)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var opts []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		// id parent major:minor root mountpoint options ...
		if fields := strings.Fields(s.Text()); len(fields) > 5 && fields[4] == point {
			opts = strings.Split(fields[5], ",") // the last mount at a point is the visible one
		}
	}
	if opts == nil {
		t.Fatalf("%s has no mount at %s", mountinfo, point)
	}
	return opts
}

// podman runs podman to completion and returns its output; a failure fails
// the test with podman's own error.
func podman(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := promtest.Run(t, 2*time.Minute, "", "podman", args...)
	if code != 0 {
		t.Fatalf("podman %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// freeAddr is a loopback port free now, for podman to publish on: the
// container's server cannot bind port 0 on the host and report it.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

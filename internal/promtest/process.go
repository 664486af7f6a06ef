package promtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopTimeout bounds how long a stopped process may take to exit before it
// is killed.
const stopTimeout = 10 * time.Second

// Process is a program a test started. Its output is kept, and printed
// when the test fails.
type Process struct {
	Name string
	// StopTimeout bounds the wait for an exit after SIGTERM; zero means
	// stopTimeout.
	StopTimeout time.Duration
	cmd         *exec.Cmd
	out         *logBuffer
	done        chan struct{}
	err         error // valid once done is closed
}

// Start runs bin with args in its own process group. t.Cleanup stops it.
func Start(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	return StartIn(t, "", bin, args...)
}

// StartIn is Start with dir as the working directory ("" keeps the test's),
// for programs that write relative paths such as tickwatch's ./data.
func StartIn(t testing.TB, dir, bin string, args ...string) *Process {
	t.Helper()
	return StartEnv(t, dir, nil, bin, args...)
}

// StartEnv is StartIn with env ("NAME=value") added to the test's
// environment.
func StartEnv(t testing.TB, dir string, env []string, bin string, args ...string) *Process {
	t.Helper()
	p := &Process{Name: filepath.Base(bin), out: &logBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Dir = dir
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.Name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop(t)
		if t.Failed() {
			t.Logf("--- output of %s %v ---\n%s", p.Name, args, p.Output())
		}
	})
	return p
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Output is everything the process wrote so far.
func (p *Process) Output() string { return p.out.String() }

// Exited reports whether the process has ended, and how.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Stop sends SIGTERM to the process group, and SIGKILL if it is still
// running after stopTimeout. It returns the exit error (nil for exit 0).
func (p *Process) Stop(t testing.TB) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	timeout := p.StopTimeout
	if timeout == 0 {
		timeout = stopTimeout
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	t.Errorf("%s did not exit within %s of SIGTERM; killed", p.Name, timeout)
	return p.err
}

// WaitOutput waits until the output matches re and returns the first match's
// submatches. It fails the test when the process exits or time runs out.
func (p *Process) WaitOutput(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	var m []string
	Eventually(t, timeout, fmt.Sprintf("%s to print %s", p.Name, re), func() error {
		if m = re.FindStringSubmatch(p.Output()); m != nil {
			return nil
		}
		if done, err := p.Exited(); done {
			return Permanent(fmt.Errorf("%s exited (%v) before printing %s", p.Name, err, re))
		}
		return fmt.Errorf("not yet")
	})
	return m
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Run runs bin with args in dir to completion, bounded by timeout, and
// returns its stdout, stderr and exit code. A program that cannot start or
// outlives the timeout fails the test.
func Run(t testing.TB, timeout time.Duration, dir, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out.String(), errOut.String(), 0
	case errors.As(err, &exit) && ctx.Err() == nil:
		return out.String(), errOut.String(), exit.ExitCode()
	}
	t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, errOut.String())
	return "", "", -1
}

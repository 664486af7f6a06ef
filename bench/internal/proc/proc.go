// Package proc runs the programs the benchmarks start: each in a process
// group of its own (so that stopping it stops what it started), its output
// in a log file that WaitLog reads.
package proc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"time"
)

// Proc is one started program.
type Proc struct {
	Name string
	Log  string // the file its standard output and error go to
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start starts cmd (its Dir and Env as the caller set them) with its output
// in logPath.
func Start(name, logPath string, cmd *exec.Cmd) (*Proc, error) {
	out, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { p.err = cmd.Wait(); out.Close(); close(p.done) }()
	return p, nil
}

func (p *Proc) Pid() int { return p.cmd.Process.Pid }

func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitLog waits for re in the log and returns its first submatch.
func (p *Proc) WaitLog(re *regexp.Regexp, timeout time.Duration) (string, error) {
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		b, _ := os.ReadFile(p.Log)
		if m := re.FindSubmatch(b); m != nil {
			return string(m[1]), nil
		}
		if p.Exited() {
			return "", fmt.Errorf("%s exited (%v) before logging %s; see %s", p.Name, p.err, re, p.Log)
		}
	}
	return "", fmt.Errorf("%s did not log %s within %s; see %s", p.Name, re, timeout, p.Log)
}

// Stop sends SIGTERM to the process group and waits up to grace, then kills
// it; it returns the exit error.
func (p *Proc) Stop(grace time.Duration) error {
	if p.Exited() {
		return p.err
	}
	syscall.Kill(-p.Pid(), syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
	}
	p.Kill()
	return fmt.Errorf("%s did not stop within %s of SIGTERM; killed", p.Name, grace)
}

// Kill kills the process group and waits for the program's end.
func (p *Proc) Kill() {
	syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.done
}

// FreePort is a loopback TCP port free a moment ago, for a program that
// takes its port as an argument.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

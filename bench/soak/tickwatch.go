package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tickwatch/tickwatch/bench/internal/proc"
)

var listeningOn = regexp.MustCompile(`msg="Listening on" address=(\S+)`)

// startProc starts a program in dir (see proc.Start).
func startProc(name, dir, logPath, bin string, args ...string) (*proc.Proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	return proc.Start(name, logPath, cmd)
}

// resources is a process's footprint at one moment.
type resources struct {
	at         time.Time
	rssBytes   float64
	heapBytes  float64 // the Go heap in use
	goroutines float64
	fds        int
}

func (r resources) String() string {
	return fmt.Sprintf("RSS %.1f MiB (heap in use %.1f MiB), %.0f goroutines, %d open fds", r.rssBytes/(1<<20), r.heapBytes/(1<<20), r.goroutines, r.fds)
}

// procResources reads RSS and open fds of pid from /proc.
func procResources(pid int) (rss float64, fds int, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			rss = kb * 1024
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return rss, len(ents), err
}

var client = &http.Client{Timeout: 60 * time.Second}

func get(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %.200s", url, resp.Status, b)
	}
	return b, err
}

// metricSum adds the values of every sample of family in an exposition.
func metricSum(exposition []byte, family string) (float64, bool) {
	sum, found := 0.0, false
	for _, line := range bytes.Split(exposition, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte(family))
		if !ok || len(rest) == 0 || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		fields := bytes.Fields(rest[bytes.LastIndexByte(rest, '}')+1:])
		if len(fields) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(string(fields[0]), 64); err == nil {
			sum, found = sum+v, true
		}
	}
	return sum, found
}

// fleetStatus is the part of /status.json the soak reads.
type fleetStatus struct {
	Ready        bool    `json:"ready"`
	LastTickSecs float64 `json:"last_tick_duration_seconds"`
	Summary      struct {
		Towns          int `json:"towns"`
		Up             int `json:"up"`
		OpenViolations int `json:"open_violations"`
	} `json:"summary"`
	Outbox *struct {
		Pending int `json:"pending"`
	} `json:"sentry_outbox"`
	Towns []townStatus `json:"towns"`
}

type townStatus struct {
	Town               string    `json:"town"`
	Up                 bool      `json:"up"`
	LastPoll           time.Time `json:"last_poll"`
	Error              string    `json:"error"`
	OpenViolationCount int       `json:"open_violation_count"`
}

func fleet(ctx context.Context, base string, all bool) (*fleetStatus, error) {
	url := base + "/status.json?per_page=1"
	if all {
		url = base + "/status.json"
	}
	b, err := get(ctx, url)
	if err != nil {
		return nil, err
	}
	var f fleetStatus
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode %s: %w", url, err)
	}
	return &f, nil
}

// townViolations lists a town's open violations (invariant, message).
func townViolations(ctx context.Context, base, town string) ([][2]string, error) {
	b, err := get(ctx, base+"/towns/"+town+"?format=json")
	if err != nil {
		return nil, err
	}
	var t struct {
		Violations []struct{ Invariant, Message string } `json:"violations"`
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, err
	}
	var out [][2]string
	for _, v := range t.Violations {
		out = append(out, [2]string{v.Invariant, v.Message})
	}
	return out, nil
}

// writeAtomic replaces path in one step.
func writeAtomic(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

var errNotReady = errors.New("tickwatch is restarting")

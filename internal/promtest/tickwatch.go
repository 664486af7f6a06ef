package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// startTimeout bounds how long a tickwatch process may take to come up.
const startTimeout = 30 * time.Second

var (
	simtownListening = regexp.MustCompile(`msg="simtown listening" address=(\S+)`)
	// exporter-toolkit's line, printed by tickwatch, Prometheus and
	// Alertmanager once they have bound their port.
	listeningOn = regexp.MustCompile(`msg="Listening on" address=(\S+)`)
)

// Simtown is a running `tickwatch simtown`.
type Simtown struct {
	URL  string
	Proc *Process
}

// StartSimtown runs `tickwatch simtown` on a port it picks itself, with
// args added (--towns, --seed, --speed, fault flags), and waits until it
// serves.
func StartSimtown(t testing.TB, args ...string) *Simtown {
	t.Helper()
	return StartSimtownWithin(t, startTimeout, args...)
}

// StartSimtownWithin is StartSimtown for a fleet that takes longer than
// usual to open and to close (thousands of towns): timeout bounds both.
func StartSimtownWithin(t testing.TB, timeout time.Duration, args ...string) *Simtown {
	t.Helper()
	args = append([]string{"simtown", "--listen=127.0.0.1:0", "--log.format=logfmt"}, args...)
	p := Start(t, Tickwatch(t), args...)
	p.StopTimeout = timeout
	m := p.WaitOutput(t, simtownListening, timeout)
	return &Simtown{URL: "http://" + m[1], Proc: p}
}

// Towns lists the fleet's town ids (GET /debug/towns).
func (s *Simtown) Towns(ctx context.Context) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/debug/towns", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Towns []string `json:"towns"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("GET /debug/towns: %w", err)
	}
	return body.Towns, nil
}

// SetFault sets a town's fault knobs (the JSON of PUT /debug/towns/{town}/fault).
func (s *Simtown) SetFault(ctx context.Context, town, knobs string) error {
	return s.fault(ctx, http.MethodPut, town, knobs)
}

// Heal clears every fault of a town.
func (s *Simtown) Heal(ctx context.Context, town string) error {
	return s.fault(ctx, http.MethodDelete, town, "")
}

func (s *Simtown) fault(ctx context.Context, method, town, body string) error {
	u := s.URL + "/debug/towns/" + url.PathEscape(town) + "/fault"
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s fault of %s: %w", method, town, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("%s fault of %s: %s: %s", method, town, resp.Status, msg)
	}
	return nil
}

// TickwatchRun is a running `tickwatch run`.
type TickwatchRun struct {
	Addr       string // host:port, the scrape target
	URL        string
	ConfigPath string // rewrite it and send SIGHUP to reload
	Proc       *Process
}

// StartTickwatchRun writes config to a file and runs `tickwatch run` with it
// on a port it picks itself, until /-/ready (after its first complete tick).
func StartTickwatchRun(t testing.TB, config string, args ...string) *TickwatchRun {
	t.Helper()
	tw := StartTickwatch(t, config, nil, args...)
	tw.WaitReady(t)
	return tw
}

// StartTickwatch is StartTickwatchRun with env ("NAME=value") added to the
// process's environment, returning once it listens, before its first tick.
func StartTickwatch(t testing.TB, config string, env []string, args ...string) *TickwatchRun {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tickwatch.yml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatalf("write tickwatch config: %v", err)
	}
	args = append([]string{"run", "--config.file=" + path, "--web.listen-address=127.0.0.1:0", "--log.format=logfmt"}, args...)
	p := StartEnv(t, "", env, Tickwatch(t), args...)
	m := p.WaitOutput(t, listeningOn, startTimeout)
	return &TickwatchRun{Addr: m[1], URL: "http://" + m[1], ConfigPath: path, Proc: p}
}

// WaitReady waits for /-/ready: the first complete tick.
func (tw *TickwatchRun) WaitReady(t testing.TB) {
	t.Helper()
	waitReady(t, tw.Proc, tw.URL+"/-/ready", startTimeout)
}

// Reload rewrites the config and asks for a reload through POST /-/reload,
// as a config reloader does; it fails the test when the reload is refused.
func (tw *TickwatchRun) Reload(t testing.TB, config string) {
	t.Helper()
	if err := os.WriteFile(tw.ConfigPath, []byte(config), 0o644); err != nil {
		t.Fatalf("write tickwatch config: %v", err)
	}
	resp, err := client.Post(tw.URL+"/-/reload", "", nil)
	if err != nil {
		t.Fatalf("reload %s: %v", tw.Addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("reload %s: %s: %s", tw.Addr, resp.Status, msg)
	}
}

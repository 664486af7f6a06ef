package promtest

import (
	"bytes"
	"context"
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
	args = append([]string{"simtown", "--listen=127.0.0.1:0", "--log.format=logfmt"}, args...)
	p := Start(t, Tickwatch(t), args...)
	m := p.WaitOutput(t, simtownListening, startTimeout)
	return &Simtown{URL: "http://" + m[1], Proc: p}
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
	path := filepath.Join(t.TempDir(), "tickwatch.yml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatalf("write tickwatch config: %v", err)
	}
	args = append([]string{"run", "--config.file=" + path, "--web.listen-address=127.0.0.1:0", "--log.format=logfmt"}, args...)
	p := Start(t, Tickwatch(t), args...)
	m := p.WaitOutput(t, listeningOn, startTimeout)
	tw := &TickwatchRun{Addr: m[1], URL: "http://" + m[1], ConfigPath: path, Proc: p}
	waitReady(t, p, tw.URL+"/-/ready", startTimeout)
	return tw
}

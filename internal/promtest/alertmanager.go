package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Alertmanager is a running Alertmanager with clustering off.
type Alertmanager struct {
	Addr string // host:port, for Prometheus's alerting config
	URL  string
	Proc *Process
}

// StartAlertmanager runs Alertmanager with config on a loopback port it
// binds itself (no window in which another process can take it) and its own
// storage dir, until it is ready.
func StartAlertmanager(t testing.TB, config []byte) *Alertmanager {
	t.Helper()
	bin := Binary(t, AlertmanagerBin)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgPath, config, 0o644); err != nil {
		t.Fatalf("write alertmanager.yml: %v", err)
	}
	proc := Start(t, bin,
		"--config.file="+cfgPath,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:0",
		"--cluster.listen-address=", // no gossip: one instance, no port clash
		"--log.level=info",          // the line with the bound address is at info
	)
	addr := proc.WaitOutput(t, listeningOn, startTimeout)[1]
	am := &Alertmanager{Addr: addr, URL: "http://" + addr, Proc: proc}
	waitReady(t, am.Proc, am.URL+"/-/ready", 30*time.Second)
	return am
}

// PostableAlert is an alert as Alertmanager's API v2 accepts it.
type PostableAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt,omitzero"`
	EndsAt      time.Time         `json:"endsAt,omitzero"`
}

// PostAlerts sends alerts straight to Alertmanager, the way Prometheus does.
func (am *Alertmanager) PostAlerts(ctx context.Context, alerts ...PostableAlert) error {
	body, err := json.Marshal(alerts)
	if err != nil {
		return fmt.Errorf("encode alerts: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, am.URL+"/api/v2/alerts", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("post alerts: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("post alerts: %s: %s", resp.Status, msg)
	}
	return nil
}

// AlertStatus is an alert as Alertmanager's API v2 lists it.
type AlertStatus struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	Status      struct {
		State       string   `json:"state"` // active, suppressed or unprocessed
		InhibitedBy []string `json:"inhibitedBy"`
		SilencedBy  []string `json:"silencedBy"`
	} `json:"status"`
	Fingerprint string `json:"fingerprint"`
	Receivers   []struct {
		Name string `json:"name"`
	} `json:"receivers"`
}

// Alerts lists the alerts Alertmanager holds, inhibited ones included.
func (am *Alertmanager) Alerts(ctx context.Context) ([]AlertStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, am.URL+"/api/v2/alerts", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("list alertmanager alerts: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list alertmanager alerts: %s", resp.Status)
	}
	var out []AlertStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("decode alertmanager alerts: %w", err)
	}
	return out, nil
}

package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/gastown"
)

// The embedded fleet of `tickwatch run` keeps a working dry run, so that the
// default shows every gauge; it answers otherwise as the real worker does.
func TestEmbeddedFleetDryRunWorks(t *testing.T) {
	url, stop, err := startEmbeddedFleet(context.Background(), slog.New(slog.DiscardHandler), 2, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(url+"/debug/towns/town-02/reconcile-dry-run", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var d gastown.DryRun
	if err := json.Unmarshal(body, &d); resp.StatusCode != 200 || err != nil || d.Metrics.ActionsByType == nil || d.Violations != nil {
		t.Errorf("dry run: %d %s (%v), want 200 with metrics and no violations", resp.StatusCode, body, err)
	}
}

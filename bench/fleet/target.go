package main

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickwatch/tickwatch/internal/gastowntest"
)

// target is the fake Gastown worker: every town answers the shared status
// and dry-run samples. It counts the calls, so that both clients' CPU is
// divided by the polls the target really served.
type target struct {
	srv             *httptest.Server
	caFile          string // the server's certificate, for HTTPS clients
	status, dryRuns atomic.Int64

	mu     sync.Mutex
	bursts []span // the client's runs of status calls, oldest first
}

// span is a stretch of time; a burst is one of a client's runs of status
// calls, each less than burstGap after the last.
type span struct{ start, end time.Time }

const burstGap = 300 * time.Millisecond

func (t *target) noteStatusCall(now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.bursts); n > 0 && now.Sub(t.bursts[n-1].end) < burstGap {
		t.bursts[n-1].end = now
		return
	}
	t.bursts = append(t.bursts, span{now, now})
}

// burstsWithin are the bursts that started within w.
func (t *target) burstsWithin(w span) []span {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []span
	for _, b := range t.bursts {
		if !b.start.Before(w.start) && b.start.Before(w.end) {
			out = append(out, b)
		}
	}
	return out
}

func startTarget(https bool, dir string) (*target, error) {
	status, err := gastowntest.ReadSample("status.json")
	if err != nil {
		return nil, err
	}
	dry, err := gastowntest.ReadSample("dry-run.json")
	if err != nil {
		return nil, err
	}
	notFound := []byte(`{"success":false,"error":"Not found"}`)
	t := &target{}
	t.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case !strings.HasPrefix(r.URL.Path, "/debug/towns/"):
		case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/status"):
			t.status.Add(1)
			t.noteStatusCall(time.Now())
			w.Write(status)
			return
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/reconcile-dry-run"):
			t.dryRuns.Add(1)
			w.Write(dry)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		w.Write(notFound)
	}))
	t.srv.Config.ErrorLog = nil
	if !https {
		t.srv.Start()
		return t, nil
	}
	t.srv.StartTLS()
	t.caFile = dir + "/ca.pem"
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: t.srv.Certificate().Raw})
	if err := os.WriteFile(t.caFile, ca, 0o600); err != nil {
		t.srv.Close()
		return nil, fmt.Errorf("write CA file: %w", err)
	}
	return t, nil
}

func (t *target) close() { t.srv.Close() }

// townID names the i-th town of the fleet, the same in both clients.
func townID(i int) string { return fmt.Sprintf("town-%05d", i) }

package main

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/tickwatch/tickwatch/alerts/sentrytest"
)

// sentryMode is how the Sentry receiver answers for a while.
type sentryMode string

const (
	sentryOK          sentryMode = "ok"
	sentryRateLimited sentryMode = "429 Retry-After 30"
	sentryUnavailable sentryMode = "503"
	sentryGone        sentryMode = "gone" // the port refuses connections
)

// sentryReceiver is alerts/sentrytest's envelope endpoint behind a port of
// its own that the soak can rate-limit, fail or close for minutes, and
// reopen at the same address (the DSN does not change).
type sentryReceiver struct {
	inner *sentrytest.Server
	addr  string

	mu      sync.Mutex
	mode    sentryMode
	srv     *http.Server
	refused int // requests answered 429 or 503
}

func startSentry() (*sentryReceiver, error) {
	r := &sentryReceiver{inner: sentrytest.NewServer(), mode: sentryOK}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.addr = l.Addr().String()
	r.serve(l)
	return r, nil
}

func (r *sentryReceiver) serve(l net.Listener) {
	r.srv = &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(l)
}

// DSN points at the receiver's own port.
func (r *sentryReceiver) DSN() string {
	return fmt.Sprintf("http://%s@%s/%s", r.inner.Key, r.addr, r.inner.Project)
}

func (r *sentryReceiver) handle(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	mode := r.mode
	if mode == sentryRateLimited || mode == sentryUnavailable {
		r.refused++
	}
	r.mu.Unlock()
	switch mode {
	case sentryRateLimited:
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
	case sentryUnavailable:
		w.WriteHeader(http.StatusServiceUnavailable)
	default:
		r.inner.Config.Handler.ServeHTTP(w, req)
	}
}

// setMode switches the answers; gone closes the port, and any other mode
// reopens it at the same address.
func (r *sentryReceiver) setMode(m sentryMode) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mode == m {
		return nil
	}
	if m == sentryGone {
		r.srv.Close()
	} else if r.mode == sentryGone {
		var l net.Listener
		var err error
		for range 50 { // the port was ours a moment ago; give the kernel a moment
			if l, err = net.Listen("tcp", r.addr); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("reopen the Sentry receiver at %s: %w", r.addr, err)
		}
		r.serve(l)
	}
	r.mode = m
	return nil
}

func (r *sentryReceiver) events() []sentrytest.Event { return r.inner.Events() }

func (r *sentryReceiver) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.srv.Close()
	r.inner.Close()
}

package main

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// townFault is what the fault proxy does to one town's calls.
type townFault string

const (
	healthy   townFault = ""
	timeout   townFault = "timeout"   // never answers; the client gives up
	answer500 townFault = "500"       // Gastown's 500 envelope
	malformed townFault = "malformed" // 200 with JSON cut in half
	oversized townFault = "oversized" // 200 with a body over max_body_bytes
	slowBody  townFault = "slow body" // the real answer, dribbled over slowFor
)

// httpFaults are the faults the schedule deals out, in turn.
var httpFaults = []townFault{timeout, answer500, malformed, oversized, slowBody}

// down says whether a poll that meets the fault must report the town down.
func (f townFault) down() bool { return f != healthy && f != slowBody }

const (
	oversizedBytes = 2 << 20 // the soak's max_body_bytes is 1 MiB
	slowFor        = time.Second
)

// faultProxy stands between tickwatch and the target and breaks the calls
// of chosen towns; the others pass through.
type faultProxy struct {
	addr string
	rp   *httputil.ReverseProxy
	srv  *http.Server

	mu     sync.Mutex
	faults map[string]townFault
	since  map[string]time.Time // when each town's current fault (or health) began
}

func startProxy(target string) (*faultProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &faultProxy{addr: l.Addr().String(), faults: map[string]townFault{}, since: map[string]time.Time{}}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.rp.Transport = &http.Transport{MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute}
	p.rp.ErrorLog = log.New(io.Discard, "", 0) // cancelled polls are the soak's doing
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(l)
	return p, nil
}

func (p *faultProxy) URL() string { return "http://" + p.addr }

// set gives towns a fault (healthy heals them) from now on.
func (p *faultProxy) set(f townFault, towns ...string) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range towns {
		if p.faults[t] == f {
			continue
		}
		if f == healthy {
			delete(p.faults, t)
		} else {
			p.faults[t] = f
		}
		p.since[t] = now
	}
}

// healAll heals every town and returns how many were faulty.
func (p *faultProxy) healAll() int {
	p.mu.Lock()
	var towns []string
	for t := range p.faults {
		towns = append(towns, t)
	}
	p.mu.Unlock()
	p.set(healthy, towns...)
	return len(towns)
}

// state is a town's fault now and since when.
func (p *faultProxy) state(town string) (townFault, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults[town], p.since[town]
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	town := ""
	if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/debug/towns/"); ok {
		seg, _, _ := strings.Cut(rest, "/")
		town, _ = url.PathUnescape(seg)
	}
	f, _ := p.state(town)
	switch f {
	case timeout:
		<-r.Context().Done()
	case answer500:
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte(`{"success":false,"error":"Internal server error"}`))
	case malformed:
		w.Write([]byte(`{"alarmStatus":{"alarm":{"nextFireAt":"2026-12-03T01:24:57.762Z","intervalMs":5000,`))
	case oversized:
		w.Write([]byte(`{"alarmStatus":{},"padding":"`))
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for n := 0; n < oversizedBytes; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
		w.Write([]byte(`"}`))
	case slowBody:
		rec := &recorder{header: http.Header{}, code: http.StatusOK}
		p.rp.ServeHTTP(rec, r)
		for k, v := range rec.header {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.code)
		body := rec.body.Bytes()
		const pieces = 10
		for i := range pieces {
			w.Write(body[i*len(body)/pieces : (i+1)*len(body)/pieces])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(slowFor / pieces):
			}
		}
	default:
		p.rp.ServeHTTP(w, r)
	}
}

func (p *faultProxy) close() { p.srv.Close() }

// recorder keeps an upstream answer so the proxy can dribble it.
type recorder struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.code = code }

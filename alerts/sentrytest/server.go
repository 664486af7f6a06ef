// Package sentrytest is a Sentry for tests. Its ingestion endpoint speaks
// the envelope protocol (POST /api/{project}/envelope/), decodes every item,
// records the events it accepted and groups them into issues by fingerprint,
// as Sentry does. Its web API answers the two calls that resolve an issue,
// with Sentry's bearer-token auth and scopes: GET
// /api/0/organizations/{org}/eventids/{event_id}/ (404 until the event is
// processed) and PUT /api/0/organizations/{org}/issues/{issue_id}/. Both can
// be told to answer 429, 5xx or to drop connections.
package sentrytest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event is the part of a Sentry event the tests look at, plus the raw JSON.
type Event struct {
	EventID     string                    `json:"event_id"`
	Message     string                    `json:"message"`
	Level       string                    `json:"level"`
	Logger      string                    `json:"logger"`
	Platform    string                    `json:"platform"`
	Environment string                    `json:"environment"`
	Release     string                    `json:"release"`
	Timestamp   time.Time                 `json:"timestamp"`
	Tags        map[string]string         `json:"tags"`
	Fingerprint []string                  `json:"fingerprint"`
	Contexts    map[string]map[string]any `json:"contexts"`
	Extra       map[string]any            `json:"extra"`

	// From the envelope header.
	SentAt time.Time `json:"-"`
	Raw    []byte    `json:"-"`
}

// Reply is a programmed answer.
type Reply struct {
	Status int         // 0: drop the connection without answering
	Header http.Header // e.g. Retry-After, X-Sentry-Rate-Limits
	Body   string      // e.g. Sentry's {"detail": "..."}
}

// Down is a Reply that drops the connection. net/http's client sends a GET
// again on its own when a kept-alive connection drops without an answer, so
// for the web API's lookup a dropped connection is invisible.
var Down = Reply{Status: 0}

// Pass is a web API Reply that answers as Sentry would, to script a later
// request.
var Pass = Reply{Status: -1}

// Server is a Sentry envelope endpoint and web API.
type Server struct {
	*httptest.Server
	Key     string
	Project string
	Org     string // the organization slug the web API answers for

	mu       sync.Mutex
	script   []Reply
	events   []Event
	requests int
	rejected []string // why malformed envelopes were refused

	api
}

// NewServer starts a server accepting the public key "key" for project 1,
// with the web API of organization "tickwatch-org" and no tokens.
func NewServer() *Server {
	s := &Server{Key: "key", Project: "1", Org: "tickwatch-org"}
	s.api.init()
	s.Server = httptest.NewServer(http.HandlerFunc(s.handle))
	return s
}

// DSN is the DSN that points at this server: http://key@127.0.0.1:PORT/1.
func (s *Server) DSN() string {
	return fmt.Sprintf("http://%s@%s/%s", s.Key, strings.TrimPrefix(s.URL, "http://"), s.Project)
}

// Script queues answers for the next requests; when the queue is empty the
// server accepts.
func (s *Server) Script(rs ...Reply) {
	s.mu.Lock()
	s.script = append(s.script, rs...)
	s.mu.Unlock()
}

// Events returns the accepted events in arrival order.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Requests counts every envelope request, answered or not (web API calls
// are in APICalls).
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Rejected lists why malformed requests were refused with 400.
func (s *Server) Rejected() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.rejected...)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/0/") {
		s.handleAPI(w, r)
		return
	}
	s.mu.Lock()
	s.requests++
	var reply *Reply
	if len(s.script) > 0 {
		reply = &s.script[0]
		s.script = s.script[1:]
	}
	s.mu.Unlock()

	if reply != nil && reply.Status == 0 {
		hangUp(w)
		return
	}
	events, err := s.decode(r)
	if err != nil {
		s.mu.Lock()
		s.rejected = append(s.rejected, err.Error())
		s.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if reply != nil {
		for k, vs := range reply.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		w.WriteHeader(reply.Status)
		io.WriteString(w, reply.Body)
		return
	}
	s.mu.Lock()
	s.events = append(s.events, events...)
	for _, ev := range events {
		s.group(ev)
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	id := ""
	if len(events) > 0 {
		id = events[0].EventID
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"id": id})
}

// decode checks the request the way Sentry's ingestion does: method, path,
// auth key, and the envelope framing (header line, then item header lines
// each followed by a payload of the stated length or up to the newline).
func (s *Server) decode(r *http.Request) ([]Event, error) {
	if r.Method != http.MethodPost {
		return nil, fmt.Errorf("method %s", r.Method)
	}
	if want := "/api/" + s.Project + "/envelope/"; r.URL.Path != want {
		return nil, fmt.Errorf("path %q, want %q", r.URL.Path, want)
	}
	if auth := r.Header.Get("X-Sentry-Auth"); !strings.Contains(auth, "sentry_key="+s.Key) {
		return nil, fmt.Errorf("auth header %q lacks sentry_key", auth)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-sentry-envelope" {
		return nil, fmt.Errorf("content type %q", ct)
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		body = zr
	}
	br := bufio.NewReader(io.LimitReader(body, 1<<20))
	line, err := br.ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return nil, fmt.Errorf("envelope header: %w", err)
	}
	var hdr struct {
		EventID string            `json:"event_id"`
		SentAt  time.Time         `json:"sent_at"`
		DSN     string            `json:"dsn"`
		SDK     map[string]string `json:"sdk"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(line), &hdr); err != nil {
		return nil, fmt.Errorf("envelope header %q: %w", line, err)
	}
	var events []Event
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) == 0 {
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("item header: %w", err)
			}
			continue
		}
		var ih struct {
			Type   string `json:"type"`
			Length *int   `json:"length"`
		}
		if err := json.Unmarshal(bytes.TrimSpace(line), &ih); err != nil {
			return nil, fmt.Errorf("item header %q: %w", line, err)
		}
		var payload []byte
		if ih.Length != nil {
			payload = make([]byte, *ih.Length)
			if _, err := io.ReadFull(br, payload); err != nil {
				return nil, fmt.Errorf("item payload of %d bytes: %w", *ih.Length, err)
			}
			if c, err := br.ReadByte(); err == nil && c != '\n' {
				_ = br.UnreadByte()
			}
		} else {
			payload, _ = br.ReadBytes('\n')
			payload = bytes.TrimSuffix(payload, []byte("\n"))
		}
		if ih.Type != "event" {
			continue
		}
		var ev Event
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("event payload: %w", err)
		}
		if ev.EventID != hdr.EventID {
			return nil, fmt.Errorf("event_id %q differs from envelope header %q", ev.EventID, hdr.EventID)
		}
		if len(ev.EventID) != 32 {
			return nil, fmt.Errorf("event_id %q is not 32 hex digits", ev.EventID)
		}
		if _, err := strconv.ParseUint(ev.EventID[:16], 16, 64); err != nil {
			return nil, fmt.Errorf("event_id %q is not hex", ev.EventID)
		}
		ev.SentAt = hdr.SentAt
		ev.Raw = payload
		events = append(events, ev)
	}
	if len(events) == 0 {
		return nil, fmt.Errorf("envelope without an event item")
	}
	return events, nil
}

// hangUp drops the connection without an answer.
func hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("sentrytest: response writer cannot hijack")
	}
	conn, _, err := hj.Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

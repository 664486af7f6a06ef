package promtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// PagerDutyEvent is an Events API v2 enqueue request.
type PagerDutyEvent struct {
	RoutingKey  string `json:"routing_key"`
	EventAction string `json:"event_action"` // trigger, acknowledge or resolve
	DedupKey    string `json:"dedup_key"`
	Payload     struct {
		Summary       string            `json:"summary"`
		Source        string            `json:"source"`
		Severity      string            `json:"severity"`
		CustomDetails map[string]string `json:"custom_details"`
	} `json:"payload"`
	Client    string `json:"client"`
	ClientURL string `json:"client_url"`
}

// WebhookMessage is Alertmanager's webhook payload (version 4).
type WebhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	Alerts            []WebhookAlert    `json:"alerts"`
}

// WebhookAlert is one alert of a webhook message.
type WebhookAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

// SlackMessage is the part of a Slack incoming-webhook message tests read.
type SlackMessage struct {
	Channel     string `json:"channel"`
	Attachments []struct {
		Title     string `json:"title"`
		TitleLink string `json:"title_link"`
		Text      string `json:"text"`
	} `json:"attachments"`
}

// Receiver records what Alertmanager delivers to it, in arrival order.
type Receiver[T any] struct {
	URL string
	mu  sync.Mutex
	got []T
	bad []string
}

// Received returns a copy of everything received so far.
func (r *Receiver[T]) Received() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]T(nil), r.got...)
}

// Rejected lists requests that did not follow the wire format.
func (r *Receiver[T]) Rejected() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bad...)
}

// newReceiver serves path with method POST and a JSON body of T; check
// returns the status and body to answer a well-formed message with.
func newReceiver[T any](t testing.TB, path string, check func(*T) (int, string)) *Receiver[T] {
	r := &Receiver[T]{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		reject := func(code int, format string, args ...any) {
			msg := fmt.Sprintf(format, args...)
			r.mu.Lock()
			r.bad = append(r.bad, msg)
			r.mu.Unlock()
			http.Error(w, msg, code)
		}
		if req.Method != http.MethodPost || req.URL.Path != path {
			reject(http.StatusNotFound, "%s %s: want POST %s", req.Method, req.URL.Path, path)
			return
		}
		if ct := req.Header.Get("Content-Type"); ct != "application/json" {
			reject(http.StatusBadRequest, "content type %q", ct)
			return
		}
		body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		if err != nil {
			reject(http.StatusBadRequest, "read body: %v", err)
			return
		}
		var msg T
		if err := json.Unmarshal(body, &msg); err != nil {
			reject(http.StatusBadRequest, "decode %s: %v", body, err)
			return
		}
		code, answer := check(&msg)
		if code >= 300 {
			reject(code, "%s", answer)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, msg)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + path
	return r
}

// NewPagerDuty serves the Events API v2 (POST /v2/enqueue) for one routing
// key, answering 202 like PagerDuty and 400 to an event it would refuse.
func NewPagerDuty(t testing.TB, routingKey string) *Receiver[PagerDutyEvent] {
	return newReceiver(t, "/v2/enqueue", func(e *PagerDutyEvent) (int, string) {
		switch {
		case e.RoutingKey != routingKey:
			return http.StatusBadRequest, `{"status":"invalid event","message":"Event object is invalid","errors":["routing_key is invalid"]}`
		case e.EventAction != "trigger" && e.EventAction != "acknowledge" && e.EventAction != "resolve":
			return http.StatusBadRequest, `{"status":"invalid event","message":"Event object is invalid","errors":["event_action is invalid"]}`
		case e.DedupKey == "":
			return http.StatusBadRequest, `{"status":"invalid event","message":"Event object is invalid","errors":["dedup_key is missing"]}`
		case e.EventAction == "trigger" && (e.Payload.Summary == "" || e.Payload.Source == "" || e.Payload.Severity == ""):
			return http.StatusBadRequest, `{"status":"invalid event","message":"Event object is invalid","errors":["payload.summary, payload.source and payload.severity are required"]}`
		}
		return http.StatusAccepted, fmt.Sprintf(`{"status":"success","message":"Event processed","dedup_key":%q}`, e.DedupKey)
	})
}

// NewWebhook receives Alertmanager webhook messages on /hook.
func NewWebhook(t testing.TB) *Receiver[WebhookMessage] {
	return newReceiver(t, "/hook", func(m *WebhookMessage) (int, string) {
		if m.Version != "4" {
			return http.StatusBadRequest, "webhook version " + m.Version
		}
		return http.StatusOK, "{}"
	})
}

// NewSlack receives Slack incoming-webhook messages on /services/slack.
func NewSlack(t testing.TB) *Receiver[SlackMessage] {
	return newReceiver(t, "/services/slack", func(*SlackMessage) (int, string) { return http.StatusOK, `"ok"` })
}

package grafana

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"
)

// maxAnswerBytes caps what is read of any Grafana answer: its answers to
// these calls are small, a misdirected URL may serve anything.
const maxAnswerBytes = 1 << 20

// APIError is a Grafana answer that was not a 200 JSON document.
type APIError struct {
	Method, Path string
	Status       int
	Message      string // Grafana's message, or what the body says instead
}

func (e *APIError) Error() string {
	return fmt.Sprintf("grafana %s %s: %d %s: %s", e.Method, e.Path, e.Status, http.StatusText(e.Status), e.Message)
}

// checkedTransport turns every answer that is not a 200 JSON document into an
// *APIError before the SDK sees it. The SDK dereferences Grafana's message
// without checking it is there (a panic on any other status without one) and
// reports a bare JSON syntax error for an HTML page; this way a caller always
// gets the status and Grafana's own words. Grafana answers these calls with 200.
type checkedTransport struct {
	next http.RoundTripper
}

func (t checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("grafana %s %s: read answer: %w", req.Method, req.URL.Path, err)
	}
	fail := func(msg string) (*http.Response, error) {
		return nil, &APIError{Method: req.Method, Path: req.URL.Path, Status: resp.StatusCode, Message: msg}
	}
	if resp.StatusCode != http.StatusOK {
		return fail(grafanaMessage(body))
	}
	if !json.Valid(body) {
		return fail("answer is not JSON: " + snippet(body))
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// grafanaMessage reads Grafana's error envelope {"message": ..., "status": ...}.
func grafanaMessage(body []byte) string {
	var env struct {
		Message string `json:"message"`
		Error   string `json:"error"`
		Status  string `json:"status"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return "answer is not JSON: " + snippet(body)
	}
	msg := env.Message
	if msg == "" {
		msg = env.Error
	}
	if msg == "" {
		return "no message: " + snippet(body)
	}
	if env.Status != "" {
		msg += " (" + env.Status + ")"
	}
	return msg
}

// snippet is the start of a body on one line, for an error message.
func snippet(body []byte) string {
	const max = 200
	s := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, string(body))
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "(empty body)"
	}
	if len(s) > max {
		s = s[:max] + "..."
	}
	return fmt.Sprintf("%q", s)
}

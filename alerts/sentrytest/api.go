package sentrytest

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Issue is one group of events, as Sentry keeps it: the events of one
// fingerprint (or, without one, of one message).
type Issue struct {
	ID          string
	Fingerprint []string
	Status      string   // unresolved or resolved
	Events      []string // event ids, in arrival order
	Regressions int      // events that arrived while it was resolved
	Resolves    int      // PUTs that set it resolved
}

// APICall is one request to the web API and the status it was answered.
type APICall struct {
	Method, Path string
	Status       int // 0: the connection was dropped
}

// Scopes of Sentry auth tokens that the two calls accept: the lookup any
// org scope, the issue update event:write or event:admin.
var (
	lookupScopes = []string{"org:read", "org:write", "org:admin"}
	updateScopes = []string{"event:write", "event:admin"}
)

// api is the web API's state; Server's mu guards it.
type api struct {
	tokens    map[string][]string // token → scopes
	apiScript []Reply
	issues    []*Issue
	byFP      map[string]*Issue
	byEvent   map[string]*Issue
	lag       int            // lookups a new event answers 404 before it is found
	hidden    map[string]int // event id → lookups still answered 404
	calls     []APICall
}

func (a *api) init() {
	a.tokens, a.byFP, a.byEvent, a.hidden = map[string][]string{}, map[string]*Issue{}, map[string]*Issue{}, map[string]int{}
}

// AddToken makes the web API accept token with the given scopes.
func (s *Server) AddToken(token string, scopes ...string) {
	s.mu.Lock()
	s.tokens[token] = scopes
	s.mu.Unlock()
}

// SetProcessingLag makes each event accepted from now on unknown to the
// lookup for its first n lookups, as an event is until Sentry processed it.
func (s *Server) SetProcessingLag(n int) {
	s.mu.Lock()
	s.lag = n
	s.mu.Unlock()
}

// APIScript queues answers for the next web API requests; when the queue is
// empty the API answers as Sentry would.
func (s *Server) APIScript(rs ...Reply) {
	s.mu.Lock()
	s.apiScript = append(s.apiScript, rs...)
	s.mu.Unlock()
}

// APICalls returns the web API requests in arrival order.
func (s *Server) APICalls() []APICall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]APICall(nil), s.calls...)
}

// Issues returns copies of the issues, in the order they were created.
func (s *Server) Issues() []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Issue, len(s.issues))
	for i, is := range s.issues {
		out[i] = *is
		out[i].Events = slices.Clone(is.Events)
	}
	return out
}

// group files an accepted event into its issue; an event into a resolved
// issue reopens it (Sentry calls that a regression). Callers hold mu.
func (s *Server) group(ev Event) {
	key := strings.Join(ev.Fingerprint, "\x00")
	if len(ev.Fingerprint) == 0 {
		key = "message\x00" + ev.Message
	}
	is := s.byFP[key]
	if is == nil {
		is = &Issue{ID: strconv.Itoa(1000 + len(s.issues)), Fingerprint: ev.Fingerprint, Status: "unresolved"}
		s.issues = append(s.issues, is)
		s.byFP[key] = is
	}
	if is.Status == "resolved" {
		is.Status = "unresolved"
		is.Regressions++
	}
	is.Events = append(is.Events, ev.EventID)
	s.byEvent[ev.EventID] = is
	if s.lag > 0 {
		s.hidden[ev.EventID] = s.lag
	}
}

func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	status := s.answerAPI(w, r)
	s.mu.Lock()
	s.calls = append(s.calls, APICall{Method: r.Method, Path: r.URL.Path, Status: status})
	s.mu.Unlock()
}

// answerAPI answers one web API request and returns its status.
func (s *Server) answerAPI(w http.ResponseWriter, r *http.Request) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.apiScript) > 0 && s.apiScript[0].Status == Pass.Status {
		s.apiScript = s.apiScript[1:]
	} else if len(s.apiScript) > 0 {
		reply := s.apiScript[0]
		s.apiScript = s.apiScript[1:]
		if reply.Status == 0 {
			hangUp(w)
			return 0
		}
		for k, vs := range reply.Header {
			w.Header()[k] = vs
		}
		return detail(w, reply.Status, http.StatusText(reply.Status))
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/api/0/organizations/"+s.Org+"/")
	if !ok {
		return detail(w, http.StatusNotFound, "The requested resource does not exist")
	}
	parts := strings.Split(strings.TrimSuffix(rest, "/"), "/")
	if len(parts) != 2 || !strings.HasSuffix(rest, "/") {
		return detail(w, http.StatusNotFound, "The requested resource does not exist")
	}
	var need []string
	switch {
	case parts[0] == "eventids" && r.Method == http.MethodGet:
		need = lookupScopes
	case parts[0] == "issues" && r.Method == http.MethodPut:
		need = updateScopes
	case parts[0] == "eventids" || parts[0] == "issues":
		return detail(w, http.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", r.Method))
	default:
		return detail(w, http.StatusNotFound, "The requested resource does not exist")
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return detail(w, http.StatusUnauthorized, "Authentication credentials were not provided.")
	}
	scopes, known := s.tokens[tok]
	if !known {
		return detail(w, http.StatusUnauthorized, "Invalid token")
	}
	if !slices.ContainsFunc(need, func(sc string) bool { return slices.Contains(scopes, sc) }) {
		return detail(w, http.StatusForbidden, "You do not have permission to perform this action.")
	}
	if parts[0] == "eventids" {
		return s.lookup(w, parts[1])
	}
	return s.update(w, r, parts[1])
}

func (s *Server) lookup(w http.ResponseWriter, eventID string) int {
	if len(eventID) != 32 {
		return detail(w, http.StatusBadRequest, "Event ID must be 32 characters.")
	}
	is := s.byEvent[eventID]
	if n := s.hidden[eventID]; n > 0 {
		s.hidden[eventID] = n - 1
		is = nil
	}
	if is == nil {
		return detail(w, http.StatusNotFound, "The requested resource does not exist")
	}
	return reply(w, http.StatusOK, map[string]any{
		"organizationSlug": s.Org, "projectSlug": "project-" + s.Project, "groupId": is.ID, "eventId": eventID,
		"event": map[string]any{"eventID": eventID, "groupID": is.ID},
	})
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, id string) int {
	var is *Issue
	for _, x := range s.issues {
		if x.ID == id {
			is = x
		}
	}
	if is == nil {
		return detail(w, http.StatusNotFound, "The requested resource does not exist")
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		return detail(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported media type %q in request.", ct))
	}
	var body struct {
		Status *string `json:"status"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Status == nil {
		return detail(w, http.StatusBadRequest, "JSON body with a status expected")
	}
	switch *body.Status {
	case "resolved":
		is.Status = "resolved"
		is.Resolves++
	case "unresolved":
		is.Status = "unresolved"
	default:
		return detail(w, http.StatusBadRequest, fmt.Sprintf("%q is not a valid choice.", *body.Status))
	}
	return reply(w, http.StatusOK, map[string]any{"id": is.ID, "status": is.Status})
}

func detail(w http.ResponseWriter, status int, msg string) int {
	return reply(w, status, map[string]string{"detail": msg})
}

func reply(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

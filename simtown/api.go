package simtown

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Gastown's error envelopes.
const (
	errNotFound = "Not found"
	errInternal = "Internal server error"

	replayMissing = "Missing required fields: from, to (ISO timestamps)"
	replayBadDate = "Invalid date format. Use ISO 8601 timestamps."
	replayOrder   = `"from" must be before or equal to "to"`

	maxRequestBody = 1 << 20
)

func (f *Fleet) newHandler() http.Handler {
	return recoverPanics(http.HandlerFunc(f.route), f.opts.Logger)
}

// route dispatches on the escaped path so that a town id holding "/" or
// other reserved characters (path-escaped by the client) stays one segment.
func (f *Fleet) route(w http.ResponseWriter, r *http.Request) {
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil {
			notFound(w)
			return
		}
		segs[i] = u
	}
	if len(segs) < 2 || segs[0] != "debug" {
		notFound(w)
		return
	}
	switch {
	case len(segs) == 2 && segs[1] == "towns" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string][]string{"towns": f.TownIDs()})
		return
	case len(segs) == 2 && segs[1] == "fault":
		f.serveFleetFault(w, r)
		return
	case len(segs) != 4 || segs[1] != "towns":
		notFound(w)
		return
	}
	t, ok := f.byID[segs[2]]
	if !ok {
		notFound(w) // simtown does not create towns on demand
		return
	}
	switch op := segs[3]; {
	case op == "reconcile-dry-run" && r.Method == http.MethodPost:
		f.withFaults(t, w, r, func() (any, int, error) {
			d, err := t.dryRun(f.opts.Now())
			return d, http.StatusOK, err
		})
	case op == "status" && r.Method == http.MethodGet:
		f.withFaults(t, w, r, func() (any, int, error) {
			s, err := t.status()
			return s, http.StatusOK, err
		})
	case op == "replay-events" && r.Method == http.MethodPost:
		f.withFaults(t, w, r, func() (any, int, error) { return f.replay(t, r) })
	case op == "fault":
		f.serveTownFault(t, w, r)
	default:
		notFound(w)
	}
}

// withFaults answers a town call, honouring the town's HTTP fault knobs.
func (f *Fleet) withFaults(t *town, w http.ResponseWriter, r *http.Request, answer func() (any, int, error)) {
	t.mu.Lock()
	fl := t.fault
	t.mu.Unlock()
	if fl.Latency > 0 {
		sleep(r.Context(), fl.Latency)
	}
	if fl.Hang {
		select {
		case <-r.Context().Done():
		case <-f.done:
		}
		return
	}
	if fl.ErrorRate > 0 && f.roll() < fl.ErrorRate {
		writeError(w, http.StatusInternalServerError, errInternal)
		return
	}
	v, code, err := answer()
	if err != nil {
		f.opts.Logger.Error("town call failed", "town", t.id, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, errInternal)
		return
	}
	if fl.MalformedBody {
		b, _ := json.Marshal(v)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write(b[:len(b)/2])
		return
	}
	writeJSON(w, code, v)
}

// replay validates the body as Gastown does and runs the replay.
func (f *Fleet) replay(t *town, r *http.Request) (any, int, error) {
	var body struct {
		From json.RawMessage `json:"from"`
		To   json.RawMessage `json:"to"`
		Mode string          `json:"mode"`
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil || json.Unmarshal(raw, &body) != nil || missing(body.From) || missing(body.To) {
		return errorJSON{Error: replayMissing}, http.StatusBadRequest, nil
	}
	from, okFrom := parseJSDate(body.From)
	to, okTo := parseJSDate(body.To)
	if !okFrom || !okTo {
		return errorJSON{Error: replayBadDate}, http.StatusBadRequest, nil
	}
	if from.After(to) {
		return errorJSON{Error: replayOrder}, http.StatusBadRequest, nil
	}
	out, err := t.replay(from, to, body.Mode, f.opts.Now())
	if pruned := (*HistoryPrunedError)(nil); errors.As(err, &pruned) {
		return errorJSON{Error: pruned.Error()}, http.StatusBadRequest, nil
	}
	return out, http.StatusOK, err
}

// missing mirrors JavaScript's !body.from: absent, null, "" (and false, 0).
func missing(v json.RawMessage) bool {
	switch s := string(bytes.TrimSpace(v)); s {
	case "", "null", `""`, "false", "0":
		return true
	}
	return false
}

// jsDateLayouts are the ISO 8601 shapes JavaScript's Date accepts; a time
// without a zone is taken as UTC.
var jsDateLayouts = []string{
	time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02", "2006-01", "2006",
}

func parseJSDate(v json.RawMessage) (time.Time, bool) {
	var s string
	if json.Unmarshal(v, &s) != nil {
		return time.Time{}, false
	}
	for _, l := range jsDateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func (f *Fleet) serveTownFault(t *town, w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		fl, _ := f.Fault(t.id)
		writeJSON(w, http.StatusOK, fl)
	case http.MethodPut, http.MethodDelete:
		fl, err := readFault(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := f.SetFault(t.id, fl); err != nil {
			writeError(w, http.StatusInternalServerError, errInternal)
			return
		}
		writeJSON(w, http.StatusOK, fl)
	default:
		notFound(w)
	}
}

// serveFleetFault sets (PUT) or heals (DELETE) the knobs of every town.
func (f *Fleet) serveFleetFault(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPut && r.Method != http.MethodDelete {
		notFound(w)
		return
	}
	fl, err := readFault(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	for _, id := range f.ids {
		if err := f.SetFault(id, fl); err != nil {
			writeError(w, http.StatusInternalServerError, errInternal)
			return
		}
	}
	writeJSON(w, http.StatusOK, fl)
}

// readFault reads a PUT body; DELETE means the zero Fault.
func readFault(r *http.Request) (Fault, error) {
	var fl Fault
	if r.Method == http.MethodDelete {
		return fl, nil
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
	if err := dec.Decode(&fl); err != nil {
		return Fault{}, fmt.Errorf("invalid fault JSON: %v", err)
	}
	if err := fl.Validate(); err != nil {
		return Fault{}, err
	}
	return fl, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, errInternal)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	f := false
	b, _ := json.Marshal(errorJSON{Success: &f, Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

func notFound(w http.ResponseWriter) { writeError(w, http.StatusNotFound, errNotFound) }

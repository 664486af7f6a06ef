package simtown

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/tickwatch/tickwatch/gastown"
)

// Gastown's error envelopes.
const (
	errNotFound     = "Not found"
	errInternal     = "Internal server error"
	errUnauthorized = "Unauthorized"

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
// A segment that does not unescape is taken as it is, as Gastown does.
func (f *Fleet) route(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		switch r.URL.Path {
		case "/": // Gastown's health routes
			writeJSON(w, http.StatusOK, map[string]string{"service": "gastown", "status": "ok"})
			return
		case "/health":
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
			return
		}
	}
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			segs[i] = u
		}
	}
	if len(segs) < 2 || segs[0] != "debug" {
		notFound(w)
		return
	}
	if !f.authorized(r) {
		writeError(w, http.StatusUnauthorized, errUnauthorized)
		return
	}
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case len(segs) == 2 && segs[1] == "towns" && get:
		writeJSON(w, http.StatusOK, map[string][]string{"towns": f.TownIDs()})
		return
	case len(segs) == 2 && segs[1] == "fault":
		f.serveFleetFault(w, r)
		return
	case len(segs) != 4 || segs[1] != "towns" || segs[2] == "":
		notFound(w)
		return
	}
	// An id that is not in the fleet is a town that was never created: it
	// answers, from nothing, and nothing is kept for it.
	t := f.byID[segs[2]]
	switch op := segs[3]; {
	case op == "reconcile-dry-run" && r.Method == http.MethodPost:
		f.withFaults(t, w, r, func() (any, int, error) { return f.dryRun(t) })
	case op == "status" && get:
		f.withFaults(t, w, r, func() (any, int, error) {
			if t == nil {
				return newStatus(&f.opts, false), http.StatusOK, nil
			}
			s, err := t.status()
			return s, http.StatusOK, err
		})
	case op == "replay-events" && r.Method == http.MethodPost:
		f.withFaults(t, w, r, func() (any, int, error) { return f.replay(t, r) })
	case op == "fault" && t != nil:
		f.serveTownFault(t, w, r)
	default:
		notFound(w)
	}
}

// authorized checks the Cloudflare Access service token when one is
// required.
func (f *Fleet) authorized(r *http.Request) bool {
	a := f.opts.Access
	if a.ClientID == "" {
		return true
	}
	id := subtle.ConstantTimeCompare([]byte(r.Header.Get("Cf-Access-Client-Id")), []byte(a.ClientID))
	secret := subtle.ConstantTimeCompare([]byte(r.Header.Get("Cf-Access-Client-Secret")), []byte(a.ClientSecret))
	return id&secret == 1
}

// withFaults answers a town call, honouring the town's HTTP fault knobs; a
// town that was never created (t nil) has none.
func (f *Fleet) withFaults(t *town, w http.ResponseWriter, r *http.Request, answer func() (any, int, error)) {
	var fl Fault
	if t != nil {
		t.mu.Lock()
		fl = t.fault
		t.mu.Unlock()
	}
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
		b, _ := marshal(v)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		w.Write(b[:len(b)/2])
		return
	}
	writeJSON(w, code, v)
}

// savepointRefused reports whether the town's SQL SAVEPOINT is refused, as
// workerd refuses the real code's.
func (f *Fleet) savepointRefused(t *town) bool {
	if f.opts.SavepointRefused {
		return true
	}
	if t == nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fault.SavepointRefused
}

func internalError() (any, int, error) {
	f := false
	return errorJSON{Success: &f, Error: errInternal}, http.StatusInternalServerError, nil
}

func (f *Fleet) dryRun(t *town) (any, int, error) {
	switch {
	case f.savepointRefused(t):
		return internalError()
	case t == nil:
		d := &dryRunJSON{Actions: []action{}, Metrics: gastown.DryRunMetrics{ActionsByType: gastown.ActionCounts{}}}
		if f.opts.DryRunViolations {
			d.Violations = &[]gastown.Violation{}
		}
		return d, http.StatusOK, nil
	}
	d, err := t.dryRun(f.opts.Now())
	return d, http.StatusOK, err
}

// replay validates the body as Gastown does and runs the replay.
func (f *Fleet) replay(t *town, r *http.Request) (any, int, error) {
	raw, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	win, mode, invalid := parseReplayBody(raw)
	switch {
	case invalid == errInternal:
		return internalError()
	case invalid != "":
		return errorJSON{Error: invalid}, http.StatusBadRequest, nil
	case f.savepointRefused(t):
		return internalError()
	case t == nil:
		out := emptyReplay()
		if mode == ModeFaithful {
			out.Caveat = CaveatFaithful
		}
		return out, http.StatusOK, nil
	}
	out, err := t.replay(win, mode, f.opts.Now())
	if pruned := (*HistoryPrunedError)(nil); errors.As(err, &pruned) {
		return errorJSON{Error: pruned.Error()}, http.StatusBadRequest, nil
	}
	return out, http.StatusOK, err
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

// marshal encodes as JavaScript's JSON.stringify does: no HTML escaping.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := marshal(v)
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
	b, _ := marshal(errorJSON{Success: &f, Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

func notFound(w http.ResponseWriter) { writeError(w, http.StatusNotFound, errNotFound) }

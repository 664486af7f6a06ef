package statuspage

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/exporter"
)

// TestTownShowsTheDryRunsAgeAndBackoff: a town's page and JSON say when its
// last dry run was made (polls of a quiet town make none) and, while a failing
// dry run backs off, after how many failures and when it is tried next.
func TestTownShowsTheDryRunsAgeAndBackoff(t *testing.T) {
	p, _ := fixture(t)
	now := t0.Add(time.Minute)
	next := now.Add(4 * time.Minute)
	p.o.DryRunBackoff = func(town string) (exporter.DryRunBackoff, bool) {
		switch town {
		case "real":
			return exporter.DryRunBackoff{Code: 500, Failures: 6, Until: next}, true
		case "calm": // one failure: no back-off yet
			return exporter.DryRunBackoff{Code: 503, Failures: 1}, true
		}
		return exporter.DryRunBackoff{}, false
	}
	st := *p.o.Snapshot.Get("real")
	d := *st.DryRun
	d.At = now.Add(-90 * time.Second)
	st.DryRun = &d
	p.o.Snapshot.Put("real", &st)

	_, body, _ := get(t, p.ServeTown, "/towns/real?format=json")
	var town Town
	if err := json.Unmarshal([]byte(body), &town); err != nil {
		t.Fatal(err)
	}
	if town.DryRunAt == nil || !town.DryRunAt.Equal(d.At) {
		t.Errorf("dry_run_at = %v, want %v", town.DryRunAt, d.At)
	}
	if b := town.DryRunBackoff; b == nil || *b != (DryRunBackoff{StatusCode: 500, Failures: 6, NextAttempt: next}) {
		t.Errorf("dry_run_backoff = %+v", b)
	}
	_, page, _ := get(t, p.ServeTown, "/towns/real")
	if want := "1m30s ago; backing off after 6 failures with HTTP 500, next attempt <span title=\"" + next.UTC().Format(time.RFC3339) + "\">in 4m0s</span>"; !strings.Contains(page, want) {
		t.Errorf("town page lacks %q:\n%s", want, page[strings.Index(page, "Dry run"):][:400])
	}
	_, body, _ = get(t, p.ServeTown, "/towns/calm?format=json")
	if err := json.Unmarshal([]byte(body), &town); err != nil || town.DryRunBackoff != nil {
		t.Errorf("calm: dry_run_backoff %+v after one failure (%v)", town.DryRunBackoff, err)
	}
}

// Package rules turns tickwatch's thresholds into the Prometheus alerting
// rules of SPEC section 6, their promtool unit tests, and the Alertmanager
// routing that pages on them. One source of thresholds feeds the dashboard
// and these rules, so the two never disagree.
package rules

import (
	"time"

	"github.com/prometheus/common/model"
)

// GroupName is the rule group every tickwatch alert lives in.
const GroupName = "tickwatch"

// DefaultRunbookURL is where runbook_url annotations point unless told otherwise.
const DefaultRunbookURL = "https://github.com/tickwatch/tickwatch/blob/main/docs/runbook.md"

// Severities routed by the Alertmanager config.
const (
	SeverityPage    = "page"
	SeverityWarning = "warning"
)

// Options tune the generated rules without changing what they mean.
type Options struct {
	// Job is the scrape job of tickwatch itself; "" means "tickwatch".
	Job string
	// RunbookURL is the runbook document; each alert links to its anchor.
	RunbookURL string
	// TimeScale multiplies every for and keep_firing_for; 0 means 1. It lets
	// an end-to-end test run the real rules in seconds instead of minutes.
	TimeScale float64
}

func (o Options) job() string {
	if o.Job == "" {
		return "tickwatch"
	}
	return o.Job
}

func (o Options) runbook(alert string) string {
	base := o.RunbookURL
	if base == "" {
		base = DefaultRunbookURL
	}
	return base + "#" + anchor(alert)
}

// scale shortens a duration by TimeScale, never below one second so that a
// scaled rule still needs more than one evaluation to fire.
func (o Options) scale(d time.Duration) model.Duration {
	if d == 0 || o.TimeScale == 0 || o.TimeScale == 1 {
		return model.Duration(d)
	}
	s := time.Duration(float64(d) * o.TimeScale).Round(time.Second)
	if s < time.Second {
		s = time.Second
	}
	return model.Duration(s)
}

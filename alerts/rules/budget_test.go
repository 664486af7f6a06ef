package rules_test

import (
	"testing"

	"github.com/tickwatch/tickwatch/alerts/rules"
	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/internal/seriesneeds"
)

// TestRulesReadDefaultSeries holds the alert rules to the series budget:
// every metric a rule reads is served by a sidecar with the default
// metrics settings, so no alert goes blind because a setting is off. An
// `or` with a default series on one side (the queue depth: the dry run's
// view, or the last tick's) counts as served.
func TestRulesReadDefaultSeries(t *testing.T) {
	for _, r := range rules.Alerts(config.DefaultThresholds(), rules.Options{}) {
		settings, unknown, err := seriesneeds.Needs(r.Expr)
		if err != nil {
			t.Errorf("%s: %v", r.Alert, err)
			continue
		}
		if len(settings) > 0 || len(unknown) > 0 {
			t.Errorf("%s reads series a default sidecar does not serve: needs metrics.%v, unknown %v: %s", r.Alert, settings, unknown, r.Expr)
		}
	}
}

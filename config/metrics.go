package config

import (
	"reflect"
	"strings"
)

// Metrics turns on the optional groups of per-town series. Off, a town
// costs what the dashboard and the alert rules read (the README's series
// budget); each group adds its series to every town.
type Metrics struct {
	AgentsByStatus       bool `yaml:"agents_by_status"`        // reconciler_agents{status}: 4 per town
	BeadsByStatus        bool `yaml:"beads_by_status"`         // reconciler_beads{status}: 5 per town
	SideEffectsByOutcome bool `yaml:"side_effects_by_outcome"` // reconciler_last_tick_side_effects{outcome}: 3 per town
	DryRunDetail         bool `yaml:"dry_run_detail"`          // queue depth, pending events, actions by type and duration of the dry run
	AlarmInterval        bool `yaml:"alarm_interval"`          // reconciler_alarm_interval_seconds
}

// MetricsGroups lists the keys of the metrics section, in the order the
// type declares them.
func MetricsGroups() []string {
	t := reflect.TypeOf(Metrics{})
	out := make([]string, t.NumField())
	for i := range out {
		out[i], _, _ = strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
	}
	return out
}

// Enabled says whether the group named by its key is on; an unknown key is
// off.
func (m Metrics) Enabled(group string) bool {
	v := reflect.ValueOf(m)
	for i, key := range MetricsGroups() {
		if key == group {
			return v.Field(i).Bool()
		}
	}
	return false
}

// EnabledGroups lists the keys of the groups that are on.
func (m Metrics) EnabledGroups() []string {
	var on []string
	for _, key := range MetricsGroups() {
		if m.Enabled(key) {
			on = append(on, key)
		}
	}
	return on
}

package config

import (
	"reflect"
	"slices"
	"testing"
)

// Each group key reads and switches its own field, and nothing else.
func TestMetricsGroups(t *testing.T) {
	groups := MetricsGroups()
	want := []string{"agents_by_status", "beads_by_status", "side_effects_by_outcome", "dry_run_detail", "alarm_interval"}
	if !slices.Equal(groups, want) {
		t.Fatalf("MetricsGroups() = %v, want %v", groups, want)
	}
	if on := Default().Metrics.EnabledGroups(); len(on) != 0 {
		t.Errorf("groups on by default: %v", on)
	}
	for i, g := range groups {
		var m Metrics
		reflect.ValueOf(&m).Elem().Field(i).SetBool(true)
		if on := m.EnabledGroups(); !slices.Equal(on, []string{g}) {
			t.Errorf("with only field %d set, EnabledGroups() = %v, want [%s]", i, on, g)
		}
		cfg, err := Parse([]byte("metrics:\n  "+g+": true\n"), "tickwatch.yml")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Metrics != m {
			t.Errorf("metrics.%s: true parsed as %+v", g, cfg.Metrics)
		}
	}
	if (Metrics{AgentsByStatus: true}).Enabled("agents") {
		t.Error("an unknown group reads as on")
	}
}

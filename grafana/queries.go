package grafana

import (
	"fmt"
	"strings"

	"github.com/tickwatch/tickwatch/config"
	"github.com/tickwatch/tickwatch/metricnames"
)

// Grafana variables the queries refer to. TownSelector is the label matcher
// every per-town query carries, so the `town` variable filters all of them.
const (
	VarDatasource = "datasource"
	VarTown       = config.TownVariable
	TownSelector  = `town=~"$town"`
	// RateInterval is Grafana's own window for rate(): at least four scrape intervals.
	RateInterval = "$__rate_interval"
	// TownAllValue is the regex Grafana substitutes when "All" towns are selected.
	TownAllValue = ".+"
)

// Query is one panel target as Grafana sends it to Prometheus.
type Query struct {
	Panel   string // the title of the panel that runs it
	RefID   string
	Expr    string
	Legend  string
	Instant bool
	// ExpectData says a sidecar watching a live fleet always serves series for
	// it with the default metrics settings; panels without it may rightly be
	// empty (no violation open, no Sentry, a metrics.* setting it needs off).
	ExpectData bool
	// Description is the panel's text; it names the metrics.* setting a
	// query needs, if any.
	Description string
}

// TownVariableQuery is the template query that lists the towns to pick from.
func TownVariableQuery() string {
	return fmt.Sprintf("label_values(%s, town)", metricnames.Up)
}

// perTown selects a mirrored metric for the towns chosen in the variable.
func perTown(metric string) string {
	return fmt.Sprintf("%s{%s}", metric, TownSelector)
}

// byTown is a per-town metric for the chosen towns, one series per town
// whichever replica (shard) watches it: max, so the one tick in which two
// replicas report a town that moves between them does not draw it twice.
func byTown(metric string) string {
	return fmt.Sprintf("max by (town) (%s)", perTown(metric))
}

// queueDepthByTown is each chosen town's backlog (metricnames.QueueDepthExpr),
// one series per town as byTown has it.
func queueDepthByTown() string {
	return "max by (town) " + metricnames.QueueDepthExpr(TownSelector)
}

// sumBy aggregates a per-town metric over the chosen towns, keeping label,
// counting each town once (see byTown).
func sumBy(label, metric string) string {
	return fmt.Sprintf("sum by (%[1]s) (max by (town, %[1]s) (%[2]s))", label, perTown(metric))
}

// rateBy is the per-second rate of a sidecar counter, by label.
func rateBy(label, metric string) string {
	return fmt.Sprintf("sum by (%s) (rate(%s[%s]))", label, metric, RateInterval)
}

// quantile is a latency quantile from one of the sidecar's histograms.
func quantile(q float64, histogram string) string {
	return fmt.Sprintf("histogram_quantile(%g, sum by (le) (rate(%s_bucket[%s])))", q, histogram, RateInterval)
}

// Expand substitutes the dashboard variables the way Grafana does before it
// sends a query to Prometheus: town is the regex of the chosen towns
// (TownAllValue for "All") and rateInterval a PromQL duration such as "1m".
func (q Query) Expand(town, rateInterval string) string {
	return strings.NewReplacer("$"+VarTown, town, RateInterval, rateInterval).Replace(q.Expr)
}

// Package seriesneeds tells what a PromQL expression of the dashboard or the
// alert rules needs from tickwatch: the metrics.* settings without which it
// returns nothing, and the names it selects that nothing serves. The tests
// of the dashboard and the rules hold every query to the series budget with
// it.
package seriesneeds

import (
	"slices"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/tickwatch/tickwatch/metricnames"
)

// prometheusOwn are the series Prometheus makes itself.
var prometheusOwn = []string{"up", "ALERTS", "ALERTS_FOR_STATE"}

// Needs returns the metrics.* settings expr needs to return anything
// (sorted; none when the default series serve it) and the metric names it
// selects that neither tickwatch nor Prometheus serves. One side of an
// `or` serving by default is enough; absent() needs nothing.
func Needs(expr string) (settings, unknown []string, err error) {
	ast, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, nil, err
	}
	parser.Inspect(ast, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && !known(vs.Name) {
			unknown = append(unknown, vs.Name)
		}
		return nil
	})
	settings = needs(ast)
	slices.Sort(settings)
	return slices.Compact(settings), unknown, nil
}

// Family is the family a series name belongs to: a histogram's _bucket,
// _sum and _count series belong to the histogram.
func Family(series string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(series, suffix); ok && slices.Contains(metricnames.All(), base) {
			return base
		}
	}
	return series
}

func known(series string) bool {
	return slices.Contains(metricnames.All(), Family(series)) || slices.Contains(prometheusOwn, series)
}

func needs(n parser.Node) []string {
	switch n := n.(type) {
	case *parser.VectorSelector:
		if s := metricnames.Setting(Family(n.Name)); s != "" {
			return []string{s}
		}
		return nil
	case *parser.BinaryExpr:
		l, r := needs(n.LHS), needs(n.RHS)
		switch n.Op {
		case parser.LOR:
			if len(l) == 0 || len(r) == 0 {
				return nil
			}
		case parser.LUNLESS:
			return l
		}
		return append(l, r...)
	case *parser.Call:
		if n.Func.Name == "absent" || n.Func.Name == "absent_over_time" {
			return nil
		}
	}
	var out []string
	for _, child := range parser.Children(n) {
		out = append(out, needs(child)...)
	}
	return out
}

package rules

import (
	"fmt"

	"github.com/tickwatch/tickwatch/config"
)

// Output formats of `tickwatch rules`.
const (
	FormatPrometheus = "prometheus"
	FormatOperator   = "operator"
)

// OperatorPlainFileName is the plain rule file written next to the
// PrometheusRule in operator format, so promtool can still test the rules.
const OperatorPlainFileName = "tickwatch-rules.prometheus.yml"

// File is one generated file.
type File struct {
	Name string
	Data []byte
}

// Files returns what `tickwatch rules --out DIR` writes: the rules first, then
// their promtool unit tests. In operator format the rules are a
// PrometheusRule, and the tests run against a plain copy of the same group.
func Files(th config.Thresholds, o Options, format string) ([]File, error) {
	plain, err := GenerateWith(th, o)
	if err != nil {
		return nil, err
	}
	switch format {
	case FormatPrometheus:
		tests, err := unitTests(th, o, RuleFileName)
		if err != nil {
			return nil, err
		}
		return []File{{RuleFileName, plain}, {TestFileName, tests}}, nil
	case FormatOperator:
		res, err := GenerateOperatorWith(th, o)
		if err != nil {
			return nil, err
		}
		tests, err := unitTests(th, o, OperatorPlainFileName)
		if err != nil {
			return nil, err
		}
		return []File{{RuleFileName, res}, {TestFileName, tests}, {OperatorPlainFileName, plain}}, nil
	}
	return nil, fmt.Errorf("unknown rules format %q (want %s or %s)", format, FormatPrometheus, FormatOperator)
}

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tickwatch/tickwatch/internal/promtest"
	"github.com/tickwatch/tickwatch/metricnames"
	"github.com/tickwatch/tickwatch/simtown"
)

// embeddedTowns is how many towns `tickwatch run` watches when it has no
// config and no target.
const embeddedTowns = 20

// TestRunWithoutConfigWatchesEmbeddedFleet runs `tickwatch` with nothing but a
// free listen address, in an empty working directory (its ./data state lands
// there), and reads /metrics until every town of the embedded fleet is up.
func TestRunWithoutConfigWatchesEmbeddedFleet(t *testing.T) {
	start := time.Now()
	p := promtest.StartIn(t, t.TempDir(), promtest.Tickwatch(t), "--web.listen-address=127.0.0.1:0", "--log.format=logfmt")
	addr := p.WaitOutput(t, regexp.MustCompile(`msg="Listening on" address=(\S+)`), 30*time.Second)[1]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var want []string
	for i := 1; i <= embeddedTowns; i++ {
		want = append(want, simtown.TownID(i, embeddedTowns))
	}
	promtest.Eventually(t, 30*time.Second, fmt.Sprintf("%s 1 for %d towns", metricnames.Up, embeddedTowns), func() error {
		up, err := scrapeGauge(ctx, "http://"+addr+"/metrics", metricnames.Up, "town")
		if err != nil {
			return err
		}
		var towns []string
		for town, v := range up {
			if v != 1 {
				return fmt.Errorf("%s{town=%q} = %g", metricnames.Up, town, v)
			}
			towns = append(towns, town)
		}
		slices.Sort(towns)
		if !slices.Equal(towns, want) {
			return fmt.Errorf("towns up %v, want %v", towns, want)
		}
		return nil
	})
	t.Logf("%d towns up %s after start", embeddedTowns, time.Since(start).Round(time.Millisecond))
	if err := p.Stop(t); err != nil {
		t.Errorf("SIGTERM: %v, want exit 0\n%s", err, p.Output())
	}
}

// scrapeGauge reads one gauge family from a text exposition, by the value of
// label.
func scrapeGauge(ctx context.Context, url, metric, label string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", url, err)
	}
	fam, ok := families[metric]
	if !ok {
		return nil, fmt.Errorf("%s serves no %s yet", url, metric)
	}
	out := map[string]float64{}
	for _, m := range fam.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] = m.GetGauge().GetValue()
			}
		}
	}
	return out, nil
}

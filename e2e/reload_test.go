package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/internal/promtest"
	"github.com/tickwatch/tickwatch/metricnames"
	"github.com/tickwatch/tickwatch/simtown"
)

// TestSIGHUPReload rewrites the config of a running `tickwatch run` and sends
// SIGHUP: a bad config is rejected and the old one keeps running; a good one
// changes the watched towns.
func TestSIGHUPReload(t *testing.T) {
	sim := promtest.StartSimtown(t, "--towns=3", "--speed=10")
	town := func(i int) string { return simtown.TownID(i, 3) }
	config := func(towns ...string) string {
		return fmt.Sprintf("target:\n  url: %s\n  towns: [%s]\n  timeout: 400ms\npoll:\n  interval: 500ms\ndedupe:\n  state_dir: data\n",
			sim.URL, strings.Join(towns, ", "))
	}
	tw := promtest.StartTickwatchRun(t, config(town(1), town(2)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	upTowns := func(want ...string) func() error {
		return func() error {
			up, err := scrapeGauge(ctx, tw.URL+"/metrics", metricnames.Up, "town")
			if err != nil {
				return err
			}
			var got []string
			for t, v := range up {
				if v == 1 {
					got = append(got, t)
				}
			}
			sort.Strings(got)
			if !slices.Equal(got, want) || len(up) != len(want) {
				return fmt.Errorf("towns up %v (of %d series), want %v", got, len(up), want)
			}
			return nil
		}
	}
	promtest.Eventually(t, 20*time.Second, "the two configured towns up", upTowns(town(1), town(2)))

	reload := func(content string, logged *regexp.Regexp) {
		t.Helper()
		if err := os.WriteFile(tw.ConfigPath, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := tw.Proc.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		tw.Proc.WaitOutput(t, logged, 10*time.Second)
	}
	reload("poll:\n  intervall: 1s\n", regexp.MustCompile(`msg="reload rejected, keeping the running configuration" err="[^"]*tickwatch.yml:2: unknown key \\"intervall\\" in poll`))
	if err := upTowns(town(1), town(2))(); err != nil {
		t.Errorf("after a rejected reload: %v", err)
	}

	reload(config(town(1), town(2), town(3)), regexp.MustCompile(`msg="configuration reloaded"`))
	promtest.Eventually(t, 20*time.Second, "three towns up after the reload", upTowns(town(1), town(2), town(3)))
	if err := tw.Proc.Stop(t); err != nil {
		t.Errorf("SIGTERM: %v, want exit 0", err)
	}
}

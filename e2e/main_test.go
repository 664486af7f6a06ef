// Package e2e holds end-to-end tests: the tickwatch binary against simtown,
// scraped by a real Prometheus that routes alerts through a real
// Alertmanager to local receivers.
package e2e

import (
	"os"
	"testing"

	"github.com/tickwatch/tickwatch/internal/promtest"
)

func TestMain(m *testing.M) { os.Exit(promtest.Main(m)) }

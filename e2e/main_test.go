// Package e2e holds end-to-end tests: the tickwatch binary against simtown,
// scraped by a real Prometheus that routes alerts through a real
// Alertmanager to local receivers.
package e2e

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/tickwatch/tickwatch/internal/promtest"
)

func TestMain(m *testing.M) { os.Exit(promtest.Main(m)) }

// httpClient bounds each request the tests make themselves, so a server that
// accepts a connection and never answers fails the wait around it.
var httpClient = &http.Client{Timeout: 10 * time.Second}

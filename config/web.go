package config

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// DashboardUID is the uid of the Grafana dashboard tickwatch generates, and
// TownVariable the name of its town variable: links to the dashboard are
// built from web.grafana_url with both.
const (
	DashboardUID = "tickwatch-reconciler"
	TownVariable = "town"
)

// TownPageURL links to a town's page on tickwatch, or "" without
// web.external_url.
func (w Web) TownPageURL(town string) string {
	if w.ExternalURL == "" {
		return ""
	}
	return strings.TrimRight(w.ExternalURL, "/") + "/towns/" + url.PathEscape(town)
}

// DashboardURL links to the dashboard with the town selected and the time
// range [from, to], or "" without web.grafana_url.
func (w Web) DashboardURL(town string, from, to time.Time) string {
	if w.GrafanaURL == "" {
		return ""
	}
	q := url.Values{}
	q.Set("var-"+TownVariable, town)
	q.Set("from", strconv.FormatInt(from.UnixMilli(), 10))
	q.Set("to", strconv.FormatInt(to.UnixMilli(), 10))
	return strings.TrimRight(w.GrafanaURL, "/") + "/d/" + DashboardUID + "?" + q.Encode()
}

// ReadTokenFile reads a token file (sentry.auth_token_file): the file's
// content without surrounding white space. Errors name the file, never what
// it holds.
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	if strings.ContainsAny(tok, " \t\r\n") {
		return "", fmt.Errorf("%s holds more than one word; write the token alone", path)
	}
	return tok, nil
}

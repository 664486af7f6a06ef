package statuspage

import (
	"net/url"
	"strings"

	"github.com/tickwatch/tickwatch/config"
)

// links are the outside places a town page points to, derived from the
// config. The DSN's key never leaves linksFrom.
type links struct {
	grafana string // base URL, no trailing slash; "" when not configured
	sentry  string // the issue search of the DSN's project, without the query; ""
}

func linksFrom(cfg *config.Config) links {
	return links{
		grafana: strings.TrimRight(cfg.Web.GrafanaURL, "/"),
		sentry:  sentryIssues(string(cfg.Sentry.DSN)),
	}
}

// sentryIssues is the issue search of a DSN's project: the DSN's scheme,
// host (sentry.io's web host for its ingest hosts) and path prefix, and the
// project id from its last path segment. "" for no or a malformed DSN.
func sentryIssues(dsn string) string {
	u, err := url.Parse(dsn)
	if dsn == "" || err != nil || u.Host == "" {
		return ""
	}
	i := strings.LastIndex(u.Path, "/")
	if i < 0 || i == len(u.Path)-1 {
		return ""
	}
	prefix, project := u.Path[:i], u.Path[i+1:]
	host := u.Host
	if h := u.Hostname(); strings.HasSuffix(h, ".sentry.io") && strings.Contains(h, ".ingest.") {
		host = "sentry.io"
	}
	v := url.Values{"project": {project}}
	return (&url.URL{Scheme: u.Scheme, Host: host, Path: prefix + "/issues/", RawQuery: v.Encode()}).String()
}

func (l links) town(town string) TownLinks {
	out := TownLinks{Page: TownPath(town), JSON: TownJSONPath(town)}
	if l.grafana != "" {
		out.Grafana = l.grafana + "/d/" + config.DashboardUID + "/?" + url.Values{"var-town": {town}}.Encode()
	}
	if l.sentry != "" {
		out.Sentry = l.sentry + "&" + url.Values{"query": {`town:"` + town + `"`}}.Encode()
	}
	return out
}

// TownPath is the page of a town. An id is one path segment, escaped; the
// ids "." and ".." (and "") cannot be, since browsers and the mux resolve
// them as dot segments even escaped, so they go in the query.
func TownPath(town string) string {
	if town == "" || town == "." || town == ".." {
		return "/towns/?" + url.Values{"id": {town}}.Encode()
	}
	return "/towns/" + url.PathEscape(town)
}

// TownJSONPath is the JSON of a town.
func TownJSONPath(town string) string {
	p := TownPath(town)
	if strings.Contains(p, "?") {
		return p + "&format=json"
	}
	return p + "?format=json"
}

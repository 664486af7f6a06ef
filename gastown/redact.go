package gastown

import (
	"encoding/base64"
	"net/url"
	"os"
	"sort"
	"strings"

	commoncfg "github.com/prometheus/common/config"
)

// secretsOf lists what the client sends that must never be shown: the
// credentials of http_client (inline, or read from their files now), the
// Basic credentials as they travel (base64), and a password in the URL. A
// proxy or worker that echoes a request into its error page would otherwise
// put them on the status page and in the logs.
func secretsOf(hc commoncfg.HTTPClientConfig, rawURL string) []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	file := func(path string) string {
		if path == "" {
			return ""
		}
		b, _ := os.ReadFile(path) // unreadable: the client's own error says so
		return string(b)
	}
	if b := hc.BasicAuth; b != nil {
		user, pass := b.Username, string(b.Password)
		if b.UsernameFile != "" {
			user = strings.TrimSpace(file(b.UsernameFile))
		}
		if b.PasswordFile != "" {
			pass = strings.TrimSpace(file(b.PasswordFile))
		}
		add(pass)
		if pass != "" {
			add(base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)))
		}
	}
	if a := hc.Authorization; a != nil {
		add(string(a.Credentials))
		add(file(a.CredentialsFile))
	}
	if o := hc.OAuth2; o != nil {
		add(string(o.ClientSecret))
		add(file(o.ClientSecretFile))
	}
	add(string(hc.BearerToken))
	add(file(hc.BearerTokenFile))
	if hs := hc.HTTPHeaders; hs != nil {
		for _, h := range hs.Headers {
			for _, s := range h.Secrets {
				add(string(s))
			}
			for _, f := range h.Files {
				add(file(f))
			}
		}
	}
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			add(p)
			add(base64.StdEncoding.EncodeToString([]byte(u.User.Username() + ":" + p)))
		}
	}
	// Longest first, so a secret that contains another is hidden whole.
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// redact hides every secret in s.
func redact(s string, secrets []string) string {
	for _, x := range secrets {
		s = strings.ReplaceAll(s, x, "<secret>")
	}
	return s
}

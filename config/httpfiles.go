package config

import (
	"fmt"
	"maps"
	"slices"

	commoncfg "github.com/prometheus/common/config"
)

// File is a file a setting names: its key in the config and its path.
type File struct{ Key, Path string }

// HTTPClientFiles lists the files target.http_client names (credentials,
// TLS material, header values), in a fixed order. prometheus/common reads
// most of them only when a request is made: a missing one would fail every
// poll, so check-config reads them all.
func HTTPClientFiles(hc commoncfg.HTTPClientConfig) []File {
	var out []File
	add := func(key, path string) {
		if path != "" {
			out = append(out, File{"target.http_client." + key, path})
		}
	}
	tls := func(prefix string, t commoncfg.TLSConfig) {
		add(prefix+"ca_file", t.CAFile)
		add(prefix+"cert_file", t.CertFile)
		add(prefix+"key_file", t.KeyFile)
	}
	if b := hc.BasicAuth; b != nil {
		add("basic_auth.username_file", b.UsernameFile)
		add("basic_auth.password_file", b.PasswordFile)
	}
	if a := hc.Authorization; a != nil {
		add("authorization.credentials_file", a.CredentialsFile)
	}
	add("bearer_token_file", hc.BearerTokenFile)
	if o := hc.OAuth2; o != nil {
		add("oauth2.client_secret_file", o.ClientSecretFile)
		add("oauth2.client_certificate_key_file", o.ClientCertificateKeyFile)
		tls("oauth2.tls_config.", o.TLSConfig)
	}
	tls("tls_config.", hc.TLSConfig)
	if hs := hc.HTTPHeaders; hs != nil {
		for _, name := range slices.Sorted(maps.Keys(hs.Headers)) {
			for i, f := range hs.Headers[name].Files {
				add(fmt.Sprintf("http_headers.%s.files[%d]", name, i), f)
			}
		}
	}
	return out
}
